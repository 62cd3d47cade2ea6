//! PostgreSQL's 1 GB limit on one value, for the functions that build values
//! from a count: `repeat`, `lpad`, `rpad`, `array_repeat`, `array_resize`,
//! `range` and `generate_series` (as arrays).
//!
//! DataFusion allocates what such a call asks for before it writes a byte, so
//! `repeat('x', 2000000000)` aborted the whole process on a failed allocation
//! (Rust cannot recover from one). Each of these built-ins is wrapped: the
//! wrapper works out from the arguments how large each result would be, and
//! refuses with 54000 (`program_limit_exceeded`, as PostgreSQL's "requested
//! length too large") before the built-in runs. A batch whose results add up
//! past the limit is refused the same way. Everything else is the built-in's.

use datafusion::arrow::array::{Array, ArrayRef, AsArray};
use datafusion::arrow::compute::{cast, kernels::length::length};
use datafusion::arrow::datatypes::{DataType, FieldRef, IntervalMonthDayNano, TimeUnit};
use datafusion::common::{Result, ScalarValue, exec_err};
use datafusion::error::DataFusionError;
use datafusion::execution::FunctionRegistry;
use datafusion::logical_expr::interval_arithmetic::Interval;
use datafusion::logical_expr::simplify::{ExprSimplifyResult, SimplifyContext};
use datafusion::logical_expr::sort_properties::{ExprProperties, SortProperties};
use datafusion::logical_expr::{
    ColumnarValue, Documentation, Expr, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF,
    ScalarUDFImpl, Signature,
};
use datafusion::prelude::SessionContext;

use crate::UdfError;

/// The largest value PostgreSQL builds (`MaxAllocSize`, 1 GB - 1).
pub const MAX_VALUE_BYTES: u64 = (1 << 30) - 1;

/// How a function's arguments size its result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Sizing {
    /// `repeat(text, n)`: the text's bytes times n.
    Repeat,
    /// `lpad` / `rpad(text, n [, fill])`: n characters of up to 4 bytes.
    Pad,
    /// `array_repeat(element, n)`: n elements.
    ArrayRepeat,
    /// `array_resize(array, n [, value])`: n elements.
    ArrayResize,
    /// `range` / `generate_series(start, stop [, step])` or `(stop)`:
    /// one element per step.
    Series,
}

/// The wrapped built-ins.
const SIZED: [(&str, Sizing); 7] = [
    ("repeat", Sizing::Repeat),
    ("lpad", Sizing::Pad),
    ("rpad", Sizing::Pad),
    ("array_repeat", Sizing::ArrayRepeat),
    ("array_resize", Sizing::ArrayResize),
    ("range", Sizing::Series),
    ("generate_series", Sizing::Series),
];

/// Replaces each sized built-in of `ctx` by its checked form.
pub fn limit_value_sizes(ctx: &SessionContext) {
    for (name, sizing) in SIZED {
        if let Ok(inner) = ctx.udf(name) {
            ctx.register_udf(ScalarUDF::new_from_impl(SizeChecked {
                inner: inner.as_ref().clone(),
                sizing,
            }));
        }
    }
}

/// A built-in with its result size checked before it runs.
#[derive(Debug, PartialEq, Eq, Hash)]
struct SizeChecked {
    inner: ScalarUDF,
    sizing: Sizing,
}

