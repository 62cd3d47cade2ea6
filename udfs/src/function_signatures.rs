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
    /// proargnames, proargtypes, proargdefaults FROM pg_catalog.pg_proc`,
    /// any column types. The defaults are printed for lakehouse's own
    /// functions, whose `proargdefaults` is a JSON list of SQL texts (a
    /// built-in's is a node tree, left out as before).
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
            let defaults = if batch.num_columns() > 7 {
                Some(column(7)?)
            } else {
                None
            };
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
                // The last in-arguments have the defaults.
                let defaults: Vec<String> = defaults
                    .as_ref()
                    .filter(|d| !d.is_null(row))
                    .and_then(|d| serde_json::from_str(d.value(row)).ok())
                    .unwrap_or_default();
                let with_default = |declared: String, input: usize, inputs: usize| {
                    let first_default = inputs.saturating_sub(defaults.len());
                    match input
                        .checked_sub(first_default)
                        .and_then(|d| defaults.get(d))
                    {
                        Some(default) => format!("{declared} DEFAULT {default}"),
                        None => declared,
                    }
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
                        .map(|(i, t)| {
                            let declared = match names.get(i).filter(|n| !n.is_empty()) {
                                Some(name) => format!("{name} {}", type_name(Some(t))),
                                None => type_name(Some(t)),
                            };
                            with_default(declared, i, in_types.len())
                        })
                        .collect::<Vec<_>>()
                        .join(", ")
                } else {
                    let inputs = modes.iter().filter(|m| *m != "t" && *m != "o").count();
                    let mut input = 0;
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
                            let declared = match names.get(i).filter(|n| !n.is_empty()) {
                                Some(name) => format!("{mode}{name} {ty}"),
                                None => format!("{mode}{ty}"),
                            };
                            if m == "o" {
                                return declared;
                            }
                            input += 1;
                            with_default(declared, input - 1, inputs)
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

/// `pg_get_function_result`, `pg_get_function_arguments` and
/// `pg_get_function_sqlbody` (psql's `\df+`): no function here has a
/// SQL-standard body, so the last is always NULL, as it is in PostgreSQL for
/// every built-in.
pub fn function_signature_functions(signatures: &Arc<FunctionSignatures>) -> Vec<ScalarUDF> {
    [
        "pg_get_function_result",
        "pg_get_function_arguments",
        "pg_get_function_sqlbody",
    ]
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
                match self.name {
                    "pg_get_function_result" => Some(result.clone()),
                    "pg_get_function_arguments" => Some(arguments.clone()),
                    _ => None,
                }
            })
            .collect();
        Ok(ColumnarValue::Array(Arc::new(out)))
    }
}
