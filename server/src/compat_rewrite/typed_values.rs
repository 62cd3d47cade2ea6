//! Values and parameters whose types DataFusion would take differently:
//! `uuid` as text, vector literals as one string, untyped `ANY` parameters
//! as arrays, and the placeholders drivers expect to be described as oids.

use super::*;

pub(super) fn uuid_as_text(statement: &mut Statement) -> bool {
    let mut changed = false;
    if let Statement::CreateTable(create) = statement {
        for column in &mut create.columns {
            if column.data_type == DataType::Uuid {
                column.data_type = DataType::Text;
                changed = true;
            }
        }
    }
    let _ = visit_expressions_mut(statement, |expr| {
        if let Expr::Cast { data_type, .. } = expr
            && *data_type == DataType::Uuid
        {
            *data_type = DataType::Text;
            changed = true;
        }
        ControlFlow::<()>::Continue(())
    });
    changed
}

/// `x::varchar(n)` / `x::char(n)` -> `left(x::text, n)`: an explicit cast
/// to a character type of declared length truncates, as PostgreSQL's does
/// (DataFusion drops the length: `'abc'::varchar(2)` was `abc`). Storing
/// into such a column checks the length instead (22001).
pub(super) fn character_length_casts(statement: &mut Statement) -> bool {
    replace_casts(statement, |operand, data_type| {
        let length = match data_type {
            DataType::Varchar(Some(length))
            | DataType::CharVarying(Some(length))
            | DataType::CharacterVarying(Some(length))
            | DataType::Char(Some(length))
            | DataType::Character(Some(length)) => length,
            _ => return None,
        };
        let CharacterLength::IntegerLength { length, .. } = length else {
            return None;
        };
        let as_text = Expr::Cast {
            kind: CastKind::Cast,
            expr: Box::new(operand.clone()),
            data_type: DataType::Text,
            array: false,
            format: None,
        };
        let length = Expr::Value(Value::Number(length.to_string(), false).with_empty_span());
        Some(call("left", vec![as_text, length]))
    })
}

/// `t AT TIME ZONE z` -> `timezone(z, t)`, PostgreSQL's meaning of it (a
/// `timestamptz` becomes the wall-clock `timestamp` in `z`, a `timestamp`
/// the `timestamptz` of `z`'s clocks); DataFusion casts both to a zoned
/// timestamp. PostgreSQL names the column `timezone` too.
pub(super) fn at_time_zone_calls(statement: &mut Statement) -> bool {
    let mut changed = false;
    let _ = visit_expressions_mut(statement, |expr| {
        if let Expr::AtTimeZone {
            timestamp,
            time_zone,
        } = expr
        {
            *expr = call(
                "timezone",
                vec![(**time_zone).clone(), (**timestamp).clone()],
            );
            changed = true;
        }
        ControlFlow::<()>::Continue(())
    });
    changed
}

/// `'{1,2}'::real[]` / `'[1,2]'::vector(2)` -> `vector_literal('{1,2}')`.
pub(super) fn vector_literals(statement: &mut Statement) -> bool {
    replace_casts(statement, |operand, data_type| match operand {
        Expr::Value(value) if is_vector_type(data_type) => match &value.value {
            Value::SingleQuotedString(text) if text.trim_start().starts_with(['{', '[']) => {
                let literal = Value::SingleQuotedString(text.clone()).with_empty_span();
                Some(call("vector_literal", vec![Expr::Value(literal)]))
            }
            _ => None,
        },
        _ => None,
    })
}

/// `real[]`, `float4[]`, `double precision[]`... and pgvector's `vector(n)`.
pub(super) fn is_vector_type(data_type: &DataType) -> bool {
    match data_type {
        DataType::Array(
            ArrayElemTypeDef::SquareBracket(item, _) | ArrayElemTypeDef::AngleBracket(item),
        ) => matches!(
            item.as_ref(),
            DataType::Real
                | DataType::Float4
                | DataType::Float(_)
                | DataType::Float8
                | DataType::Double(_)
                | DataType::DoublePrecision
        ),
        DataType::Custom(name, _) => name.to_string().eq_ignore_ascii_case("vector"),
        _ => false,
    }
}

