//! `to_date(text, template) -> date` with PostgreSQL's template patterns
//! (`to_date('04/03/2025', 'DD/MM/YYYY')`); fields the template lacks
//! default to January and day 1, as in PostgreSQL. Text that does not match
//! is `22007` naming the text and the template. With one argument it is
//! DataFusion's `to_date` (ISO text).

use std::sync::Arc;

use datafusion::arrow::array::Date32Array;
use datafusion::arrow::datatypes::DataType;
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

use crate::datetime_template::parse_rows;

#[derive(Debug)]
pub struct ToDate {
    signature: Signature,
    /// DataFusion's `to_date`, for the one-argument form.
    builtin: Arc<ScalarUDF>,
}

same_function_identity!(ToDate, "to_date");

pub fn to_date(builtin: Arc<ScalarUDF>) -> ScalarUDF {
    ScalarUDF::new_from_impl(ToDate {
        signature: Signature::variadic_any(Volatility::Immutable),
        builtin,
    })
}

impl ScalarUDFImpl for ToDate {
    fn name(&self) -> &str {
        "to_date"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        match arg_types.len() {
            1 => self.builtin.return_type(arg_types),
            2 => Ok(DataType::Date32),
            n => Err(DataFusionError::Plan(format!(
                "to_date takes text and a template, not {n} arguments"
            ))),
        }
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        if args.args.len() == 1 {
            return self.builtin.invoke_with_args(args);
        }
        let rows = args.number_rows;
        let parsed = parse_rows(&args.args[0].to_array(rows)?, &args.args[1].to_array(rows)?)?;
        let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default();
        let out: Vec<Option<i32>> = parsed
            .into_iter()
            .map(|at| at.map(|at| (at.date() - epoch).num_days() as i32))
            .collect();
        Ok(ColumnarValue::Array(Arc::new(Date32Array::from(out))))
    }
}
