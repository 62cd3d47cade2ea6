//! Expressions as PostgreSQL evaluates them, where DataFusion gave another
//! answer without an error:
//!
//! - `+`, `-` and `*` fail on overflow (`22003 bigint out of range`):
//!   DataFusion's wrap, so `'9223372036854775800'::int8 +
//!   '9223372036854775800'::int8` returned -16;
//! - a float cast to an integer rounds to the nearest, ties to even
//!   (`(-1.5)::float8::int4` is -2, `2.5::float8::int4` is 2): DataFusion's
//!   cast truncates (-1);
//! - text cast to `bytea` is read as PostgreSQL's bytea input (`'\xdeadbeef'`
//!   is 4 bytes, `'a\\b'` 3 bytes): DataFusion kept the text's own bytes,
//!   so `'\xDeAdBeEf'::bytea` stored the backslash and the letters;
//! - a `numeric` cast to an integer rounds half away from zero
//!   (`2.5::numeric::int` is 3, `(-2.5)::numeric::int` is -3): DataFusion's
//!   cast truncates (2, -2);
//! - a timestamp cast to text reads as PostgreSQL prints it
//!   (`2025-01-01 07:30:00+00`): DataFusion's cast wrote ISO 8601
//!   (`2025-01-01T07:30:00Z`);
//! - text cast to a timestamp may leave out the seconds
//!   (`'2025-01-01 10:30'::timestamp`), as PostgreSQL's input allows:
//!   DataFusion's parser refused it.
//!
//! Its physical `BinaryExpr` can check for overflow but its planner never
//! asks it to, so an analyzer rule (after type coercion, before constant
//! folding, which would fold the wrong value) replaces each integer `+`,
//! `-` and `*` by a call of an internal checked function, rounds the
//! operand of each float-to-integer cast and decodes the operand of each
//! text-to-bytea cast, keeping the expression's name, so
//! result columns are named as before.

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, AsArray, BinaryBuilder, Decimal128Array, Float64Array, StringArray, StringBuilder,
};
use datafusion::arrow::compute::kernels::numeric;
use datafusion::arrow::datatypes::{
    DataType, Decimal128Type, Float64Type, TimeUnit, TimestampMicrosecondType,
};
use datafusion::arrow::error::ArrowError;
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{DFSchema, Result};
use datafusion::error::DataFusionError;
use datafusion::logical_expr::expr::ScalarFunction;
use datafusion::logical_expr::expr_rewriter::NamePreserver;
use datafusion::logical_expr::{
    BinaryExpr, Cast, ColumnarValue, Expr, ExprSchemable, LogicalPlan, Operator,
    ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use datafusion::optimizer::AnalyzerRule;

use crate::UdfError;
use crate::datetime_text::write_timestamp;
use datafusion::prelude::SessionContext;

/// Installs the rule into `ctx` (sessions made from it inherit it).
pub fn use_postgres_semantics(ctx: &SessionContext) {
    ctx.add_analyzer_rule(Arc::new(PostgresSemantics::default()));
}

/// The analyzer rule.
#[derive(Debug)]
struct PostgresSemantics {
    add: Arc<ScalarUDF>,
    subtract: Arc<ScalarUDF>,
    multiply: Arc<ScalarUDF>,
    round_half_even: Arc<ScalarUDF>,
    round_numeric: Arc<ScalarUDF>,
    bytea_in: Arc<ScalarUDF>,
    timestamp_text: Arc<ScalarUDF>,
    timestamp_out: Arc<ScalarUDF>,
}

impl Default for PostgresSemantics {
    fn default() -> Self {
        let udf = |op| Arc::new(ScalarUDF::new_from_impl(CheckedOperator::new(op)));
        PostgresSemantics {
            add: udf(Operator::Plus),
            subtract: udf(Operator::Minus),
            multiply: udf(Operator::Multiply),
            round_half_even: Arc::new(ScalarUDF::new_from_impl(RoundHalfEven::default())),
            round_numeric: Arc::new(ScalarUDF::new_from_impl(RoundNumeric::default())),
            bytea_in: Arc::new(ScalarUDF::new_from_impl(ByteaIn::default())),
            timestamp_text: Arc::new(ScalarUDF::new_from_impl(TimestampText::default())),
            timestamp_out: Arc::new(ScalarUDF::new_from_impl(TimestampOut::default())),
        }
    }
}

fn is_integer(data_type: &DataType) -> bool {
    matches!(
        data_type,
        DataType::Int8
            | DataType::Int16
            | DataType::Int32
            | DataType::Int64
            | DataType::UInt8
            | DataType::UInt16
            | DataType::UInt32
            | DataType::UInt64
    )
}

impl PostgresSemantics {
    /// The function a cast's operand goes through first, and the type it
    /// takes: float and numeric to integer round, text to bytea decodes,
    /// text to timestamp completes the time.
    fn cast_operand_function(
        &self,
        from: &DataType,
        to: &DataType,
    ) -> Option<(&Arc<ScalarUDF>, DataType)> {
        match (from, to) {
            (DataType::Float16 | DataType::Float32 | DataType::Float64, to) if is_integer(to) => {
                Some((&self.round_half_even, DataType::Float64))
            }
            (
                DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View,
                DataType::Binary | DataType::LargeBinary | DataType::BinaryView,
            ) => Some((&self.bytea_in, DataType::Utf8)),
            (DataType::Decimal128(_, scale), to) if is_integer(to) && *scale > 0 => {
                Some((&self.round_numeric, from.clone()))
            }
            (
                DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View,
                DataType::Timestamp(..),
            ) => Some((&self.timestamp_text, DataType::Utf8)),
            (
                DataType::Timestamp(_, zone),
                DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View,
            ) => Some((
                &self.timestamp_out,
                DataType::Timestamp(TimeUnit::Microsecond, zone.clone()),
            )),
            _ => None,
        }
    }

    fn checked(&self, expr: Expr, schema: &DFSchema) -> Result<Transformed<Expr>> {
        if let Expr::Cast(Cast {
            expr: operand,
            field,
        }) = &expr
            && let Ok(from) = operand.get_type(schema)
            && let Some((udf, takes)) = self.cast_operand_function(&from, field.data_type())
        {
            let udf = udf.clone();
            let Expr::Cast(Cast {
                expr: operand,
                field,
            }) = expr
            else {
                return Ok(Transformed::no(expr));
            };
            let converted = Expr::ScalarFunction(ScalarFunction::new_udf(
                udf,
                vec![Expr::Cast(Cast::new(operand, takes))],
            ));
            return Ok(Transformed::yes(Expr::Cast(Cast::new_from_field(
                Box::new(converted),
                field,
            ))));
        }
        let Expr::BinaryExpr(BinaryExpr { left, op, right }) = &expr else {
            return Ok(Transformed::no(expr));
        };
        let udf = match op {
            Operator::Plus => &self.add,
            Operator::Minus => &self.subtract,
            Operator::Multiply => &self.multiply,
            _ => return Ok(Transformed::no(expr)),
        };
        // Outer references and the like have no type here: left as they are.
        let (Ok(l), Ok(r)) = (left.get_type(schema), right.get_type(schema)) else {
            return Ok(Transformed::no(expr));
        };
        if l != r || !is_integer(&l) {
            return Ok(Transformed::no(expr));
        }
        let Expr::BinaryExpr(BinaryExpr { left, right, .. }) = expr else {
            return Ok(Transformed::no(expr));
        };
        Ok(Transformed::yes(Expr::ScalarFunction(
            ScalarFunction::new_udf(udf.clone(), vec![*left, *right]),
        )))
    }
}

impl AnalyzerRule for PostgresSemantics {
    fn name(&self) -> &str {
        "postgres_semantics"
    }

    fn analyze(&self, plan: LogicalPlan, _config: &ConfigOptions) -> Result<LogicalPlan> {
        plan.transform_up_with_subqueries(|node| {
            // Expressions read the columns of the node's inputs.
            let mut schema = DFSchema::empty();
            for input in node.inputs() {
                schema.merge(input.schema());
            }
            // VALUES columns are named by position, not by expression.
            let preserver =
                (!matches!(node, LogicalPlan::Values(_))).then(|| NamePreserver::new(&node));
            node.map_expressions(|expr| {
                let saved = preserver.as_ref().map(|p| p.save(&expr));
                let rewritten = expr.transform_up(|e| self.checked(e, &schema))?;
                Ok(match saved {
                    Some(saved) if rewritten.transformed => {
                        rewritten.update_data(|e| saved.restore(e))
                    }
                    _ => rewritten,
                })
            })
        })
        .map(|t| t.data)
    }
}

/// `a + b`, `a - b` or `a * b` over one integer type, failing on overflow.
#[derive(Debug, PartialEq, Eq, Hash)]
struct CheckedOperator {
    name: &'static str,
    op: Operator,
    signature: Signature,
}

impl CheckedOperator {
    fn new(op: Operator) -> Self {
        let name = match op {
            Operator::Plus => "checked_add",
            Operator::Minus => "checked_subtract",
            _ => "checked_multiply",
        };
        CheckedOperator {
            name,
            op,
            signature: Signature::any(2, Volatility::Immutable),
        }
    }
}

/// PostgreSQL's name of an integer type, for its out-of-range message.
fn type_name(data_type: &DataType) -> &'static str {
    match data_type {
        DataType::Int8 | DataType::Int16 | DataType::UInt8 => "smallint",
        DataType::Int32 | DataType::UInt16 => "integer",
        _ => "bigint",
    }
}

