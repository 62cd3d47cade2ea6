//! `in_array(values, x) -> boolean`: `x IN (subquery)` with SQL's NULL rules,
//! over the subquery's values gathered by `array_agg`. DataFusion plans IN
//! subqueries only in filters and joins, so the SQL pre-pass rewrites one in a
//! select list or ORDER BY key (psql's and pgcli's catalog queries, Grafana's
//! CASE) to `in_array((SELECT array_agg(v) FROM (subquery)), x)`:
//! no values -> false; `x` NULL -> NULL; a value equal to `x` -> true; else
//! NULL if a value is NULL, false otherwise. `NOT in_array(...)` is NOT IN.

use datafusion::arrow::array::{Array, AsArray, BooleanArray, Datum, Scalar};
use datafusion::arrow::compute::cast;
use datafusion::arrow::compute::kernels::cmp::eq;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::exec_err;
use datafusion::error::Result;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct InArray {
    signature: Signature,
}

pub fn in_array() -> ScalarUDF {
    ScalarUDF::new_from_impl(InArray {
        signature: Signature::any(2, Volatility::Immutable),
    })
}

impl ScalarUDFImpl for InArray {
    fn name(&self) -> &str {
        "in_array"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Boolean)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let lists = args.args[0].to_array(rows)?;
        let DataType::List(element) = lists.data_type() else {
            if lists.data_type() == &DataType::Null {
                // No rows at all: the subquery's array_agg is an untyped NULL.
                return Ok(ColumnarValue::Array(std::sync::Arc::new(
                    BooleanArray::from(vec![false; rows]),
                )));
            }
            return exec_err!("in_array expects a list, got {}", lists.data_type());
        };
        let lists = lists.as_list::<i32>();
        let needles = cast(&args.args[1].to_array(rows)?, element.data_type())?;
        let out: BooleanArray = (0..rows)
            .map(|row| -> Result<Option<bool>> {
                if lists.is_null(row) || lists.value_length(row) == 0 {
                    return Ok(Some(false));
                }
                if needles.is_null(row) {
                    return Ok(None);
                }
                let values = lists.value(row);
                let needle = Scalar::new(needles.slice(row, 1));
                let equal = eq(&values, &needle as &dyn Datum)?;
                Ok(if equal.true_count() > 0 {
                    Some(true)
                } else if values.null_count() > 0 {
                    None
                } else {
                    Some(false)
                })
            })
            .collect::<Result<_>>()?;
        Ok(ColumnarValue::Array(std::sync::Arc::new(out)))
    }
}
