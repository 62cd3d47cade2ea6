//! Values whose Postgres text form differs from pgwire's default rendering:
//! floats (`7`, not `7.0`; `1e+20`) and timestamps (no `.000000`).
//! Binary encoding is delegated unchanged.

use std::error::Error;

use bytes::{BufMut, BytesMut};
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use lakehouse_udfs::datetime_text::{write_date, write_timestamp};
use pgwire::types::ToSqlText;
use pgwire::types::format::FormatOptions;
use postgres_types::{IsNull, ToSql, Type, to_sql_checked};

type BoxError = Box<dyn Error + Sync + Send>;

/// Postgres `float8out`/`float4out`: shortest round-trip digits, exponent
/// form below 1e-4 or from 10^`max_digits` up.
fn write_float(
    out: &mut BytesMut,
    value: f64,
    shortest: impl std::fmt::Display + std::fmt::LowerExp,
    max_digits: i32,
) {
    use std::fmt::Write;
    if value.is_nan() {
        out.put_slice(b"NaN");
    } else if value.is_infinite() {
        out.put_slice(if value > 0.0 {
            b"Infinity"
        } else {
            b"-Infinity"
        });
    } else if value == 0.0 {
        out.put_slice(if value.is_sign_negative() {
            b"-0"
        } else {
            b"0"
        });
    } else if (1e-4..10f64.powi(max_digits)).contains(&value.abs()) {
        // The common case: plain shortest digits, written straight into `out`.
        let _ = write!(out, "{shortest}");
    } else {
        let sci = format!("{shortest:e}");
        let (mantissa, exponent) = sci.split_once('e').unwrap_or((&sci, "0"));
        let exponent: i32 = exponent.parse().unwrap_or(0);
        let sign = if exponent < 0 { '-' } else { '+' };
        let _ = write!(out, "{mantissa}e{sign}{:02}", exponent.abs());
    }
}

#[derive(Debug)]
pub struct Float8(pub f64);

#[derive(Debug)]
pub struct Float4(pub f32);

/// A timestamp without time zone.
#[derive(Debug)]
pub struct Timestamp(pub NaiveDateTime);

/// A timestamp with time zone, shown in UTC.
#[derive(Debug)]
pub struct TimestampTz(pub DateTime<Utc>);

#[derive(Debug)]
pub struct Date(pub NaiveDate);

/// A newtype over `$inner`: binary form delegated, text form `$text`.
macro_rules! postgres_text_form {
    ($outer:ty, $inner:ty, |$out:ident, $v:ident| $write:expr) => {
        impl ToSql for $outer {
            fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
                self.0.to_sql(ty, out)
            }

            fn accepts(ty: &Type) -> bool {
                <$inner as ToSql>::accepts(ty)
            }

            to_sql_checked!();
        }

        impl ToSqlText for $outer {
            fn to_sql_text(
                &self,
                _ty: &Type,
                out: &mut BytesMut,
                _format: &FormatOptions,
            ) -> Result<IsNull, BoxError> {
                let ($out, $v) = (out, &self.0);
                $write;
                Ok(IsNull::No)
            }
        }
    };
}

/// A PostgreSQL `interval`: months, days and microseconds, kept apart as
/// PostgreSQL keeps them (a month is not 30 days, a day not 24 hours).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interval {
    pub months: i32,
    pub days: i32,
    pub micros: i64,
}

impl Interval {
    /// `interval_out` with `IntervalStyle = postgres`: `1 year 2 mons 3 days
    /// 04:05:06.5`; a component of another sign than the one before it is
    /// signed (`-1 days +02:00:00`); zero is `00:00:00`.
    pub fn postgres_text(&self) -> String {
        let mut out = String::new();
        let mut is_zero = true;
        let mut is_before = false;
        let mut part = |value: i64, unit: &str| {
            if value == 0 {
                return;
            }
            let sign = if is_before && value > 0 { "+" } else { "" };
            let space = if is_zero { "" } else { " " };
            let plural = if value != 1 { "s" } else { "" };
            out.push_str(&format!("{space}{sign}{value} {unit}{plural}"));
            is_before = value < 0;
            is_zero = false;
        };
        part(i64::from(self.months / 12), "year");
        part(i64::from(self.months % 12), "mon");
        part(i64::from(self.days), "day");
        if is_zero || self.micros != 0 {
            let minus = self.micros < 0;
            let total = self.micros.unsigned_abs();
            let (hours, rest) = (total / 3_600_000_000, total % 3_600_000_000);
            let (minutes, rest) = (rest / 60_000_000, rest % 60_000_000);
            let (seconds, fraction) = (rest / 1_000_000, rest % 1_000_000);
            let sign = if minus {
                "-"
            } else if is_before {
                "+"
            } else {
                ""
            };
            let space = if is_zero { "" } else { " " };
            out.push_str(&format!(
                "{space}{sign}{hours:02}:{minutes:02}:{seconds:02}"
            ));
            if fraction != 0 {
                let digits = format!("{fraction:06}");
                out.push('.');
                out.push_str(digits.trim_end_matches('0'));
            }
        }
        out
    }
}