/// `x = ANY($1)` with an untyped parameter -> `x = ANY(CAST($1 AS TEXT[]))`.
/// psycopg sends a list of strings as an untyped array literal (pgcli's
/// `relkind = ANY(%s)`), which PostgreSQL types from `ANY`; DataFusion would
/// take the parameter for one string. Where `x` is not text, planning makes
/// the parameter an array of x's type instead (`params::retype_any_parameters`).
pub(super) fn untyped_any_parameters(statement: &mut Statement) -> bool {
    let mut changed = false;
    let _ = visit_expressions_mut(statement, |expr| {
        if let Expr::AnyOp { right, .. } | Expr::AllOp { right, .. } = expr
            && let Expr::Value(v) = right.as_ref()
            && matches!(v.value, Value::Placeholder(_))
        {
            **right = as_text_array(right.as_ref().clone());
            changed = true;
        }
        ControlFlow::<()>::Continue(())
    });
    changed
}

#[allow(clippy::ptr_arg)] // sqlparser implements Visit for Vec, not slices
pub(super) fn oid_placeholders(statements: &Vec<Statement>) -> OidParams {
    let mut found = Vec::new();
    let _ = visit_expressions(statements, |expr| {
        if let Expr::Cast {
            expr: inner,
            data_type,
            ..
        } = expr
            && let Expr::Value(v) = inner.as_ref()
            && let Value::Placeholder(p) = &v.value
            && let Some(n) = p.strip_prefix('$').and_then(|n| n.parse::<usize>().ok())
            && n > 0
        {
            match data_type.to_string().to_ascii_lowercase().as_str() {
                "oid" => found.push((n - 1, Type::OID)),
                "oid[]" => found.push((n - 1, Type::OID_ARRAY)),
                _ => {}
            }
        }
        ControlFlow::<()>::Continue(())
    });
    found
}

/// `x LIKE 'a/_b' ESCAPE '/'` -> `x LIKE 'a\_b'`: DataFusion takes only the
/// backslash as LIKE's escape (SQLAlchemy's inspector writes `ESCAPE '/'`).
/// A literal pattern is rewritten to backslash escapes; `ESCAPE ''` (no
/// escape character) makes its backslashes literal.
pub(super) fn like_escapes(statement: &mut Statement) -> bool {
    let mut changed = false;
    let _ = visit_expressions_mut(statement, |expr| {
        let (Expr::Like {
            pattern,
            escape_char,
            ..
        }
        | Expr::ILike {
            pattern,
            escape_char,
            ..
        }) = expr
        else {
            return ControlFlow::<()>::Continue(());
        };
        let escape = match escape_char.as_ref().map(|v| &v.value) {
            Some(Value::SingleQuotedString(e)) if e != "\\" => e.clone(),
            _ => return ControlFlow::Continue(()),
        };
        let Expr::Value(value) = pattern.as_mut() else {
            return ControlFlow::Continue(());
        };
        let Value::SingleQuotedString(text) = &value.value else {
            return ControlFlow::Continue(());
        };
        let escape = escape.chars().next();
        let mut rewritten = String::with_capacity(text.len());
        let mut chars = text.chars();
        while let Some(c) = chars.next() {
            if Some(c) == escape {
                rewritten.push('\\');
                if let Some(next) = chars.next() {
                    rewritten.push(next);
                }
            } else if c == '\\' {
                rewritten.push_str("\\\\");
            } else {
                rewritten.push(c);
            }
        }
        value.value = Value::SingleQuotedString(rewritten);
        *escape_char = None;
        changed = true;
        ControlFlow::Continue(())
    });
    changed
}