impl ScalarUDFImpl for CheckedOperator {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        Ok(arg_types.first().cloned().unwrap_or(DataType::Int64))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let [left, right] = args.args.as_slice() else {
            return Err(DataFusionError::Internal(format!(
                "{} takes two arguments",
                self.name
            )));
        };
        let data_type = left.data_type();
        let (l, r) = (
            left.to_array(args.number_rows)?,
            right.to_array(args.number_rows)?,
        );
        let outcome = match self.op {
            Operator::Plus => numeric::add(&l, &r),
            Operator::Minus => numeric::sub(&l, &r),
            _ => numeric::mul(&l, &r),
        };
        let result = outcome.map_err(|e| match e {
            ArrowError::ArithmeticOverflow(_) => DataFusionError::ArrowError(
                Box::new(ArrowError::ArithmeticOverflow(format!(
                    "{} out of range",
                    type_name(&data_type)
                ))),
                None,
            ),
            other => DataFusionError::ArrowError(Box::new(other), None),
        })?;
        if matches!(
            (left, right),
            (ColumnarValue::Scalar(_), ColumnarValue::Scalar(_))
        ) {
            return Ok(ColumnarValue::Scalar(
                datafusion::common::ScalarValue::try_from_array(&result, 0)?,
            ));
        }
        Ok(ColumnarValue::Array(result))
    }
}

