//! `format(formatstr text, VARIADIC args)`: PostgreSQL's string formatting,
//! which Metabase's column sync uses (`format('%I.%I', schema, table)::regclass`).
//! Specifiers `%s` (the value as text, NULL as empty), `%I` (an identifier,
//! quoted when needed), `%L` (a literal, NULL as `NULL`), `%%`, with an
//! optional argument position `%n$`. Width flags are not supported (22023).

use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray, StringBuilder};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::error::Result;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

use crate::error::UdfError;

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Format {
    signature: Signature,
}

pub fn format() -> ScalarUDF {
    ScalarUDF::new_from_impl(Format {
        signature: Signature::user_defined(Volatility::Stable),
    })
}

/// Keywords PostgreSQL's `quote_ident` quotes (reserved and type-name ones).
const RESERVED: [&str; 40] = [
    "all",
    "analyse",
    "analyze",
    "and",
    "any",
    "array",
    "as",
    "asc",
    "both",
    "case",
    "cast",
    "check",
    "column",
    "constraint",
    "create",
    "default",
    "desc",
    "distinct",
    "do",
    "else",
    "end",
    "false",
    "for",
    "foreign",
    "from",
    "grant",
    "group",
    "having",
    "in",
    "into",
    "not",
    "null",
    "on",
    "or",
    "order",
    "select",
    "table",
    "to",
    "true",
    "user",
];

/// `quote_ident`: as is when it is a plain lower-case identifier.
pub fn quote_ident(ident: &str) -> String {
    let plain = ident
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && ident
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '$')
        && !RESERVED.contains(&ident);
    if plain {
        ident.to_string()
    } else {
        format!("\"{}\"", ident.replace('"', "\"\""))
    }
}

/// `quote_literal`: single quotes doubled; with a backslash, the `E''` form.
fn quote_literal(value: &str) -> String {
    let quoted = value.replace('\'', "''");
    if value.contains('\\') {
        format!("E'{}'", quoted.replace('\\', "\\\\"))
    } else {
        format!("'{quoted}'")
    }
}

/// One row: `template` filled from `args` (each already text).
fn render(template: &str, args: &[Option<&str>]) -> std::result::Result<String, String> {
    let mut out = String::with_capacity(template.len());
    let mut chars = template.chars().peekable();
    let mut next_arg = 0usize;
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        // An optional `n$` argument position.
        let mut digits = String::new();
        while let Some(d) = chars.peek().filter(|d| d.is_ascii_digit()) {
            digits.push(*d);
            chars.next();
        }
        if !digits.is_empty() {
            if chars.next() != Some('$') {
                return Err("width flags are not supported in format()".into());
            }
            let position: usize = digits.parse().map_err(|_| "bad argument position")?;
            if position == 0 {
                return Err(
                    "format specifies argument 0, but arguments are numbered from 1".into(),
                );
            }
            next_arg = position - 1;
        }
        let spec = chars.next().ok_or("unterminated format() type specifier")?;
        if spec == '%' {
            out.push('%');
            continue;
        }
        let value = *args.get(next_arg).ok_or("too few arguments for format()")?;
        next_arg += 1;
        match spec {
            's' => out.push_str(value.unwrap_or("")),
            'I' => match value {
                Some(v) => out.push_str(&quote_ident(v)),
                None => return Err("null values cannot be formatted as an SQL identifier".into()),
            },
            'L' => match value {
                Some(v) => out.push_str(&quote_literal(v)),
                None => out.push_str("NULL"),
            },
            other => return Err(format!("unrecognized format() type specifier \"{other}\"")),
        }
    }
    Ok(out)
}

impl ScalarUDFImpl for Format {
    fn name(&self) -> &str {
        "format"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        if arg_types.is_empty() {
            return datafusion::common::plan_err!(
                "function format(text, ...) needs a format string"
            );
        }
        Ok(vec![DataType::Utf8; arg_types.len()])
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let columns = args
            .args
            .iter()
            .map(|a| {
                a.to_array(args.number_rows)
                    .and_then(|c| Ok(cast(&c, &DataType::Utf8)?))
            })
            .collect::<Result<Vec<_>>>()?;
        let mut out = StringBuilder::new();
        for row in 0..args.number_rows {
            let text = |i: usize| {
                let column = columns[i].as_string::<i32>();
                (!column.is_null(row)).then(|| column.value(row))
            };
            let Some(template) = text(0) else {
                out.append_null();
                continue;
            };
            let values: Vec<Option<&str>> = (1..columns.len()).map(text).collect();
            match render(template, &values) {
                Ok(s) => out.append_value(s),
                Err(message) => {
                    return Err(UdfError::InvalidArgument {
                        function: "format",
                        message,
                    }
                    .into());
                }
            }
        }
        Ok(ColumnarValue::Array(Arc::new(out.finish())))
    }
}

#[cfg(test)]
mod tests {
    use super::{quote_ident, render};

    #[test]
    fn formats_as_postgres_does() {
        assert_eq!(
            render("%I.%I", &[Some("public"), Some("My Table")]).unwrap(),
            "public.\"My Table\""
        );
        assert_eq!(
            render("%s|%L|%L", &[None, Some("it's"), None]).unwrap(),
            "|'it''s'|NULL"
        );
        assert_eq!(
            render("%2$s %1$s %%", &[Some("a"), Some("b")]).unwrap(),
            "b a %"
        );
        assert_eq!(
            render("\"%s\".\"%s\"", &[Some("s"), Some("t")]).unwrap(),
            "\"s\".\"t\""
        );
        assert!(render("%s %s", &[Some("a")]).is_err());
        assert!(render("%I", &[None]).is_err());
        assert!(render("%5s", &[Some("a")]).is_err());
        assert_eq!(quote_ident("user"), "\"user\"");
        assert_eq!(quote_ident("people_1"), "people_1");
    }
}
