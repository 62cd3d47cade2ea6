//! Literal arguments of table functions (DataFusion passes them as expressions).

use datafusion::arrow::array::ArrayRef;
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::ScalarValue;
use datafusion::error::Result;
use datafusion::logical_expr::{ColumnarValue, Expr};

use lakehouse_catalog::TableIdent;

use crate::UdfError;

/// A function argument as a text column of `rows` values (an oid or a
/// `regclass` is cast to its text).
pub(crate) fn text_column(value: &ColumnarValue, rows: usize) -> Result<ArrayRef> {
    Ok(cast(&value.to_array(rows)?, &DataType::Utf8)?)
}

fn invalid(function: &'static str, message: String) -> UdfError {
    UdfError::InvalidArgument { function, message }
}

/// The literal behind `expr`, looking through casts DataFusion adds.
fn literal(expr: &Expr) -> Option<&ScalarValue> {
    match expr {
        Expr::Literal(value, _) => Some(value),
        Expr::Cast(c) => literal(&c.expr),
        Expr::TryCast(c) => literal(&c.expr),
        _ => None,
    }
}

/// How an argument reads in an error message: the literal's value, else the expression.
fn shown(expr: &Expr) -> String {
    match literal(expr) {
        Some(value) if value.is_null() => "NULL".to_string(),
        Some(value) => value.to_string(),
        None => expr.to_string(),
    }
}

/// Checks the number of arguments against `range`; `usage` is the signature.
pub fn arity(
    args: &[Expr],
    range: std::ops::RangeInclusive<usize>,
    function: &'static str,
    usage: &str,
) -> Result<(), UdfError> {
    if range.contains(&args.len()) {
        return Ok(());
    }
    let expected = if range.start() == range.end() {
        range.start().to_string()
    } else {
        format!("{} to {}", range.start(), range.end())
    };
    Err(invalid(
        function,
        format!("{usage} takes {expected} arguments, got {}", args.len()),
    ))
}

/// Argument `i` as text; `None` if absent. NULL or a non-text value is an error.
pub fn text(
    args: &[Expr],
    i: usize,
    function: &'static str,
    what: &str,
) -> Result<Option<String>, UdfError> {
    let Some(expr) = args.get(i) else {
        return Ok(None);
    };
    match literal(expr) {
        Some(
            ScalarValue::Utf8(Some(s))
            | ScalarValue::Utf8View(Some(s))
            | ScalarValue::LargeUtf8(Some(s)),
        ) => Ok(Some(s.clone())),
        _ => Err(invalid(
            function,
            format!("{what} must be a text literal, got {}", shown(expr)),
        )),
    }
}

/// Required text argument.
pub fn required_text(
    args: &[Expr],
    i: usize,
    function: &'static str,
    what: &str,
) -> Result<String, UdfError> {
    text(args, i, function, what)?.ok_or_else(|| invalid(function, format!("{what} is missing")))
}

/// Argument `i` as a positive integer; `None` if absent.
pub fn positive_int(
    args: &[Expr],
    i: usize,
    function: &'static str,
    what: &str,
) -> Result<Option<usize>, UdfError> {
    let Some(expr) = args.get(i) else {
        return Ok(None);
    };
    let value = match literal(expr) {
        Some(v) if !v.is_null() => v
            .cast_to(&datafusion::arrow::datatypes::DataType::Int64)
            .ok(),
        _ => None,
    };
    match value {
        Some(ScalarValue::Int64(Some(n))) if n > 0 => Ok(Some(n as usize)),
        _ => Err(invalid(
            function,
            format!("{what} must be a positive integer, got {}", shown(expr)),
        )),
    }
}

/// The query argument of vector_search: a text literal, or an array of numbers
/// (`ARRAY[0.1, ...]` or a `'{...}'::real[]` literal).
#[derive(Debug, Clone)]
pub enum QueryArg {
    Text(String),
    Vector(Vec<f32>),
}