impl SizeChecked {
    fn check(&self, args: &ScalarFunctionArgs) -> Result<()> {
        let all_scalar = args
            .args
            .iter()
            .all(|a| matches!(a, ColumnarValue::Scalar(_)));
        // All-scalar arguments are computed once, whatever the batch size.
        let rows = if all_scalar { 1 } else { args.number_rows };
        let sizes = match self.sizing {
            Sizing::Repeat => {
                let lengths = byte_lengths(&args.args[0], rows)?;
                let counts = integers(args.args.get(1), rows)?;
                zip_with(&lengths, &counts, |len, n| len.saturating_mul(n))
            }
            Sizing::Pad => {
                let counts = integers(args.args.get(1), rows)?;
                counts
                    .iter()
                    .map(|n| n.map(|n| n.saturating_mul(4)))
                    .collect()
            }
            Sizing::ArrayRepeat => {
                let widths = element_widths(&args.args[0], rows)?;
                let counts = integers(args.args.get(1), rows)?;
                zip_with(&widths, &counts, |w, n| w.saturating_mul(n))
            }
            Sizing::ArrayResize if any_negative(args.args.get(1))? => {
                // DataFusion reports this as an internal error ("a bug").
                return Err(DataFusionError::External(Box::new(
                    UdfError::InvalidArgument {
                        function: "array_resize",
                        message: "the new size must not be negative".into(),
                    },
                )));
            }
            Sizing::ArrayResize => integers(args.args.get(1), rows)?
                .iter()
                .map(|n| n.map(|n| n.saturating_mul(8)))
                .collect(),
            Sizing::Series => series_lengths(&args.args, rows)?
                .iter()
                .map(|n| n.map(|n| n.saturating_mul(8)))
                .collect(),
        };
        let mut total: u64 = 0;
        for size in sizes.into_iter().flatten() {
            if size > MAX_VALUE_BYTES {
                return Err(too_large(self.inner.name(), size, false));
            }
            total = total.saturating_add(size);
        }
        if total > MAX_VALUE_BYTES {
            return Err(too_large(self.inner.name(), total, true));
        }
        Ok(())
    }
}

fn too_large(function: &str, bytes: u64, batch: bool) -> DataFusionError {
    DataFusionError::External(Box::new(UdfError::ValueTooLarge {
        function: function.to_string(),
        bytes,
        batch,
    }))
}

/// Per row, `f(a, b)` where both are known.
fn zip_with(a: &[Option<u64>], b: &[Option<u64>], f: impl Fn(u64, u64) -> u64) -> Vec<Option<u64>> {
    a.iter()
        .zip(b)
        .map(|(a, b)| Some(f((*a)?, (*b)?)))
        .collect()
}

/// An argument as an array of `rows` values (a scalar is one value, repeated
/// only as a number, never as data).
fn values(value: &ColumnarValue) -> Result<ArrayRef> {
    match value {
        ColumnarValue::Array(a) => Ok(a.clone()),
        ColumnarValue::Scalar(s) => s.to_array_of_size(1),
    }
}

/// Spreads one value per scalar over `rows`.
fn per_row(values: Vec<Option<u64>>, rows: usize) -> Vec<Option<u64>> {
    if values.len() == 1 && rows > 1 {
        vec![values[0]; rows]
    } else {
        values
    }
}

/// Counts (non-negative; a negative count builds nothing).
fn integers(value: Option<&ColumnarValue>, rows: usize) -> Result<Vec<Option<u64>>> {
    let Some(value) = value else {
        return Ok(vec![None; rows]);
    };
    let array = cast(&values(value)?, &DataType::Int64)?;
    let ints = array.as_primitive::<datafusion::arrow::datatypes::Int64Type>();
    let out = ints
        .iter()
        .map(|v| v.map(|n| u64::try_from(n).unwrap_or(0)))
        .collect();
    Ok(per_row(out, rows))
}

/// Whether any count is below zero.
fn any_negative(value: Option<&ColumnarValue>) -> Result<bool> {
    let Some(value) = value else {
        return Ok(false);
    };
    let array = cast(&values(value)?, &DataType::Int64)?;
    Ok(array
        .as_primitive::<datafusion::arrow::datatypes::Int64Type>()
        .iter()
        .any(|v| v.is_some_and(|n| n < 0)))
}

/// Bytes of each text value.
fn byte_lengths(value: &ColumnarValue, rows: usize) -> Result<Vec<Option<u64>>> {
    if let ColumnarValue::Scalar(s) = value {
        let len = match s {
            ScalarValue::Utf8(v) | ScalarValue::LargeUtf8(v) | ScalarValue::Utf8View(v) => {
                v.as_ref().map(|t| t.len() as u64)
            }
            ScalarValue::Binary(v) | ScalarValue::LargeBinary(v) | ScalarValue::BinaryView(v) => {
                v.as_ref().map(|b| b.len() as u64)
            }
            _ => None,
        };
        return Ok(vec![len; rows]);
    }
    let array = values(value)?;
    let lengths = match array.data_type() {
        DataType::Utf8View => cast(&array, &DataType::Utf8)?,
        _ => array,
    };
    let lengths = cast(&length(&lengths)?, &DataType::Int64)?;
    Ok(lengths
        .as_primitive::<datafusion::arrow::datatypes::Int64Type>()
        .iter()
        .map(|v| v.map(|n| u64::try_from(n).unwrap_or(0)))
        .collect())
}

