//! Decoding Bind parameters (text or binary) into DataFusion values.

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime};
use datafusion::arrow::datatypes::{DataType, TimeUnit};
use datafusion::common::{ParamValues, ScalarValue};
use pgwire::api::Type;
use pgwire::api::portal::Portal;
use rust_decimal::Decimal;

use std::collections::HashMap;

use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::logical_expr::{Cast, Expr, ExprSchemable, LogicalPlan, TryCast};

use crate::error::{ServerError, ServerResult};

/// Decodes every parameter of `portal`. `declared` are the types the client
/// gave at Parse; `inferred` what DataFusion derived from the query.
pub fn decode<S: Clone>(
    portal: &Portal<S>,
    declared: &[Option<Type>],
    inferred: &[Option<DataType>],
) -> ServerResult<ParamValues> {
    let mut values = Vec::with_capacity(portal.parameter_len());
    for i in 0..portal.parameter_len() {
        let target = inferred.get(i).cloned().flatten();
        let pg = wire_type(declared, inferred, i);
        let value = decode_one(portal, i, &pg)?;
        let value = match &target {
            Some(t) if value.data_type() != *t && !value.is_null() => value
                .cast_to(t)
                .map_err(|e| ServerError::sql("22P02", format!("parameter ${}: {e}", i + 1)))?,
            Some(t) if value.is_null() => ScalarValue::try_from(t).unwrap_or(ScalarValue::Null),
            _ => value,
        };
        values.push(value);
    }
    Ok(ParamValues::from(values))
}

/// The type of parameter `i` on the wire: the one the client declared at
/// Parse, else the Postgres type of what DataFusion inferred, else text.
pub fn wire_type(declared: &[Option<Type>], inferred: &[Option<DataType>], i: usize) -> Type {
    declared
        .get(i)
        .cloned()
        .flatten()
        .filter(|t| *t != Type::UNKNOWN)
        .unwrap_or_else(|| {
            inferred
                .get(i)
                .and_then(|t| t.as_ref())
                .map_or(Type::TEXT, crate::encode::pg_type)
        })
}

fn bad(i: usize, ty: &Type, e: impl std::fmt::Display) -> ServerError {
    ServerError::sql(
        "22P02",
        format!(
            "invalid value for parameter ${} of type {}: {e}",
            i + 1,
            ty.name()
        ),
    )
}

/// A binary array's header claims its element count; the decoder sizes its
/// vector from that claim. A value whose bytes cannot hold the elements it
/// claims (each takes at least its 4-byte length) is refused before that:
/// a 40-byte parameter claiming 2^31 elements allocated 51 GB and aborted.
fn check_binary_array(raw: &[u8]) -> Result<(), String> {
    let int = |at: usize| -> Result<i32, String> {
        raw.get(at..at + 4)
            .and_then(|b| b.try_into().ok())
            .map(i32::from_be_bytes)
            .ok_or_else(|| "truncated array header".to_string())
    };
    let dimensions = int(0)?;
    if !(0..=6).contains(&dimensions) {
        return Err(format!("{dimensions} array dimensions (at most 6)"));
    }
    let header = 12 + 8 * dimensions as usize;
    let mut elements: u64 = if dimensions == 0 { 0 } else { 1 };
    for d in 0..dimensions as usize {
        let length = int(12 + 8 * d)?;
        let length =
            u64::try_from(length).map_err(|_| format!("negative array length {length}"))?;
        elements = elements.saturating_mul(length);
    }
    let room = raw.len().saturating_sub(header) as u64 / 4;
    if elements > room {
        return Err(format!(
            "the array claims {elements} elements but holds {} bytes",
            raw.len()
        ));
    }
    Ok(())
}

