//! `pg_get_function_result(oid)` and `pg_get_function_arguments(oid)` -> text:
//! a function's result type and argument list as its signature prints them
//! (`SETOF record`, `TABLE(word text, ...)`; `integer, text`, `OUT word text`).
//! pgjdbc's getFunctions and psql's `\df` ask for them. Answers from
//! `pg_catalog.pg_proc`, read once at start; an unknown oid gives NULL.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Int64Type};
use datafusion::error::Result;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

use crate::TypeOids;

/// Function oid -> (result text, arguments text).
#[derive(Debug, Default)]
pub struct FunctionSignatures(HashMap<i64, (String, String)>);

/// `['a', 'b']` / `{a,b}` (how pg_proc's array columns read here) as items.
fn items(text: &str) -> Vec<String> {
    text.trim_matches(|c| matches!(c, '[' | ']' | '{' | '}'))
        .split(',')
        .map(|s| s.trim().trim_matches(|c| c == '\'' || c == '"').to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

impl FunctionSignatures {
    /// From `SELECT oid, prorettype, proretset, proargmodes, proallargtypes,
    /// proargnames, proargtypes FROM pg_catalog.pg_proc`, any column types.
    pub fn from_pg_proc(batches: &[RecordBatch], types: &TypeOids) -> Result<Self> {
        let mut results = HashMap::new();
        for batch in batches {
            let column = |i: usize| -> Result<StringArray> {
                let text = datafusion::arrow::compute::cast(batch.column(i), &DataType::Utf8)?;
                Ok(text.as_string::<i32>().clone())
            };
            let (oid, rettype, retset) = (column(0)?, column(1)?, column(2)?);
            let (modes, argtypes, names) = (column(3)?, column(4)?, column(5)?);
            let in_types = column(6)?;
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
                let names = if names.is_null(row) {
                    Vec::new()
                } else {
                    items(names.value(row))
                };
                let all_types = if argtypes.is_null(row) {
                    Vec::new()
                } else {
                    items(argtypes.value(row))
                };
                let type_name = |oid: Option<&String>| {
                    oid.and_then(|t| t.parse::<i32>().ok())
                        .and_then(|t| types.sql_name(t))
                        .unwrap_or_default()
                };
                let arguments = if modes.is_empty() {
                    let in_types: Vec<String> = if in_types.is_null(row) {
                        Vec::new()
                    } else {
                        in_types
                            .value(row)
                            .split_whitespace()
                            .map(str::to_string)
                            .collect()
                    };
                    in_types
                        .iter()
                        .enumerate()
                        .map(|(i, t)| match names.get(i).filter(|n| !n.is_empty()) {
                            Some(name) => format!("{name} {}", type_name(Some(t))),
                            None => type_name(Some(t)),
                        })
                        .collect::<Vec<_>>()
                        .join(", ")
                } else {
                    modes
                        .iter()
                        .enumerate()
                        .filter(|(_, m)| *m != "t")
                        .map(|(i, m)| {
                            let mode = match m.as_str() {
                                "o" => "OUT ",
                                "b" => "INOUT ",
                                "v" => "VARIADIC ",
                                _ => "",
                            };
                            let ty = type_name(all_types.get(i));
                            match names.get(i).filter(|n| !n.is_empty()) {
                                Some(name) => format!("{mode}{name} {ty}"),
                                None => format!("{mode}{ty}"),
                            }
                        })
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                let text = if modes.iter().any(|m| m == "t") {
                    let columns: Vec<String> = modes
                        .iter()
                        .enumerate()
                        .filter(|(_, m)| *m == "t")
                        .map(|(i, _)| {
                            let ty = type_name(all_types.get(i));
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
                results.insert(oid, (text, arguments));
            }
        }
        Ok(FunctionSignatures(results))
    }
}

#[derive(Debug)]
pub struct PgGetFunctionPart {
    name: &'static str,
    signature: Signature,
    signatures: Arc<FunctionSignatures>,
}

impl PartialEq for PgGetFunctionPart {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}
impl Eq for PgGetFunctionPart {}
impl std::hash::Hash for PgGetFunctionPart {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.name.hash(state)
    }
}

/// `pg_get_function_result` and `pg_get_function_arguments`.
pub fn function_signature_functions(signatures: &Arc<FunctionSignatures>) -> Vec<ScalarUDF> {
    ["pg_get_function_result", "pg_get_function_arguments"]
        .into_iter()
        .map(|name| {
            ScalarUDF::new_from_impl(PgGetFunctionPart {
                name,
                signature: Signature::user_defined(Volatility::Stable),
                signatures: signatures.clone(),
            })
        })
        .collect()
}

impl ScalarUDFImpl for PgGetFunctionPart {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        if arg_types.len() != 1 {
            return datafusion::common::plan_err!(
                "function {} takes one oid, not {} arguments",
                self.name,
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
            .map(|oid| {
                let (result, arguments) = self.signatures.0.get(&oid?)?;
                Some(if self.name == "pg_get_function_result" {
                    result.clone()
                } else {
                    arguments.clone()
                })
            })
            .collect();
        Ok(ColumnarValue::Array(Arc::new(out)))
    }
}