/// Bytes one element of an array built from `value` takes at least.
fn element_widths(value: &ColumnarValue, rows: usize) -> Result<Vec<Option<u64>>> {
    let data_type = value.data_type();
    if let Some(width) = data_type.primitive_width() {
        return Ok(vec![Some(width.max(1) as u64); rows]);
    }
    if matches!(
        data_type,
        DataType::Utf8
            | DataType::LargeUtf8
            | DataType::Utf8View
            | DataType::Binary
            | DataType::LargeBinary
            | DataType::BinaryView
    ) {
        // The bytes plus an offset per element.
        return Ok(byte_lengths(value, rows)?
            .into_iter()
            .map(|l| Some(l.unwrap_or(0) + 4))
            .collect());
    }
    // Lists, structs: at least an offset or a validity slot each.
    Ok(vec![Some(8); rows])
}

/// Elements of each series: `(stop)`, `(start, stop)`, `(start, stop, step)`
/// over integers, dates or timestamps.
fn series_lengths(args: &[ColumnarValue], rows: usize) -> Result<Vec<Option<u64>>> {
    let (start, stop, step) = match args {
        [stop] => (None, stop, None),
        [start, stop] => (Some(start), stop, None),
        [start, stop, step] => (Some(start), stop, Some(step)),
        _ => return exec_err!("range/generate_series takes one to three arguments"),
    };
    let stop_type = stop.data_type();
    let temporal = matches!(
        stop_type,
        DataType::Date32 | DataType::Date64 | DataType::Timestamp(..)
    );
    let as_points = |v: &ColumnarValue| -> Result<Vec<Option<i128>>> {
        let array = values(v)?;
        let array = if temporal {
            cast(&array, &DataType::Timestamp(TimeUnit::Nanosecond, None))
                .or_else(|_| cast(&array, &DataType::Int64))?
        } else {
            cast(&array, &DataType::Int64)?
        };
        let array = cast(&array, &DataType::Int64)?;
        let out: Vec<Option<i128>> = array
            .as_primitive::<datafusion::arrow::datatypes::Int64Type>()
            .iter()
            .map(|v| v.map(i128::from))
            .collect();
        Ok(out)
    };
    let spread = |v: Vec<Option<i128>>| -> Vec<Option<i128>> {
        if v.len() == 1 && rows > 1 {
            vec![v[0]; rows]
        } else {
            v
        }
    };
    let stops = spread(as_points(stop)?);
    let starts = match start {
        Some(s) => spread(as_points(s)?),
        None => vec![Some(0); stops.len()],
    };
    let steps: Vec<Option<i128>> = match step {
        None if temporal => return Ok(vec![None; stops.len()]),
        None => vec![Some(1); stops.len()],
        Some(step) => match step.data_type() {
            DataType::Interval(_) => spread(smallest_interval_nanos(step)?),
            _ => spread(as_points(step)?),
        },
    };
    Ok(starts
        .iter()
        .zip(&stops)
        .zip(&steps)
        .map(|((start, stop), step)| {
            let (start, stop, step) = ((*start)?, (*stop)?, (*step)?);
            if step == 0 {
                return None; // the built-in reports it
            }
            let span = (stop - start) / step;
            (span >= 0).then(|| u64::try_from(span + 1).unwrap_or(u64::MAX))
        })
        .collect())
}