pub fn query(args: &[Expr], i: usize, function: &'static str) -> Result<QueryArg, UdfError> {
    let bad = |expr: &Expr| {
        invalid(
            function,
            format!(
                "query must be a text literal or a real[] vector, got {}",
                shown(expr)
            ),
        )
    };
    let Some(expr) = args.get(i) else {
        return Err(invalid(function, "query is missing".into()));
    };
    // vector_literal('{...}'): read the text, no need to evaluate the call.
    if let Expr::ScalarFunction(call) = expr
        && call.func.name() == crate::vector_literal::NAME
        && let Ok(Some(text)) = text(&call.args, 0, function, "query")
    {
        let numbers = lakehouse_ingest::pg_array::parse_numbers(&text)
            .map_err(|message| invalid(function, format!("query vector: {message}")))?;
        return numbers
            .into_iter()
            .map(|n| n.map(|n| n as f32))
            .collect::<Option<Vec<f32>>>()
            .map(QueryArg::Vector)
            .ok_or_else(|| invalid(function, "query vector contains NULL".into()));
    }
    if let Ok(Some(text)) = text(args, i, function, "query") {
        return Ok(QueryArg::Text(text));
    }
    let Some(value) = literal(expr) else {
        return Err(bad(expr));
    };
    let list = match value {
        ScalarValue::List(l) => l.value(0),
        ScalarValue::LargeList(l) => l.value(0),
        ScalarValue::FixedSizeList(l) => l.value(0),
        _ => return Err(bad(expr)),
    };
    let floats =
        datafusion::arrow::compute::cast(&list, &datafusion::arrow::datatypes::DataType::Float32)
            .map_err(|_| bad(expr))?;
    let floats = floats
        .as_any()
        .downcast_ref::<datafusion::arrow::array::Float32Array>()
        .ok_or_else(|| bad(expr))?;
    if datafusion::arrow::array::Array::null_count(floats) > 0 {
        return Err(invalid(function, "query vector contains NULL".into()));
    }
    Ok(QueryArg::Vector(floats.values().to_vec()))
}

/// `key=value,key=value` options; keys are lower-cased, unknown keys are errors.
pub fn options(
    text: Option<&str>,
    function: &'static str,
    known: &[&str],
) -> Result<Vec<(String, String)>, UdfError> {
    let mut out = Vec::new();
    for part in text
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
    {
        let (key, value) = match part.split_once('=') {
            Some((k, v)) => (k.trim().to_ascii_lowercase(), v.trim().to_string()),
            None => (part.to_ascii_lowercase(), "true".to_string()),
        };
        if !known.contains(&key.as_str()) {
            return Err(invalid(
                function,
                format!("unknown option \"{key}\" (known: {})", known.join(", ")),
            ));
        }
        out.push((key, value));
    }
    Ok(out)
}

/// Parses an option value as a positive integer.
pub fn option_int(function: &'static str, key: &str, value: &str) -> Result<usize, UdfError> {
    match value.parse::<usize>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(invalid(
            function,
            format!("option {key}={value}: expected a positive integer"),
        )),
    }
}

/// Parses an option value as a boolean (`true/false/on/off/1/0`).
pub fn option_bool(function: &'static str, key: &str, value: &str) -> Result<bool, UdfError> {
    match value.to_ascii_lowercase().as_str() {
        "true" | "on" | "1" | "yes" => Ok(true),
        "false" | "off" | "0" | "no" => Ok(false),
        _ => Err(invalid(
            function,
            format!("option {key}={value}: expected true or false"),
        )),
    }
}

/// A table named `name` (in `default_schema`) or `schema.name`.
pub fn table_ident(
    text: &str,
    default_schema: &str,
    function: &'static str,
    what: &str,
) -> Result<TableIdent, UdfError> {
    let parts: Vec<&str> = text.split('.').collect();
    let ident = match parts.as_slice() {
        [table] => TableIdent::new(default_schema, *table),
        [schema, table] => TableIdent::new(*schema, *table),
        _ => {
            return Err(invalid(
                function,
                format!("{what} \"{text}\" must be name or schema.name"),
            ));
        }
    };
    if ident.table.is_empty() || ident.schema.is_empty() {
        return Err(invalid(function, format!("{what} \"{text}\" is empty")));
    }
    Ok(ident)
}
