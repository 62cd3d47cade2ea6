//! `to_timestamp(text, template) -> timestamptz` with PostgreSQL's template
//! patterns (`to_timestamp('04/03/2025 15:07', 'DD/MM/YYYY HH24:MI')`),
//! read in UTC, the sessions' time zone; text that does not match is
//! `22007`. Other forms (`to_timestamp(epoch)`, one text argument, chrono
//! formats after a numeric first argument) are DataFusion's `to_timestamp`.

use std::sync::Arc;

use datafusion::arrow::array::TimestampMicrosecondArray;
use datafusion::arrow::datatypes::{DataType, TimeUnit};
use datafusion::error::Result;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

use crate::datetime_template::parse_rows;

#[derive(Debug)]
pub struct ToTimestamp {
    signature: Signature,
    /// DataFusion's `to_timestamp`, for the other forms.
    builtin: Arc<ScalarUDF>,
}

same_function_identity!(ToTimestamp, "to_timestamp");

pub fn to_timestamp(builtin: Arc<ScalarUDF>) -> ScalarUDF {
    ScalarUDF::new_from_impl(ToTimestamp {
        signature: Signature::variadic_any(Volatility::Immutable),
        builtin,
    })
}

fn is_text(data_type: &DataType) -> bool {
    matches!(
        data_type,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
    )
}

/// `to_timestamp(text, text)`: PostgreSQL's form.
fn is_template_form(arg_types: &[DataType]) -> bool {
    matches!(arg_types, [a, b] if is_text(a) && is_text(b))
}

impl ScalarUDFImpl for ToTimestamp {
    fn name(&self) -> &str {
        "to_timestamp"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        if is_template_form(arg_types) {
            return Ok(arg_types.to_vec());
        }
        self.builtin.coerce_types(arg_types)
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        if is_template_form(arg_types) {
            return Ok(DataType::Timestamp(
                TimeUnit::Microsecond,
                Some(Arc::from("UTC")),
            ));
        }
        self.builtin.return_type(arg_types)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let types: Vec<DataType> = args.args.iter().map(|a| a.data_type()).collect();
        if !is_template_form(&types) {
            return self.builtin.invoke_with_args(args);
        }
        let rows = args.number_rows;
        let parsed = parse_rows(&args.args[0].to_array(rows)?, &args.args[1].to_array(rows)?)?;
        let out: Vec<Option<i64>> = parsed
            .into_iter()
            .map(|at| at.map(|at| at.and_utc().timestamp_micros()))
            .collect();
        Ok(ColumnarValue::Array(Arc::new(
            TimestampMicrosecondArray::from(out).with_timezone("UTC"),
        )))
    }
}
