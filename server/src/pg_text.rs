//! Values whose Postgres text form differs from pgwire's default rendering:
//! floats (`7`, not `7.0`; `1e+20`) and timestamps (no `.000000`).
//! Binary encoding is delegated unchanged.

use std::error::Error;

use bytes::{BufMut, BytesMut};
use chrono::{DateTime, NaiveDateTime, Timelike, Utc};
use pgwire::types::ToSqlText;
use pgwire::types::format::FormatOptions;
use postgres_types::{IsNull, ToSql, Type, to_sql_checked};

type BoxError = Box<dyn Error + Sync + Send>;

/// Postgres `float8out`/`float4out`: shortest round-trip digits, exponent
/// form below 1e-4 or from 10^`max_digits` up.
fn float_text(value: f64, shortest: String, max_digits: i32) -> String {
    if value.is_nan() {
        return "NaN".into();
    }
    if value.is_infinite() {
        return if value > 0.0 { "Infinity" } else { "-Infinity" }.into();
    }
    if value == 0.0 {
        return if value.is_sign_negative() { "-0" } else { "0" }.into();
    }
    let sci = format!("{:e}", shortest.parse::<f64>().unwrap_or(value));
    let (mantissa, exponent) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    if exponent < -4 || exponent >= max_digits {
        let sign = if exponent < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exponent.abs())
    } else {
        shortest
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

/// `2024-01-02 11:30:00.5`: fraction only when non-zero, trailing zeros cut.
fn timestamp_text(t: &NaiveDateTime) -> String {
    let base = t.format("%Y-%m-%d %H:%M:%S").to_string();
    let micros = t.nanosecond() / 1000;
    if micros == 0 {
        base
    } else {
        let fraction = format!("{micros:06}");
        format!("{base}.{}", fraction.trim_end_matches('0'))
    }
}

/// A newtype over `$inner`: binary form delegated, text form `$text`.
macro_rules! postgres_text_form {
    ($outer:ty, $inner:ty, |$v:ident| $text:expr) => {
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
                let $v = &self.0;
                out.put_slice($text.as_bytes());
                Ok(IsNull::No)
            }
        }
    };
}

postgres_text_form!(Float8, f64, |v| float_text(*v, v.to_string(), 15));
postgres_text_form!(Float4, f32, |v| float_text(*v as f64, v.to_string(), 6));
postgres_text_form!(Timestamp, NaiveDateTime, |v| timestamp_text(v));
postgres_text_form!(TimestampTz, DateTime<Utc>, |v| format!(
    "{}+00",
    timestamp_text(&v.naive_utc())
));

#[cfg(test)]
mod tests {
    use super::*;

    fn f8(v: f64) -> String {
        float_text(v, v.to_string(), 15)
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
        assert_eq!(float_text(1e6, 1e6f32.to_string(), 6), "1e+06");
    }

    #[test]
    fn timestamps_print_like_postgres() {
        let t = NaiveDateTime::parse_from_str("2024-01-02 11:30:00.500", "%Y-%m-%d %H:%M:%S%.f")
            .unwrap();
        assert_eq!(timestamp_text(&t), "2024-01-02 11:30:00.5");
        let t = NaiveDateTime::parse_from_str("2024-01-02 11:30:00", "%Y-%m-%d %H:%M:%S").unwrap();
        assert_eq!(timestamp_text(&t), "2024-01-02 11:30:00");
    }
}
