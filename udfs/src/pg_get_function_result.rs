//! `pg_get_function_result(oid) -> text`: a function's result type as its
//! signature prints it (`integer`, `SETOF record`, `TABLE(word text, ...)`).
//! pgjdbc's getFunctions asks for it to tell table functions apart. Answers
//! from `pg_catalog.pg_proc`, read once at start; an unknown oid gives NULL.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Int64Type};
use datafusion::error::Result;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

use crate::TypeOids;

/// Function oid -> result text.
#[derive(Debug, Default)]
pub struct FunctionResults(HashMap<i64, String>);

/// `['a', 'b']` / `{a,b}` (how pg_proc's array columns read here) as items.
fn items(text: &str) -> Vec<String> {
    text.trim_matches(|c| matches!(c, '[' | ']' | '{' | '}'))
        .split(',')
        .map(|s| s.trim().trim_matches(|c| c == '\'' || c == '"').to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

impl FunctionResults {
    /// From `SELECT oid, prorettype, proretset, proargmodes, proallargtypes,
    /// proargnames FROM pg_catalog.pg_proc`, with all columns cast to text.
    pub fn from_pg_proc(batches: &[RecordBatch], types: &TypeOids) -> Result<Self> {
        let mut results = HashMap::new();
        for batch in batches {
            let column = |i: usize| -> Result<StringArray> {
                let text = datafusion::arrow::compute::cast(batch.column(i), &DataType::Utf8)?;
                Ok(text.as_string::<i32>().clone())
            };
            let (oid, rettype, retset) = (column(0)?, column(1)?, column(2)?);
            let (modes, argtypes, names) = (column(3)?, column(4)?, column(5)?);
            for row in 0..batch.num_rows() {
                let (Ok(oid), Ok(rettype)) = (
                    oid.value(row).parse::<i64>(),
                    rettype.value(row).parse::<i32>(),
                ) else {
                    continue;
                };
                let modes = if modes.is_null(row) {
                    Vec::new()
                } else {
                    items(modes.value(row))
                };
                let text = if modes.iter().any(|m| m == "t") {
                    let argtypes = items(argtypes.value(row));
                    let names = items(names.value(row));
                    let columns: Vec<String> = modes
                        .iter()
                        .enumerate()
                        .filter(|(_, m)| *m == "t")
                        .map(|(i, _)| {
                            let ty = argtypes
                                .get(i)
                                .and_then(|t| t.parse::<i32>().ok())
                                .and_then(|t| types.sql_name(t))
                                .unwrap_or_default();
                            format!("{} {ty}", names.get(i).cloned().unwrap_or_default())
                        })
                        .collect();
                    format!("TABLE({})", columns.join(", "))
                } else {
                    let name = types
                        .sql_name(rettype)
                        .unwrap_or_else(|| rettype.to_string());
                    let setof = matches!(retset.value(row), "true" | "t");
                    format!("{}{name}", if setof { "SETOF " } else { "" })
                };
                results.insert(oid, text);
            }
        }
        Ok(FunctionResults(results))
    }
}

#[derive(Debug)]
pub struct PgGetFunctionResult {
    signature: Signature,
    results: Arc<FunctionResults>,
}

impl PartialEq for PgGetFunctionResult {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}
impl Eq for PgGetFunctionResult {}
impl std::hash::Hash for PgGetFunctionResult {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        "pg_get_function_result".hash(state)
    }
}

pub fn pg_get_function_result(results: Arc<FunctionResults>) -> ScalarUDF {
    ScalarUDF::new_from_impl(PgGetFunctionResult {
        signature: Signature::user_defined(Volatility::Stable),
        results,
    })
}

impl ScalarUDFImpl for PgGetFunctionResult {
    fn name(&self) -> &str {
        "pg_get_function_result"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        if arg_types.len() != 1 {
            return datafusion::common::plan_err!(
                "function pg_get_function_result takes one oid, not {} arguments",
                arg_types.len()
            );
        }
        Ok(vec![DataType::Int64])
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let oids = args.args[0].to_array(args.number_rows)?;
        let oids = oids.as_primitive::<Int64Type>();
        let out: StringArray = oids
            .iter()
            .map(|oid| oid.and_then(|o| self.results.0.get(&o).cloned()))
            .collect();
        Ok(ColumnarValue::Array(Arc::new(out)))
    }
}
