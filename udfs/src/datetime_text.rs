//! PostgreSQL's text form of dates and timestamps (`DateStyle` ISO, the
//! default): `2024-01-02`, `2024-01-02 11:30:00.5`. The wire encoder prints
//! result values with it and `timestamp::text` casts produce it, so a
//! timestamp reads the same whether it is sent or cast.

use std::fmt::Write;

use chrono::{Datelike, NaiveDate, NaiveDateTime, Timelike};

fn push_digits(out: &mut impl Write, value: u32, width: usize) {
    let mut buf = [b'0'; 10];
    let mut v = value;
    let mut i = buf.len();
    while (v > 0 || buf.len() - i < width) && i > 0 {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
    }
    // Only ASCII digits were written.
    let _ = out.write_str(std::str::from_utf8(&buf[i..]).unwrap_or_default());
}

/// `2024-01-02`; years outside 1..=9999 fall back to chrono's formatting.
pub fn write_date(out: &mut impl Write, d: &NaiveDate) {
    if (1..=9999).contains(&d.year()) {
        push_digits(out, d.year() as u32, 4);
        let _ = out.write_char('-');
        push_digits(out, d.month(), 2);
        let _ = out.write_char('-');
        push_digits(out, d.day(), 2);
    } else {
        let _ = write!(out, "{}", d.format("%Y-%m-%d"));
    }
}

/// `2024-01-02 11:30:00.5`: fraction only when non-zero, trailing zeros cut.
pub fn write_timestamp(out: &mut impl Write, t: &NaiveDateTime) {
    write_date(out, &t.date());
    let _ = out.write_char(' ');
    push_digits(out, t.hour(), 2);
    let _ = out.write_char(':');
    push_digits(out, t.minute(), 2);
    let _ = out.write_char(':');
    push_digits(out, t.second(), 2);
    let mut micros = t.nanosecond() / 1000;
    if micros > 0 {
        let mut width = 6;
        while micros.is_multiple_of(10) {
            micros /= 10;
            width -= 1;
        }
        let _ = out.write_char('.');
        push_digits(out, micros, width);
    }
}