/// `rint`: a float rounded to the nearest integer, ties to even (what
/// PostgreSQL's float-to-integer casts do).
#[derive(Debug, PartialEq, Eq, Hash)]
struct RoundHalfEven {
    signature: Signature,
}

impl Default for RoundHalfEven {
    fn default() -> Self {
        RoundHalfEven {
            signature: Signature::exact(vec![DataType::Float64], Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for RoundHalfEven {
    fn name(&self) -> &str {
        "rint"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Float64)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let values = args.args[0].to_array(args.number_rows)?;
        let values = values.as_primitive::<Float64Type>();
        let rounded: Float64Array = values.unary(f64::round_ties_even);
        Ok(ColumnarValue::Array(Arc::new(rounded)))
    }
}

/// `round_numeric`: a `numeric(p,s)` rounded to a whole number half away
/// from zero, in the same type (what PostgreSQL's numeric-to-integer casts
/// do before the cast checks the range).
#[derive(Debug, PartialEq, Eq, Hash)]
struct RoundNumeric {
    signature: Signature,
}

impl Default for RoundNumeric {
    fn default() -> Self {
        RoundNumeric {
            signature: Signature::any(1, Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for RoundNumeric {
    fn name(&self) -> &str {
        "round_numeric"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        Ok(arg_types.first().cloned().unwrap_or(DataType::Null))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let values = args.args[0].to_array(args.number_rows)?;
        let DataType::Decimal128(precision, scale) = values.data_type().clone() else {
            return Err(DataFusionError::Internal(format!(
                "round_numeric takes numeric, not {}",
                values.data_type()
            )));
        };
        let unit = 10_i128.pow(u32::from(scale.unsigned_abs()));
        let rounded: Decimal128Array = values.as_primitive::<Decimal128Type>().unary(|v| {
            let (whole, rest) = (v / unit, v % unit);
            // Half or more of a unit away from the whole part: one more.
            if rest.unsigned_abs() * 2 >= unit.unsigned_abs() {
                (whole + v.signum()) * unit
            } else {
                whole * unit
            }
        });
        Ok(ColumnarValue::Array(Arc::new(
            rounded.with_precision_and_scale(precision, scale)?,
        )))
    }
}

/// `timestamp_text`: timestamp input text with the seconds PostgreSQL lets
/// one leave out put back (`2025-01-01 10:30` -> `2025-01-01 10:30:00`,
/// a zone after the minutes kept), so DataFusion's parser reads it.
#[derive(Debug, PartialEq, Eq, Hash)]
struct TimestampText {
    signature: Signature,
}

impl Default for TimestampText {
    fn default() -> Self {
        TimestampText {
            signature: Signature::exact(vec![DataType::Utf8], Volatility::Immutable),
        }
    }
}

/// `text` with `:00` after a time's minutes when it has no seconds.
fn with_seconds(text: &str) -> Option<String> {
    let trimmed = text.trim();
    let bytes = trimmed.as_bytes();
    // YYYY-MM-DD, then a space or T, then H:MM or HH:MM.
    if bytes.len() < 14 || !matches!(bytes.get(10), Some(b' ' | b'T')) {
        return None;
    }
    let time = &trimmed[11..];
    let hour_digits = time.bytes().take_while(u8::is_ascii_digit).count();
    if !(1..=2).contains(&hour_digits) || time.as_bytes().get(hour_digits) != Some(&b':') {
        return None;
    }
    let minutes_end = hour_digits + 3;
    let minutes = time.get(hour_digits + 1..minutes_end)?;
    if !minutes.bytes().all(|b| b.is_ascii_digit())
        || time.as_bytes().get(minutes_end) == Some(&b':')
    {
        return None;
    }
    let hour = if hour_digits == 1 {
        format!("0{}", &time[..1])
    } else {
        time[..2].to_string()
    };
    Some(format!(
        "{} {hour}:{minutes}:00{}",
        &trimmed[..10],
        &time[minutes_end..]
    ))
}

impl ScalarUDFImpl for TimestampText {
    fn name(&self) -> &str {
        "timestamp_text"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let texts = args.args[0].to_array(args.number_rows)?;
        let texts = texts.as_string::<i32>();
        let completed: StringArray = texts
            .iter()
            .map(|t| t.map(|t| with_seconds(t).unwrap_or_else(|| t.to_string())))
            .collect();
        Ok(ColumnarValue::Array(Arc::new(completed)))
    }
}

/// `timestamp_out`: a timestamp as PostgreSQL's text output writes it; a
/// zoned one in UTC (the session time zone) with `+00`.
#[derive(Debug, PartialEq, Eq, Hash)]
struct TimestampOut {
    signature: Signature,
}

impl Default for TimestampOut {
    fn default() -> Self {
        TimestampOut {
            signature: Signature::any(1, Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for TimestampOut {
    fn name(&self) -> &str {
        "timestamp_out"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let values = args.args[0].to_array(args.number_rows)?;
        let zoned = matches!(values.data_type(), DataType::Timestamp(_, Some(_)));
        let DataType::Timestamp(TimeUnit::Microsecond, _) = values.data_type() else {
            return Err(DataFusionError::Internal(format!(
                "timestamp_out takes microsecond timestamps, not {}",
                values.data_type()
            )));
        };
        let micros = values.as_primitive::<TimestampMicrosecondType>();
        let mut out = StringBuilder::new();
        for value in micros.iter() {
            match value.and_then(chrono::DateTime::from_timestamp_micros) {
                None => out.append_null(),
                Some(t) => {
                    let mut text = String::with_capacity(32);
                    write_timestamp(&mut text, &t.naive_utc());
                    if zoned {
                        text.push_str("+00");
                    }
                    out.append_value(text);
                }
            }
        }
        Ok(ColumnarValue::Array(Arc::new(out.finish())))
    }
}

/// `byteain`: PostgreSQL's bytea input, hex (`\\x0aff`, whitespace between
/// pairs allowed) or escape format (`\\\\` a backslash, `\\ooo` an octal byte,
/// anything else its own bytes). Malformed input is `22P02`.
#[derive(Debug, PartialEq, Eq, Hash)]
struct ByteaIn {
    signature: Signature,
}

impl Default for ByteaIn {
    fn default() -> Self {
        ByteaIn {
            signature: Signature::exact(vec![DataType::Utf8], Volatility::Immutable),
        }
    }
}

/// The bytes `text` stands for as bytea input.
/// Errors carry PostgreSQL's SQLSTATE: 22023 for hex, 22P02 for escapes.
fn bytea_input(text: &str) -> std::result::Result<Vec<u8>, (&'static str, String)> {
    let invalid = || {
        (
            "22P02",
            format!("invalid input syntax for type bytea: \"{text}\""),
        )
    };
    if let Some(hex) = text.strip_prefix("\\x") {
        let digits: Vec<u8> = hex.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
        if !digits.len().is_multiple_of(2) {
            return Err((
                "22023",
                format!("invalid hexadecimal data: odd number of digits in \"{text}\""),
            ));
        }
        return digits
            .chunks(2)
            .map(|pair| {
                std::str::from_utf8(pair)
                    .ok()
                    .and_then(|p| u8::from_str_radix(p, 16).ok())
                    .ok_or_else(|| ("22023", format!("invalid hexadecimal digit in \"{text}\"")))
            })
            .collect();
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'\\' {
            out.push(bytes[i]);
            i += 1;
        } else if bytes.get(i + 1) == Some(&b'\\') {
            out.push(b'\\');
            i += 2;
        } else {
            let octal = bytes.get(i + 1..i + 4).ok_or_else(invalid)?;
            if !octal.iter().all(|b| (b'0'..=b'7').contains(b)) || octal[0] > b'3' {
                return Err(invalid());
            }
            out.push(octal.iter().fold(0u8, |v, d| v * 8 + (d - b'0')));
            i += 4;
        }
    }
    Ok(out)
}

impl ScalarUDFImpl for ByteaIn {
    fn name(&self) -> &str {
        "byteain"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Binary)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let texts = args.args[0].to_array(args.number_rows)?;
        let texts = texts.as_string::<i32>();
        let mut out = BinaryBuilder::new();
        for text in texts.iter() {
            match text {
                None => out.append_null(),
                Some(text) => {
                    let bytes =
                        bytea_input(text).map_err(|(sqlstate, message)| match sqlstate {
                            // Bad hex digits: PostgreSQL's 22023.
                            "22023" => {
                                DataFusionError::External(Box::new(UdfError::InvalidArgument {
                                    function: "bytea",
                                    message,
                                }))
                            }
                            _ => DataFusionError::ArrowError(
                                Box::new(ArrowError::CastError(message)),
                                None,
                            ),
                        })?;
                    out.append_value(bytes);
                }
            }
        }
        Ok(ColumnarValue::Array(Arc::new(out.finish())))
    }
}

#[cfg(test)]
mod tests {
    use super::{bytea_input, with_seconds};

    #[test]
    fn timestamps_without_seconds_get_them() {
        assert_eq!(
            with_seconds("2025-01-01 10:30").as_deref(),
            Some("2025-01-01 10:30:00")
        );
        assert_eq!(
            with_seconds("2025-01-01T9:05+02").as_deref(),
            Some("2025-01-01 09:05:00+02")
        );
        assert_eq!(with_seconds("2025-01-01 10:30:15"), None);
        assert_eq!(with_seconds("2025-01-01"), None);
        assert_eq!(with_seconds("2025-01-01 1030"), None);
    }

    #[test]
    fn bytea_input_as_postgresql_reads_it() {
        assert_eq!(bytea_input("\\xDeAdBeEf"), Ok(vec![0xde, 0xad, 0xbe, 0xef]));
        assert_eq!(bytea_input("\\x de ad"), Ok(vec![0xde, 0xad]));
        assert_eq!(bytea_input("a\\\\b\\001"), Ok(vec![b'a', b'\\', b'b', 1]));
        assert_eq!(bytea_input("plain"), Ok(b"plain".to_vec()));
        assert!(bytea_input("\\x0").is_err());
        assert!(bytea_input("\\xzz").is_err());
        assert!(bytea_input("bad\\9").is_err());
    }
}