fn decode_one<S: Clone>(portal: &Portal<S>, i: usize, ty: &Type) -> ServerResult<ScalarValue> {
    if matches!(ty.kind(), postgres_types::Kind::Array(_))
        && portal.parameter_format.is_binary(i)
        && let Some(Some(raw)) = portal.parameters.get(i)
    {
        check_binary_array(raw).map_err(|e| bad(i, ty, e))?;
    }
    macro_rules! get {
        ($t:ty) => {
            portal.parameter::<$t>(i, ty).map_err(|e| bad(i, ty, e))?
        };
    }
    Ok(match *ty {
        Type::BOOL => ScalarValue::Boolean(get!(bool)),
        Type::INT2 => ScalarValue::Int16(get!(i16)),
        Type::INT4 => ScalarValue::Int32(get!(i32)),
        Type::INT8 => ScalarValue::Int64(get!(i64)),
        Type::FLOAT4 => ScalarValue::Float32(get!(f32)),
        Type::FLOAT8 => ScalarValue::Float64(get!(f64)),
        Type::NUMERIC => match get!(Decimal) {
            Some(d) => ScalarValue::Decimal128(Some(d.mantissa()), 38, d.scale() as i8),
            None => ScalarValue::Decimal128(None, 38, 10),
        },
        Type::DATE => ScalarValue::Date32(get!(NaiveDate).map(|d| {
            (d - NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default()).num_days() as i32
        })),
        Type::TIMESTAMP => ScalarValue::TimestampMicrosecond(
            get!(NaiveDateTime).map(|t| t.and_utc().timestamp_micros()),
            None,
        ),
        Type::TIMESTAMPTZ => ScalarValue::TimestampMicrosecond(
            get!(DateTime<FixedOffset>).map(|t| t.timestamp_micros()),
            Some("UTC".into()),
        ),
        Type::BYTEA => ScalarValue::Binary(get!(Vec<u8>)),
        Type::OID => ScalarValue::Int64(get!(u32).map(i64::from)),
        Type::UUID => ScalarValue::Utf8(get!(UuidText).map(|u| u.0)),
        Type::BOOL_ARRAY => list(get!(Vec<Option<bool>>), DataType::Boolean)?,
        Type::INT2_ARRAY => list(get!(Vec<Option<i16>>), DataType::Int16)?,
        Type::INT4_ARRAY => list(get!(Vec<Option<i32>>), DataType::Int32)?,
        Type::INT8_ARRAY => list(get!(Vec<Option<i64>>), DataType::Int64)?,
        Type::OID_ARRAY => list(
            get!(Vec<Option<u32>>).map(|v| v.into_iter().map(|o| o.map(i64::from)).collect()),
            DataType::Int64,
        )?,
        Type::FLOAT4_ARRAY => list(get!(Vec<Option<f32>>), DataType::Float32)?,
        Type::FLOAT8_ARRAY => list(get!(Vec<Option<f64>>), DataType::Float64)?,
        Type::TEXT_ARRAY | Type::VARCHAR_ARRAY => list(get!(Vec<Option<String>>), DataType::Utf8)?,
        _ => ScalarValue::Utf8(get!(String)),
    })
}

/// A uuid parameter as the text lakehouse stores uuids as (lower-case, hyphenated;
/// DataFusion has no uuid type), from the binary (16 bytes) or text form.
#[derive(Debug)]
struct UuidText(String);

type ParseError = Box<dyn std::error::Error + Sync + Send>;

impl UuidText {
    fn from_bytes(bytes: &[u8]) -> Result<Self, ParseError> {
        if bytes.len() != 16 {
            return Err(format!("a uuid is 16 bytes, got {}", bytes.len()).into());
        }
        let hex = hex::encode(bytes);
        Ok(UuidText(format!(
            "{}-{}-{}-{}-{}",
            &hex[0..8],
            &hex[8..12],
            &hex[12..16],
            &hex[16..20],
            &hex[20..32]
        )))
    }
}

impl<'a> postgres_types::FromSql<'a> for UuidText {
    fn from_sql(_ty: &Type, raw: &'a [u8]) -> Result<Self, ParseError> {
        UuidText::from_bytes(raw)
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::UUID
    }
}

impl<'a> pgwire::types::FromSqlText<'a> for UuidText {
    fn from_sql_text(
        _ty: &Type,
        input: &'a [u8],
        _format: &pgwire::types::format::FormatOptions,
    ) -> Result<Self, ParseError> {
        let text = std::str::from_utf8(input)?;
        let digits: String = text
            .trim_matches(|c| c == '{' || c == '}')
            .chars()
            .filter(|c| *c != '-')
            .collect();
        let bytes = hex::decode(&digits).map_err(|_| format!("\"{text}\" is not a uuid"))?;
        UuidText::from_bytes(&bytes)
    }
}

/// An array parameter as a one-row list scalar of `element` values.
fn list<T>(values: Option<Vec<Option<T>>>, element: DataType) -> ServerResult<ScalarValue>
where
    ScalarValue: From<Option<T>>,
{
    let Some(values) = values else {
        return ScalarValue::try_from(&DataType::new_list(element, true))
            .map_err(|e| ServerError::sql("22P02", e.to_string()));
    };
    let scalars: Vec<ScalarValue> = values.into_iter().map(ScalarValue::from).collect();
    let scalars = scalars
        .into_iter()
        .map(|v| {
            if v.is_null() {
                ScalarValue::try_from(&element).unwrap_or(v)
            } else {
                v
            }
        })
        .collect::<Vec<_>>();
    Ok(ScalarValue::List(ScalarValue::new_list_nullable(
        &scalars, &element,
    )))
}

/// Parameter types of a planned statement, `$1..$n` in order: DataFusion's
/// inference, completed by casts written on a placeholder (`$1::int`), as
/// Postgres infers them.
pub fn inferred_types(plan: &LogicalPlan) -> ServerResult<Vec<Option<DataType>>> {
    let mut types = plan.get_parameter_types()?;
    let mut from_casts: HashMap<String, DataType> = HashMap::new();
    plan.apply_with_subqueries(|node| {
        node.apply_expressions(|expr| {
            expr.apply(|e| {
                if let Expr::Cast(Cast { expr, field }) | Expr::TryCast(TryCast { expr, field }) = e
                    && let Expr::Placeholder(p) = expr.as_ref()
                {
                    from_casts
                        .entry(p.id.clone())
                        .or_insert_with(|| field.data_type().clone());
                }
                Ok(TreeNodeRecursion::Continue)
            })
        })
    })?;
    for (id, data_type) in from_casts {
        let slot = types.entry(id).or_insert(None);
        if slot.is_none() {
            *slot = Some(data_type);
        }
    }
    Ok(positional(&types))
}