/// The fewest nanoseconds each interval can span (a month counts as 28 days),
/// so the element count is never underestimated.
fn smallest_interval_nanos(value: &ColumnarValue) -> Result<Vec<Option<i128>>> {
    const DAY: i128 = 86_400_000_000_000;
    let array = cast(
        &values(value)?,
        &DataType::Interval(datafusion::arrow::datatypes::IntervalUnit::MonthDayNano),
    )?;
    let intervals = array.as_primitive::<datafusion::arrow::datatypes::IntervalMonthDayNanoType>();
    Ok(intervals
        .iter()
        .map(|v| {
            v.map(
                |IntervalMonthDayNano {
                     months,
                     days,
                     nanoseconds,
                 }| {
                    i128::from(months) * 28 * DAY + i128::from(days) * DAY + i128::from(nanoseconds)
                },
            )
        })
        .collect())
}

impl ScalarUDFImpl for SizeChecked {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn aliases(&self) -> &[String] {
        self.inner.aliases()
    }

    fn schema_name(&self, args: &[Expr]) -> Result<String> {
        self.inner.inner().schema_name(args)
    }

    fn signature(&self) -> &Signature {
        self.inner.signature()
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        self.inner.return_type(arg_types)
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        self.inner.return_field_from_args(args)
    }

    fn is_strict(&self) -> bool {
        self.inner.inner().is_strict()
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        self.check(&args)?;
        self.inner.invoke_with_args(args)
    }

    fn simplify(&self, args: Vec<Expr>, info: &SimplifyContext) -> Result<ExprSimplifyResult> {
        self.inner.simplify(args, info)
    }

    fn short_circuits(&self) -> bool {
        self.inner.short_circuits()
    }

    fn evaluate_bounds(&self, input: &[&Interval]) -> Result<Interval> {
        self.inner.evaluate_bounds(input)
    }

    fn output_ordering(&self, inputs: &[ExprProperties]) -> Result<SortProperties> {
        self.inner.output_ordering(inputs)
    }

    fn preserves_lex_ordering(&self, inputs: &[ExprProperties]) -> Result<bool> {
        self.inner.preserves_lex_ordering(inputs)
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        self.inner.coerce_types(arg_types)
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.inner.documentation()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn run(sql: &str) -> Result<()> {
        let ctx = SessionContext::new();
        limit_value_sizes(&ctx);
        ctx.sql(sql).await?.collect().await.map(|_| ())
    }

    fn is_too_large(result: Result<()>) -> bool {
        match result {
            Err(e) => e.to_string().contains("1 GB"),
            Ok(()) => false,
        }
    }

    #[tokio::test]
    async fn huge_values_are_refused_before_allocation() {
        for sql in [
            "SELECT repeat('x', 2000000000)",
            "SELECT lpad('x', 2000000000)",
            "SELECT rpad('x', 300000000, 'y')",
            "SELECT array_repeat(1, 1000000000)",
            "SELECT range(1000000000)",
            "SELECT range(0, 2000000000, 1)",
            "SELECT generate_series(1, 1000000000)",
            "SELECT range(TIMESTAMP '2000-01-01', TIMESTAMP '2100-01-01', INTERVAL '1 second')",
            "SELECT array_resize([1], 1000000000)",
            // Each small, together past the limit.
            "SELECT repeat(repeat('x', 1000), v) FROM unnest(range(2000)) AS t(v)",
        ] {
            assert!(is_too_large(run(sql).await), "{sql} was not refused");
        }
    }

    #[tokio::test]
    async fn ordinary_calls_still_work() {
        for sql in [
            "SELECT repeat('ab', 3)",
            "SELECT lpad('x', 5, '-')",
            "SELECT array_repeat('a', 3)",
            "SELECT range(5)",
            "SELECT range(DATE '2020-01-01', DATE '2020-03-01', INTERVAL '1 month')",
            "SELECT repeat(NULL, 3)",
            "SELECT repeat('x', -1)",
        ] {
            run(sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
        }
        let ctx = SessionContext::new();
        limit_value_sizes(&ctx);
        let batches = ctx
            .sql("SELECT repeat('ab', 3) AS r")
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        let r = batches[0].column(0);
        let text = cast(r, &DataType::Utf8).unwrap();
        assert_eq!(text.as_string::<i32>().value(0), "ababab");
    }
}