impl ToSql for Interval {
    /// PostgreSQL's binary form: microseconds, days, months.
    fn to_sql(&self, _ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        out.put_i64(self.micros);
        out.put_i32(self.days);
        out.put_i32(self.months);
        Ok(IsNull::No)
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::INTERVAL
    }

    to_sql_checked!();
}

impl ToSqlText for Interval {
    fn to_sql_text(
        &self,
        _ty: &Type,
        out: &mut BytesMut,
        _format: &FormatOptions,
    ) -> Result<IsNull, BoxError> {
        out.put_slice(self.postgres_text().as_bytes());
        Ok(IsNull::No)
    }
}

/// A multi-dimensional array in its text form (`{{1,2},{3,4}}`); its
/// binary form is not supported.
#[derive(Debug)]
pub struct ArrayText(pub String);

impl ToSql for ArrayText {
    fn to_sql(&self, _ty: &Type, _out: &mut BytesMut) -> Result<IsNull, BoxError> {
        Err("the binary format of multi-dimensional arrays is not supported; request text".into())
    }

    fn accepts(_ty: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

impl ToSqlText for ArrayText {
    fn to_sql_text(
        &self,
        _ty: &Type,
        out: &mut BytesMut,
        _format: &FormatOptions,
    ) -> Result<IsNull, BoxError> {
        out.put_slice(self.0.as_bytes());
        Ok(IsNull::No)
    }
}

postgres_text_form!(Float8, f64, |out, v| write_float(out, *v, v, 15));
postgres_text_form!(Float4, f32, |out, v| write_float(out, *v as f64, v, 6));
postgres_text_form!(Date, NaiveDate, |out, v| write_date(out, v));
postgres_text_form!(Timestamp, NaiveDateTime, |out, v| write_timestamp(out, v));
postgres_text_form!(TimestampTz, DateTime<Utc>, |out, v| {
    write_timestamp(out, &v.naive_utc());
    out.put_slice(b"+00")
});

#[cfg(test)]
mod tests {
    use super::*;

    fn f8(v: f64) -> String {
        let mut out = BytesMut::new();
        write_float(&mut out, v, v, 15);
        String::from_utf8(out.to_vec()).unwrap()
    }

    fn ts(t: &NaiveDateTime) -> String {
        let mut out = BytesMut::new();
        write_timestamp(&mut out, t);
        String::from_utf8(out.to_vec()).unwrap()
    }

    #[test]
    fn floats_print_like_postgres() {
        assert_eq!(f8(7.0), "7");
        assert_eq!(f8(3.5), "3.5");
        assert_eq!(f8(0.1 + 0.2), "0.30000000000000004");
        assert_eq!(f8(1e20), "1e+20");
        assert_eq!(f8(1.5e-5), "1.5e-05");
        assert_eq!(f8(123456789012345.0), "123456789012345");
        assert_eq!(f8(f64::NAN), "NaN");
        assert_eq!(f8(f64::NEG_INFINITY), "-Infinity");
        let mut out = BytesMut::new();
        write_float(&mut out, 1e6, 1e6f32, 6);
        assert_eq!(&out[..], b"1e+06");
    }

    #[test]
    fn intervals_print_like_postgres() {
        let i = |months, days, micros| {
            Interval {
                months,
                days,
                micros,
            }
            .postgres_text()
        };
        assert_eq!(i(0, 0, 72_993_000), "00:01:12.993");
        assert_eq!(i(0, 0, 0), "00:00:00");
        assert_eq!(i(14, 3, 14_706_500_000), "1 year 2 mons 3 days 04:05:06.5");
        assert_eq!(i(0, -1, 7_200_000_000), "-1 days +02:00:00");
        assert_eq!(i(-13, 0, 0), "-1 years -1 mons");
        assert_eq!(i(0, 0, -259_200_000_000), "-72:00:00");
        assert_eq!(i(1, 1, 0), "1 mon 1 day");
    }

    #[test]
    fn timestamps_print_like_postgres() {
        let t = NaiveDateTime::parse_from_str("2024-01-02 11:30:00.500", "%Y-%m-%d %H:%M:%S%.f")
            .unwrap();
        assert_eq!(ts(&t), "2024-01-02 11:30:00.5");
        let t = NaiveDateTime::parse_from_str("2024-01-02 11:30:00", "%Y-%m-%d %H:%M:%S").unwrap();
        assert_eq!(ts(&t), "2024-01-02 11:30:00");
        let t = NaiveDateTime::parse_from_str("0099-01-02 00:00:00.000120", "%Y-%m-%d %H:%M:%S%.f")
            .unwrap();
        assert_eq!(ts(&t), "0099-01-02 00:00:00.00012");
    }
}
