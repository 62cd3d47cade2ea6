//! `age(timestamp, timestamp) -> interval` and `age(timestamp)` (from today's
//! midnight, UTC): PostgreSQL's symbolic difference in years, months, days
//! and time, counted the way a person counts an age (`age('2025-03-04',
//! '2024-01-31')` is `1 year 1 mon 4 days`), not a number of seconds. Dates
//! are taken at midnight; `timestamptz` in UTC, the sessions' time zone.

use std::sync::Arc;

use chrono::{Datelike, NaiveDateTime, Timelike};
use datafusion::arrow::array::{Array, AsArray, IntervalMonthDayNanoArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{
    DataType, IntervalMonthDayNano, IntervalUnit, TimeUnit, TimestampMicrosecondType,
};
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Age {
    signature: Signature,
}

pub fn age() -> ScalarUDF {
    ScalarUDF::new_from_impl(Age {
        signature: Signature::variadic_any(Volatility::Stable),
    })
}

fn is_leap(year: i32) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i32, month: u32) -> i64 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if is_leap(year) => 29,
        _ => 28,
    }
}

/// PostgreSQL's `timestamp_age`: field-wise differences, borrowing from the
/// next larger field, months borrowing the length of the earlier date's
/// month; computed on the absolute difference, then signed.
pub(crate) fn symbolic_age(t1: &NaiveDateTime, t2: &NaiveDateTime) -> IntervalMonthDayNano {
    let flip = t1 < t2;
    let sign = if flip { -1 } else { 1 };
    let mut usec = sign * (i64::from(t1.nanosecond() / 1000) - i64::from(t2.nanosecond() / 1000));
    let mut sec = sign * (i64::from(t1.second()) - i64::from(t2.second()));
    let mut min = sign * (i64::from(t1.minute()) - i64::from(t2.minute()));
    let mut hour = sign * (i64::from(t1.hour()) - i64::from(t2.hour()));
    let mut mday = sign * (i64::from(t1.day()) - i64::from(t2.day()));
    let mut mon = sign * (i64::from(t1.month()) - i64::from(t2.month()));
    let mut year = sign * (i64::from(t1.year()) - i64::from(t2.year()));
    while usec < 0 {
        usec += 1_000_000;
        sec -= 1;
    }
    while sec < 0 {
        sec += 60;
        min -= 1;
    }
    while min < 0 {
        min += 60;
        hour -= 1;
    }
    while hour < 0 {
        hour += 24;
        mday -= 1;
    }
    while mday < 0 {
        let from = if flip { t1 } else { t2 };
        mday += days_in_month(from.year(), from.month());
        mon -= 1;
    }
    while mon < 0 {
        mon += 12;
        year -= 1;
    }
    let micros = ((hour * 60 + min) * 60 + sec) * 1_000_000 + usec;
    IntervalMonthDayNano::new(
        (sign * (year * 12 + mon)) as i32,
        (sign * mday) as i32,
        sign * micros * 1000,
    )
}

impl ScalarUDFImpl for Age {
    fn name(&self) -> &str {
        "age"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        let temporal = |t: &DataType| {
            matches!(
                t,
                DataType::Date32 | DataType::Date64 | DataType::Timestamp(..) | DataType::Null
            )
        };
        if (1..=2).contains(&arg_types.len()) && arg_types.iter().all(temporal) {
            return Ok(DataType::Interval(IntervalUnit::MonthDayNano));
        }
        Err(DataFusionError::Plan(format!(
            "age takes one or two dates or timestamps, not ({})",
            arg_types
                .iter()
                .map(|t| t.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let micros = |arg: &ColumnarValue| -> Result<_> {
            let array = arg.to_array(rows)?;
            let zone = match array.data_type() {
                DataType::Timestamp(_, Some(_)) => Some(Arc::from("UTC")),
                _ => None,
            };
            Ok(cast(
                &array,
                &DataType::Timestamp(TimeUnit::Microsecond, zone),
            )?)
        };
        let (later, earlier) = match args.args.as_slice() {
            [only] => (None, micros(only)?),
            [a, b] => (Some(micros(a)?), micros(b)?),
            _ => {
                return Err(DataFusionError::Plan(
                    "age takes one or two arguments".into(),
                ));
            }
        };
        let midnight = chrono::Utc::now()
            .date_naive()
            .and_hms_opt(0, 0, 0)
            .unwrap_or_default();
        let earlier = earlier.as_primitive::<TimestampMicrosecondType>();
        let later = later
            .as_ref()
            .map(|l| l.as_primitive::<TimestampMicrosecondType>());
        let at =
            |micros: i64| chrono::DateTime::from_timestamp_micros(micros).map(|t| t.naive_utc());
        let out: IntervalMonthDayNanoArray = (0..rows)
            .map(|row| {
                if earlier.is_null(row) || later.is_some_and(|l| l.is_null(row)) {
                    return None;
                }
                let t1 = match later {
                    Some(l) => at(l.value(row))?,
                    None => midnight,
                };
                Some(symbolic_age(&t1, &at(earlier.value(row))?))
            })
            .collect();
        Ok(ColumnarValue::Array(Arc::new(out)))
    }
}

#[cfg(test)]
mod tests {
    use super::symbolic_age;
    use chrono::NaiveDateTime;

    fn t(text: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S").expect("timestamp")
    }

    #[test]
    fn ages_as_postgresql_counts_them() {
        let a = symbolic_age(&t("2025-03-04 10:00:00"), &t("2024-01-31 12:30:00"));
        assert_eq!(
            (a.months, a.days, a.nanoseconds),
            (13, 3, 77_400_000_000_000)
        );
        let a = symbolic_age(&t("2024-01-31 00:00:00"), &t("2025-03-04 00:00:00"));
        assert_eq!((a.months, a.days, a.nanoseconds), (-13, -4, 0));
        let a = symbolic_age(&t("2025-03-04 00:00:00"), &t("2024-02-29 00:00:00"));
        assert_eq!((a.months, a.days, a.nanoseconds), (12, 4, 0));
    }
}
