//! Pass one: validate every record, hash the file and infer column types.
//!
//! A column's type is the narrowest of integer, fixed-point decimal, double,
//! boolean, date, timestamp that every non-empty value parses as; otherwise
//! text. Numbers with leading zeros (zip codes, phone numbers) stay text so
//! nothing is lost. Numbers written with at most 4 decimal places and no
//! exponent (prices, amounts of money) are `numeric(p,s)`, exact: as doubles,
//! their sums printed `953356.8750000012`.

use std::fs::File;
use std::io::BufReader;
use std::path::Path;
use std::sync::Arc;

use chrono::{NaiveDate, NaiveDateTime};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use sha2::{Digest, Sha256};

use super::options::CsvOptions;
use super::tokenizer::{Record, Tokenizer};
use crate::IngestError;

/// Column types inference can choose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ColumnType {
    Int64,
    /// `numeric(precision, scale)`.
    Decimal(u8, u8),
    Float64,
    Boolean,
    Date,
    Timestamp,
    Utf8,
}

impl ColumnType {
    pub(crate) fn arrow(self) -> DataType {
        match self {
            ColumnType::Int64 => DataType::Int64,
            ColumnType::Decimal(p, s) => DataType::Decimal128(p, s as i8),
            ColumnType::Float64 => DataType::Float64,
            ColumnType::Boolean => DataType::Boolean,
            ColumnType::Date => DataType::Date32,
            ColumnType::Timestamp => DataType::Timestamp(TimeUnit::Microsecond, None),
            ColumnType::Utf8 => DataType::Utf8,
        }
    }
}

const CANDIDATES: [ColumnType; 6] = [
    ColumnType::Int64,
    // The scale is the largest seen (see `Candidates::chosen`).
    ColumnType::Decimal(MAX_DECIMAL_PRECISION, MAX_INFERRED_SCALE),
    ColumnType::Float64,
    ColumnType::Boolean,
    ColumnType::Date,
    ColumnType::Timestamp,
];

/// What pass one learned about a file.
#[derive(Debug, Clone)]
pub struct CsvProfile {
    pub schema: SchemaRef,
    pub header: bool,
    /// Data rows (the header excluded).
    pub rows: u64,
    pub bytes: u64,
    /// Lower-case hex SHA-256 of the file's bytes.
    pub sha256: String,
}

/// Decimal places a column may have to be inferred as `numeric`.
const MAX_INFERRED_SCALE: u8 = 4;
/// Digits of the widest `numeric` (Decimal128).
const MAX_DECIMAL_PRECISION: u8 = 38;
/// The precision of an inferred `numeric` when its values are shorter:
/// room for larger values appended later.
const INFERRED_PRECISION: u8 = 18;

/// Per-column bitmask of the candidate types still possible, and the digits
/// seen of the values that are fixed-point numbers.
#[derive(Debug, Clone)]
struct Candidates {
    masks: Vec<u8>,
    /// (largest integer digits, largest scale) of each column's values.
    digits: Vec<(u8, u8)>,
}

impl Candidates {
    fn new(columns: usize) -> Self {
        Candidates {
            masks: vec![(1 << CANDIDATES.len()) - 1; columns],
            digits: vec![(0, 0); columns],
        }
    }

    fn observe(&mut self, column: usize, value: &str) {
        let mask = &mut self.masks[column];
        for (bit, ty) in CANDIDATES.iter().enumerate() {
            if *mask & (1 << bit) != 0 && !parses_as(*ty, value) {
                *mask &= !(1 << bit);
            }
        }
        if let Some((integer, scale)) = fixed_point_digits(value) {
            let seen = &mut self.digits[column];
            *seen = (seen.0.max(integer), seen.1.max(scale));
        }
    }

    fn chosen(&self, column: usize) -> ColumnType {
        let mask = self.masks[column];
        let ty = CANDIDATES
            .iter()
            .enumerate()
            .find(|(bit, _)| mask & (1 << bit) != 0)
            .map(|(_, ty)| *ty)
            .unwrap_or(ColumnType::Utf8);
        match ty {
            ColumnType::Decimal(..) => {
                let (integer, scale) = self.digits[column];
                let precision = (integer + scale).max(INFERRED_PRECISION);
                ColumnType::Decimal(precision.min(MAX_DECIMAL_PRECISION), scale)
            }
            other => other,
        }
    }
}

