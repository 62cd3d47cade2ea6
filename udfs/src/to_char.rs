//! `to_char(date | timestamp | timestamptz, template) -> text`, with
//! PostgreSQL's template patterns (`to_char(DATE '2025-03-04', 'YYYY-MM')`
//! is `2025-03`; DataFusion's own `to_char` takes chrono's `%Y-%m` and
//! printed the template back). Sessions run in UTC, so a `timestamptz` is
//! formatted in UTC and `TZ` prints `UTC`. Numbers are not formatted yet
//! (`0A000`).

use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray, StringArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, TimeUnit, TimestampMicrosecondType};
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

use crate::args::text_column;
use crate::datetime_template::{format, parse_template};

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct ToChar {
    signature: Signature,
}

pub fn to_char() -> ScalarUDF {
    ScalarUDF::new_from_impl(ToChar {
        signature: Signature::any(2, Volatility::Immutable),
    })
}

impl ScalarUDFImpl for ToChar {
    fn name(&self) -> &str {
        "to_char"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        match arg_types.first() {
            Some(
                DataType::Date32 | DataType::Date64 | DataType::Timestamp(..) | DataType::Null,
            ) => Ok(DataType::Utf8),
            Some(other) => Err(DataFusionError::NotImplemented(format!(
                "to_char of {other} (only dates and timestamps are formatted)"
            ))),
            None => Err(DataFusionError::Plan("to_char takes two arguments".into())),
        }
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let values = args.args[0].to_array(rows)?;
        let zone = match values.data_type() {
            DataType::Timestamp(_, Some(_)) => Some("UTC"),
            _ => None,
        };
        // Microseconds since the epoch, UTC for timestamptz.
        let micros = cast(
            &values,
            &DataType::Timestamp(TimeUnit::Microsecond, zone.map(|_| Arc::from("UTC"))),
        )?;
        let micros = micros.as_primitive::<TimestampMicrosecondType>();
        let templates = text_column(&args.args[1], rows)?;
        let templates = templates.as_string::<i32>();
        let mut parsed: Option<(String, Vec<_>)> = None;
        let out: StringArray = (0..rows)
            .map(|row| {
                if micros.is_null(row) || templates.is_null(row) {
                    return None;
                }
                let template = templates.value(row);
                if parsed.as_ref().is_none_or(|(t, _)| t != template) {
                    parsed = Some((template.to_string(), parse_template(template)));
                }
                let at = chrono::DateTime::from_timestamp_micros(micros.value(row))?.naive_utc();
                parsed.as_ref().map(|(_, pieces)| format(pieces, &at, zone))
            })
            .collect();
        Ok(ColumnarValue::Array(Arc::new(out)))
    }
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::array::AsArray;
    use datafusion::prelude::SessionContext;

    #[tokio::test]
    async fn replaces_the_chrono_to_char() {
        let ctx = SessionContext::new();
        crate::use_postgres_datetime_templates(&ctx);
        let batches = ctx
            .sql("SELECT to_char(DATE '2025-03-04', 'YYYY-MM') AS t")
            .await
            .expect("plan")
            .collect()
            .await
            .expect("run");
        assert_eq!(batches[0].column(0).as_string::<i32>().value(0), "2025-03");
    }
}