fn positional(types: &HashMap<String, Option<DataType>>) -> Vec<Option<DataType>> {
    let n = types
        .keys()
        .filter_map(|k| k.strip_prefix('$')?.parse::<usize>().ok())
        .max()
        .unwrap_or(0);
    (1..=n)
        .map(|i| types.get(&format!("${i}")).cloned().flatten())
        .map(|t| match t {
            // Parameters are sent with microsecond precision.
            Some(DataType::Timestamp(_, tz)) => {
                Some(DataType::Timestamp(TimeUnit::Microsecond, tz))
            }
            other => other,
        })
        .collect()
}

/// For each `array_has(CAST($n AS text[]), x)` in `plan` (how `x = ANY($n)`
/// with an untyped parameter plans) where `x` is not text: `$n` -> x's type.
pub fn any_parameter_element_types(plan: &LogicalPlan) -> ServerResult<HashMap<String, DataType>> {
    let mut found = HashMap::new();
    plan.apply_with_subqueries(|node| {
        let inputs = node.inputs();
        let Some(schema) = inputs.first().map(|i| i.schema().clone()) else {
            return Ok(TreeNodeRecursion::Continue);
        };
        node.apply_expressions(|expr| {
            expr.apply(|e| {
                if let Expr::ScalarFunction(f) = e
                    && matches!(f.name(), "array_has" | "array_contains")
                    && let [array, needle] = f.args.as_slice()
                    && let Expr::Cast(Cast { expr: inner, field }) = array
                    && let Expr::Placeholder(p) = inner.as_ref()
                    && matches!(field.data_type(), DataType::List(item)
                        if matches!(item.data_type(), DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8))
                    && let Ok(element) = needle.get_type(&schema)
                    && !matches!(element, DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8 | DataType::Null)
                {
                    found.insert(p.id.clone(), element);
                }
                Ok(TreeNodeRecursion::Continue)
            })
        })
    })?;
    Ok(found)
}

/// Rewrites the `CAST($n AS TEXT[])` of the statement to the array types in
/// `types` (by placeholder); false when a type has no SQL spelling here.
pub fn retype_any_parameters(
    statement: &mut datafusion::sql::sqlparser::ast::Statement,
    types: &HashMap<String, DataType>,
) -> bool {
    use datafusion::sql::sqlparser::ast::{
        ArrayElemTypeDef, DataType as SqlType, ExactNumberInfo, Expr as SqlExpr, Value,
        visit_expressions_mut,
    };
    let sql_type = |t: &DataType| -> Option<SqlType> {
        Some(match t {
            DataType::Int64 => SqlType::BigInt(None),
            DataType::Int32 => SqlType::Int(None),
            DataType::Int16 => SqlType::SmallInt(None),
            DataType::Float64 => SqlType::DoublePrecision,
            DataType::Float32 => SqlType::Real,
            DataType::Boolean => SqlType::Boolean,
            DataType::Date32 => SqlType::Date,
            DataType::Decimal128(p, s) => {
                SqlType::Numeric(ExactNumberInfo::PrecisionAndScale(*p as u64, *s as i64))
            }
            _ => return None,
        })
    };
    let mut changed = false;
    let _ = visit_expressions_mut(statement, |e| {
        if let SqlExpr::Cast {
            expr: inner,
            data_type,
            ..
        } = e
            && let SqlExpr::Value(v) = inner.as_ref()
            && let Value::Placeholder(id) = &v.value
            && let Some(element) = types.get(id).and_then(sql_type)
        {
            *data_type = SqlType::Array(ArrayElemTypeDef::SquareBracket(Box::new(element), None));
            changed = true;
        }
        std::ops::ControlFlow::<()>::Continue(())
    });
    changed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_binary_array_cannot_claim_more_elements_than_it_holds() {
        // One dimension of 2^31-1 text elements, and no element bytes.
        let mut raw = Vec::new();
        for v in [1i32, 0, 25, i32::MAX, 1] {
            raw.extend_from_slice(&v.to_be_bytes());
        }
        assert!(check_binary_array(&raw).is_err());
        // Two elements, each present.
        let mut raw = Vec::new();
        for v in [1i32, 0, 23, 2, 1, 4, 7, 4, 8] {
            raw.extend_from_slice(&v.to_be_bytes());
        }
        assert!(check_binary_array(&raw).is_ok());
        assert!(check_binary_array(&[0, 0]).is_err());
        let mut negative = Vec::new();
        for v in [1i32, 0, 23, -1, 1] {
            negative.extend_from_slice(&v.to_be_bytes());
        }
        assert!(check_binary_array(&negative).is_err());
    }
}
