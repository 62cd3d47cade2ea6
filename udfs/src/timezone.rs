//! `timezone(zone, t)`, which is what `t AT TIME ZONE zone` means in
//! PostgreSQL (the SQL rewrite turns one into the other):
//!
//! - a `timestamp` is read as wall-clock time in `zone`: the result is the
//!   `timestamptz` of that instant;
//! - a `timestamptz` becomes the wall-clock `timestamp` in `zone` at that
//!   instant.
//!
//! DataFusion planned both as a cast to a zoned timestamp, so
//! `now() AT TIME ZONE 'America/New_York'` stayed a `timestamptz` and printed
//! the UTC time: a wrong answer without an error. Zones are IANA names
//! (`Europe/Paris`, `UTC`) or numeric offsets, which PostgreSQL reads as
//! POSIX does (`'+05'` is five hours west of Greenwich); anything else is
//! refused with 22023 as PostgreSQL refuses it.

use std::sync::Arc;

use chrono::{DateTime, Offset, TimeZone};
use datafusion::arrow::array::timezone::Tz;
use datafusion::arrow::array::{Array, ArrayRef, AsArray, TimestampMicrosecondArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, TimeUnit, TimestampMicrosecondType};
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

use crate::UdfError;
use crate::args::text_column;

/// How `timestamptz` values are typed here (UTC instants).
const UTC: &str = "+00:00";

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Timezone {
    signature: Signature,
}

pub fn timezone() -> ScalarUDF {
    ScalarUDF::new_from_impl(Timezone {
        signature: Signature::user_defined(Volatility::Immutable),
    })
}

fn timestamptz() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some(UTC.into()))
}

impl ScalarUDFImpl for Timezone {
    fn name(&self) -> &str {
        "timezone"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        let [_, value] = arg_types else {
            return Err(DataFusionError::Plan(
                "timezone(zone, timestamp) takes two arguments".to_string(),
            ));
        };
        let value = match value {
            DataType::Timestamp(_, None) => DataType::Timestamp(TimeUnit::Microsecond, None),
            // A date or an untyped literal is a timestamptz in PostgreSQL's
            // resolution (the session's zone is UTC).
            DataType::Timestamp(_, Some(_))
            | DataType::Date32
            | DataType::Date64
            | DataType::Utf8
            | DataType::Utf8View
            | DataType::LargeUtf8
            | DataType::Null => timestamptz(),
            other => {
                return Err(DataFusionError::Plan(format!(
                    "function timezone(text, {other}) does not exist"
                )));
            }
        };
        Ok(vec![DataType::Utf8, value])
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        Ok(match arg_types.get(1) {
            Some(DataType::Timestamp(_, None)) => timestamptz(),
            _ => DataType::Timestamp(TimeUnit::Microsecond, None),
        })
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let scalar = args
            .args
            .iter()
            .all(|a| matches!(a, ColumnarValue::Scalar(_)));
        let zones = text_column(&args.args[0], rows)?;
        let zones = zones.as_string::<i32>();
        let values = args.args[1].to_array(rows)?;
        let zoned = matches!(values.data_type(), DataType::Timestamp(_, Some(_)));
        let micros = cast(&values, &DataType::Timestamp(TimeUnit::Microsecond, None))?;
        let micros = micros.as_primitive::<TimestampMicrosecondType>();
        let mut parsed: Option<(String, Tz)> = None;
        let mut out = Vec::with_capacity(micros.len());
        for i in 0..micros.len() {
            if micros.is_null(i) || zones.is_null(i) {
                out.push(None);
                continue;
            }
            let zone = zones.value(i);
            let tz = match &parsed {
                Some((name, tz)) if name == zone => *tz,
                _ => {
                    let tz = parse_zone(zone)?;
                    parsed = Some((zone.to_string(), tz));
                    tz
                }
            };
            out.push(Some(if zoned {
                wall_clock(micros.value(i), &tz)?
            } else {
                instant(micros.value(i), &tz)?
            }));
        }
        let array = TimestampMicrosecondArray::from(out);
        let array: ArrayRef = if zoned {
            Arc::new(array)
        } else {
            Arc::new(array.with_timezone(UTC))
        };
        Ok(if scalar {
            ColumnarValue::Scalar(datafusion::common::ScalarValue::try_from_array(&array, 0)?)
        } else {
            ColumnarValue::Array(array)
        })
    }
}

/// A zone as PostgreSQL reads it: a numeric offset POSIX-style (positive
/// is west of Greenwich), else a zone name.
fn parse_zone(zone: &str) -> Result<Tz> {
    let unknown =
        || DataFusionError::External(Box::new(UdfError::UnknownTimeZone(zone.to_string())));
    let trimmed = zone.trim();
    let posix = match trimmed.as_bytes() {
        [b'+', d, ..] if d.is_ascii_digit() => Some(format!("-{}", &trimmed[1..])),
        [b'-', d, ..] if d.is_ascii_digit() => Some(format!("+{}", &trimmed[1..])),
        [d, ..] if d.is_ascii_digit() => Some(format!("-{trimmed}")),
        _ => None,
    };
    let spelled = match &posix {
        Some(offset) if offset.len() == 2 => format!("{}0{}:00", &offset[..1], &offset[1..]),
        Some(offset) if !offset.contains(':') && offset.len() == 3 => format!("{offset}:00"),
        Some(offset) => offset.clone(),
        None if trimmed.eq_ignore_ascii_case("utc") || trimmed.eq_ignore_ascii_case("gmt") => {
            UTC.to_string()
        }
        None => trimmed.to_string(),
    };
    spelled.parse::<Tz>().map_err(|_| unknown())
}

fn out_of_range() -> DataFusionError {
    DataFusionError::External(Box::new(UdfError::InvalidArgument {
        function: "timezone",
        message: "timestamp out of range".to_string(),
    }))
}

/// The wall-clock time in `tz` at the UTC instant `micros`.
fn wall_clock(micros: i64, tz: &Tz) -> Result<i64> {
    let utc = DateTime::from_timestamp_micros(micros).ok_or_else(out_of_range)?;
    let offset = tz.offset_from_utc_datetime(&utc.naive_utc()).fix();
    micros
        .checked_add(i64::from(offset.local_minus_utc()) * 1_000_000)
        .ok_or_else(out_of_range)
}

/// The UTC instant at which `tz`'s clocks show `micros`. In a daylight-
/// saving gap the offset before the gap applies; in an overlap, standard
/// time, the later instant (both as PostgreSQL).
fn instant(micros: i64, tz: &Tz) -> Result<i64> {
    let local = DateTime::from_timestamp_micros(micros)
        .ok_or_else(out_of_range)?
        .naive_utc();
    let offset = match tz.offset_from_local_datetime(&local) {
        chrono::LocalResult::Single(o) => o.fix(),
        chrono::LocalResult::Ambiguous(_, latest) => latest.fix(),
        chrono::LocalResult::None => {
            // The clocks jumped over `local`: read it with the offset in
            // force just before the jump.
            let before = local - chrono::Duration::hours(3);
            match tz.offset_from_local_datetime(&before) {
                chrono::LocalResult::Single(o) | chrono::LocalResult::Ambiguous(o, _) => o.fix(),
                chrono::LocalResult::None => return Err(out_of_range()),
            }
        }
    };
    micros
        .checked_sub(i64::from(offset.local_minus_utc()) * 1_000_000)
        .ok_or_else(out_of_range)
}