/// The integer digits and decimal places of a fixed-point number with at
/// most [`MAX_INFERRED_SCALE`] places and no exponent (`-12.50` is (2, 2)).
/// Leading zeros (but a lone `0` before the point) make it an identifier.
fn fixed_point_digits(value: &str) -> Option<(u8, u8)> {
    let body = value.strip_prefix(['-', '+']).unwrap_or(value);
    let (integer, fraction) = body.split_once('.').unwrap_or((body, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if integer.is_empty() && fraction.is_empty()
        || !digits(integer)
        || !digits(fraction)
        || (integer.len() > 1 && integer.starts_with('0'))
        || fraction.len() > usize::from(MAX_INFERRED_SCALE)
    {
        return None;
    }
    let integer = integer.trim_start_matches('0').len();
    (integer + fraction.len() <= usize::from(MAX_DECIMAL_PRECISION))
        .then_some((integer as u8, fraction.len() as u8))
}

/// `value` as a `numeric(precision, scale)`: the unscaled integer, rounded
/// half away from zero to `scale` places (as PostgreSQL rounds input), or
/// `None` if it is not a plain decimal number or has more than `precision`
/// digits.
pub(crate) fn parse_decimal(value: &str, precision: u8, scale: u8) -> Option<i128> {
    let (negative, body) = match value.as_bytes().first()? {
        b'-' => (true, &value[1..]),
        b'+' => (false, &value[1..]),
        _ => (false, value),
    };
    let (integer, fraction) = body.split_once('.').unwrap_or((body, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if (integer.is_empty() && fraction.is_empty()) || !digits(integer) || !digits(fraction) {
        return None;
    }
    let mut unscaled: i128 = 0;
    for b in integer.bytes() {
        unscaled = unscaled
            .checked_mul(10)?
            .checked_add(i128::from(b - b'0'))?;
    }
    let mut places = fraction.bytes();
    for _ in 0..scale {
        let digit = places.next().map_or(0, |b| b - b'0');
        unscaled = unscaled.checked_mul(10)?.checked_add(i128::from(digit))?;
    }
    if places.next().is_some_and(|b| b >= b'5') {
        unscaled = unscaled.checked_add(1)?;
    }
    if unscaled >= 10i128.checked_pow(u32::from(precision))? {
        return None;
    }
    Some(if negative { -unscaled } else { unscaled })
}

/// Whether `value` is a valid literal of `ty`.
fn parses_as(ty: ColumnType, value: &str) -> bool {
    match ty {
        ColumnType::Int64 => parse_int(value).is_some(),
        ColumnType::Decimal(_, scale) => {
            fixed_point_digits(value).is_some_and(|(_, places)| places <= scale)
        }
        ColumnType::Float64 => parse_float(value).is_some(),
        ColumnType::Boolean => parse_bool(value).is_some(),
        ColumnType::Date => parse_date(value).is_some(),
        ColumnType::Timestamp => parse_timestamp(value).is_some(),
        ColumnType::Utf8 => true,
    }
}

pub(crate) fn parse_int(value: &str) -> Option<i64> {
    let digits = value.strip_prefix(['-', '+']).unwrap_or(value);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if digits.len() > 1 && digits.starts_with('0') {
        return None; // keep leading zeros: an identifier, not a number
    }
    value.parse().ok()
}

pub(crate) fn parse_float(value: &str) -> Option<f64> {
    let body = value.strip_prefix(['-', '+']).unwrap_or(value);
    let first = body.bytes().next()?;
    if !(first.is_ascii_digit() || first == b'.') || !body.bytes().any(|b| b.is_ascii_digit()) {
        return None;
    }
    let int_part = body.split(['.', 'e', 'E']).next().unwrap_or("");
    if int_part.len() > 1 && int_part.starts_with('0') {
        return None;
    }
    value.parse().ok()
}

pub(crate) fn parse_bool(value: &str) -> Option<bool> {
    match value.len() {
        1..=5 => match value.to_ascii_lowercase().as_str() {
            "true" | "t" | "yes" => Some(true),
            "false" | "f" | "no" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

pub(crate) fn parse_date(value: &str) -> Option<NaiveDate> {
    if value.len() != 10 || value.as_bytes()[4] != b'-' {
        return None;
    }
    NaiveDate::parse_from_str(value, "%Y-%m-%d").ok()
}

pub(crate) fn parse_timestamp(value: &str) -> Option<NaiveDateTime> {
    if value.len() < 10 || value.as_bytes()[4] != b'-' {
        return None;
    }
    if value.len() == 10 {
        return parse_date(value).and_then(|d| d.and_hms_opt(0, 0, 0));
    }
    let fmt = match value.as_bytes()[10] {
        b'T' => "%Y-%m-%dT%H:%M:%S%.f",
        b' ' => "%Y-%m-%d %H:%M:%S%.f",
        _ => return None,
    };
    NaiveDateTime::parse_from_str(value, fmt)
        .or_else(|_| NaiveDateTime::parse_from_str(value, &fmt.replace(":%S%.f", "")))
        .ok()
}

/// Column names from a header row, made SQL-friendly: lower case, runs of
/// other characters become `_`, duplicates get a numeric suffix.
pub(crate) fn column_names(raw: &[String]) -> Vec<String> {
    let mut names: Vec<String> = Vec::with_capacity(raw.len());
    for (i, r) in raw.iter().enumerate() {
        let mut name = String::new();
        for c in r.trim().chars() {
            if c.is_alphanumeric() {
                name.extend(c.to_lowercase());
            } else if !name.ends_with('_') {
                name.push('_');
            }
        }
        let mut name = name.trim_matches('_').to_string();
        if name.is_empty() {
            name = format!("column{}", i + 1);
        } else if name.starts_with(|c: char| c.is_ascii_digit()) {
            name = format!("_{name}");
        }
        let base = name.clone();
        let mut n = 2;
        while names.contains(&name) {
            name = format!("{base}_{n}");
            n += 1;
        }
        names.push(name);
    }
    names
}

/// The field text of `record[i]`, checked as UTF-8; `None` for NULL.
pub(crate) fn field_text<'a>(
    record: &'a Record,
    i: usize,
    null: Option<&str>,
    file: &str,
) -> Result<Option<&'a str>, IngestError> {
    let bytes = record.field(i);
    let text = std::str::from_utf8(bytes).map_err(|_| IngestError::InvalidEncoding {
        file: file.to_string(),
        line: record.line,
        field: i + 1,
    })?;
    if record.was_quoted(i) {
        return Ok(Some(text));
    }
    if text.is_empty() || null.is_some_and(|n| n == text) {
        return Ok(None);
    }
    Ok(Some(text))
}

pub(crate) fn open(path: &Path, display: &str) -> Result<BufReader<File>, IngestError> {
    let file = File::open(path).map_err(|source| IngestError::Io {
        file: display.to_string(),
        source,
    })?;
    Ok(BufReader::with_capacity(1 << 20, file))
}

/// Reads the whole file once: validates it, hashes it, infers its schema.
/// `display` is the name used in error messages (the path as the user gave it).
pub fn profile(
    path: &Path,
    display: &str,
    options: &CsvOptions,
) -> Result<CsvProfile, IngestError> {
    let mut tokenizer = Tokenizer::new(
        open(path, display)?,
        display,
        options.delimiter,
        options.quote,
    );
    let mut hasher = Sha256::new();
    let mut hash = |bytes: &[u8]| hasher.update(bytes);
    let mut record = Record::default();
    let null = options.null.as_deref();

    if !tokenizer.next_record(&mut record, &mut hash)? {
        return Err(IngestError::Malformed {
            file: display.to_string(),
            line: 1,
            message: "the file is empty: no header and no rows".into(),
        });
    }
    let columns = record.len();
    let mut first_row = Vec::with_capacity(columns);
    for i in 0..columns {
        first_row.push(field_text(&record, i, null, display)?.map(str::to_string));
    }

    let mut candidates = Candidates::new(columns);
    let mut seen_value = vec![false; columns];
    let mut rows: u64 = 0;
    while tokenizer.next_record(&mut record, &mut hash)? {
        if record.len() != columns {
            return Err(IngestError::Malformed {
                file: display.to_string(),
                line: record.line,
                message: format!(
                    "expected {columns} fields (as in the first row), found {}",
                    record.len()
                ),
            });
        }
        for (i, seen) in seen_value.iter_mut().enumerate() {
            if let Some(text) = field_text(&record, i, null, display)? {
                *seen = true;
                candidates.observe(i, text);
            }
        }
        rows += 1;
    }

    let header = options
        .header
        .unwrap_or_else(|| looks_like_header(&first_row, &candidates, &seen_value, rows));
    let names = if header {
        let raw: Vec<String> = first_row
            .iter()
            .map(|v| v.clone().unwrap_or_default())
            .collect();
        column_names(&raw)
    } else {
        for (i, value) in first_row.iter().enumerate() {
            if let Some(v) = value {
                seen_value[i] = true;
                candidates.observe(i, v);
            }
        }
        rows += 1;
        (1..=columns).map(|i| format!("column{i}")).collect()
    };

    let fields: Vec<Field> = names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let ty = if seen_value[i] {
                candidates.chosen(i)
            } else {
                ColumnType::Utf8
            };
            Field::new(name, ty.arrow(), true)
        })
        .collect();
    let bytes = tokenizer.bytes_read;
    drop(tokenizer);
    Ok(CsvProfile {
        schema: Arc::new(Schema::new(fields)),
        header,
        rows,
        bytes,
        sha256: hex::encode(hasher.finalize()),
    })
}

/// A first row is a header when some column is typed below it but its first
/// value does not parse as that type, or, for an all-text file, when its values
/// are all present and distinct.
fn looks_like_header(
    first: &[Option<String>],
    candidates: &Candidates,
    seen_value: &[bool],
    rows: u64,
) -> bool {
    if first.iter().any(Option::is_none) {
        return false;
    }
    if rows == 0 {
        return true;
    }
    let mut any_typed = false;
    for (i, value) in first.iter().enumerate() {
        let ty = candidates.chosen(i);
        if seen_value[i] && ty != ColumnType::Utf8 {
            any_typed = true;
            if let Some(v) = value
                && !parses_as(ty, v)
            {
                return true;
            }
        }
    }
    if any_typed {
        return false;
    }
    let mut distinct: Vec<&String> = first.iter().flatten().collect();
    distinct.sort();
    distinct.dedup();
    distinct.len() == first.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_point_numbers() {
        assert_eq!(fixed_point_digits("19.99"), Some((2, 2)));
        assert_eq!(fixed_point_digits("-0.5"), Some((0, 1)));
        assert_eq!(fixed_point_digits(".25"), Some((0, 2)));
        assert_eq!(fixed_point_digits("7"), Some((1, 0)));
        for not_fixed in [
            "1e3", "0.123456", "007.5", "1.2.3", "-", ".", "inf", "NaN", "",
        ] {
            assert_eq!(fixed_point_digits(not_fixed), None, "{not_fixed}");
        }
        assert_eq!(parse_decimal("19.99", 18, 2), Some(1999));
        assert_eq!(parse_decimal("-1.005", 18, 2), Some(-101));
        assert_eq!(parse_decimal("1.004", 18, 2), Some(100));
        assert_eq!(parse_decimal("3", 18, 2), Some(300));
        assert_eq!(parse_decimal("99.995", 4, 2), None);
        assert_eq!(parse_decimal("1e3", 18, 2), None);
        assert_eq!(parse_decimal("+.5", 18, 1), Some(5));
    }

    #[test]
    fn value_parsers() {
        assert_eq!(parse_int("-42"), Some(-42));
        assert_eq!(parse_int("007"), None);
        assert_eq!(parse_int("0"), Some(0));
        assert_eq!(parse_float("3.5"), Some(3.5));
        assert_eq!(parse_float("1e3"), Some(1000.0));
        assert_eq!(parse_float("abc"), None);
        assert_eq!(parse_float("inf"), None);
        assert_eq!(parse_bool("T"), Some(true));
        assert!(parse_date("2024-02-29").is_some());
        assert!(parse_date("2023-02-29").is_none());
        assert!(parse_timestamp("2024-01-02 03:04:05").is_some());
        assert!(parse_timestamp("2024-01-02T03:04:05.123").is_some());
        assert!(parse_timestamp("2024-01-02 03:04").is_some());
    }

    #[test]
    fn header_names_are_sql_friendly() {
        let names = column_names(&[
            "First Name".into(),
            "e-mail".into(),
            "first name".into(),
            "".into(),
            "2nd".into(),
        ]);
        assert_eq!(
            names,
            vec!["first_name", "e_mail", "first_name_2", "column4", "_2nd"]
        );
    }
}
