//! Postgres `COPY ... FROM STDIN` data (text and CSV formats) into Arrow;
//! the binary format is [`crate::pg_copy_binary`]'s.
//!
//! Fields are first collected as text, then cast to the target table's types;
//! a value that does not cast is reported with its line and column.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, StringBuilder};
use datafusion::arrow::compute::{CastOptions, cast_with_options};
use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;

use crate::IngestError;
use crate::csv::{Record, Tokenizer};

/// The wire format of the copied data.
#[derive(Debug, Clone, PartialEq)]
pub enum CopyInFormat {
    /// Tab-separated (by default), backslash escapes, `\N` for NULL.
    Text { delimiter: u8, null: String },
    /// RFC 4180 CSV; unquoted `null` text is NULL, a quoted empty field is ''.
    Csv {
        delimiter: u8,
        quote: u8,
        null: String,
        header: bool,
    },
    /// PostgreSQL's binary format (see [`crate::pg_copy_binary`]).
    Binary,
}

const SOURCE: &str = "STDIN";

/// Decodes all of `data` into one batch typed as `schema`.
pub fn decode(
    data: &[u8],
    format: &CopyInFormat,
    schema: &SchemaRef,
) -> Result<RecordBatch, IngestError> {
    let columns = schema.fields().len();
    let mut builders: Vec<StringBuilder> = (0..columns).map(|_| StringBuilder::new()).collect();
    let mut lines: Vec<u64> = Vec::new();
    match format {
        CopyInFormat::Text { delimiter, null } => {
            decode_text(data, *delimiter, null, &mut builders, &mut lines)?
        }
        CopyInFormat::Csv {
            delimiter,
            quote,
            null,
            header,
        } => decode_csv(
            data,
            *delimiter,
            *quote,
            null,
            *header,
            &mut builders,
            &mut lines,
        )?,
        CopyInFormat::Binary => return crate::pg_copy_binary::decode(data, schema),
    }
    let mut arrays: Vec<ArrayRef> = Vec::with_capacity(columns);
    for (i, mut builder) in builders.into_iter().enumerate() {
        let text: ArrayRef = Arc::new(builder.finish());
        let field = schema.field(i);
        arrays.push(cast_column(&text, field.data_type(), field.name(), &lines)?);
    }
    Ok(RecordBatch::try_new(schema.clone(), arrays)?)
}

/// Casts a text column; on failure finds the first value that did not cast.
fn cast_column(
    text: &ArrayRef,
    to: &DataType,
    name: &str,
    lines: &[u64],
) -> Result<ArrayRef, IngestError> {
    if to == &DataType::Utf8 {
        return Ok(text.clone());
    }
    if crate::pg_array::is_numeric_list(to)
        && let Some(strings) = text
            .as_any()
            .downcast_ref::<datafusion::arrow::array::StringArray>()
    {
        return crate::pg_array::cast_text_to_list(strings, to).map_err(|(row, message)| {
            IngestError::BadValue {
                file: SOURCE.into(),
                line: lines.get(row).copied().unwrap_or(0),
                message: format!("column {name}: {message}"),
            }
        });
    }
    let safe = CastOptions {
        safe: true,
        ..Default::default()
    };
    let cast = cast_with_options(text, to, &safe)?;
    if cast.null_count() == text.null_count() {
        return Ok(cast);
    }
    let strings = text
        .as_any()
        .downcast_ref::<datafusion::arrow::array::StringArray>();
    for row in 0..text.len() {
        if !text.is_null(row) && cast.is_null(row) {
            let value = strings
                .map(|s| s.value(row).to_string())
                .unwrap_or_default();
            return Err(IngestError::BadValue {
                file: SOURCE.into(),
                line: lines.get(row).copied().unwrap_or(0),
                message: format!("invalid input for column {name} of type {to}: \"{value}\""),
            });
        }
    }
    Ok(cast)
}

fn wrong_count(line: u64, expected: usize, found: usize) -> IngestError {
    IngestError::Malformed {
        file: SOURCE.into(),
        line,
        message: format!("expected {expected} columns, found {found}"),
    }
}

fn decode_csv(
    data: &[u8],
    delimiter: u8,
    quote: u8,
    null: &str,
    header: bool,
    builders: &mut [StringBuilder],
    lines: &mut Vec<u64>,
) -> Result<(), IngestError> {
    let mut tokenizer = Tokenizer::new(data, SOURCE, delimiter, quote);
    let mut record = Record::default();
    let mut first = true;
    while tokenizer.next_record(&mut record, &mut |_| {})? {
        if first && header {
            first = false;
            continue;
        }
        first = false;
        if record.len() == 1 && record.field(0) == b"\\." && !record.was_quoted(0) {
            break; // end-of-data marker from old clients
        }
        if record.len() != builders.len() {
            return Err(wrong_count(record.line, builders.len(), record.len()));
        }
        for (i, builder) in builders.iter_mut().enumerate() {
            let bytes = record.field(i);
            let text = std::str::from_utf8(bytes).map_err(|_| IngestError::InvalidEncoding {
                file: SOURCE.into(),
                line: record.line,
                field: i + 1,
            })?;
            if !record.was_quoted(i) && text == null {
                builder.append_null();
            } else {
                builder.append_value(text);
            }
        }
        lines.push(record.line);
    }
    Ok(())
}

fn decode_text(
    data: &[u8],
    delimiter: u8,
    null: &str,
    builders: &mut [StringBuilder],
    lines: &mut Vec<u64>,
) -> Result<(), IngestError> {
    for (index, raw_line) in data.split(|b| *b == b'\n').enumerate() {
        let line_no = index as u64 + 1;
        let raw_line = raw_line.strip_suffix(b"\r").unwrap_or(raw_line);
        if raw_line == b"\\." {
            break;
        }
        if raw_line.is_empty() && index + 1 == data.split(|b| *b == b'\n').count() {
            break; // the final newline
        }
        let fields: Vec<&[u8]> = raw_line.split(|b| *b == delimiter).collect();
        if fields.len() != builders.len() {
            return Err(wrong_count(line_no, builders.len(), fields.len()));
        }
        for (i, (builder, raw)) in builders.iter_mut().zip(fields).enumerate() {
            if raw == null.as_bytes() {
                builder.append_null();
                continue;
            }
            let bytes = unescape(raw);
            let text = std::str::from_utf8(&bytes).map_err(|_| IngestError::InvalidEncoding {
                file: SOURCE.into(),
                line: line_no,
                field: i + 1,
            })?;
            builder.append_value(text);
        }
        lines.push(line_no);
    }
    Ok(())
}

/// Undoes COPY text escapes: `\n \r \t \b \f \v \\`, octal `\NNN`, hex `\xHH`.
fn unescape(raw: &[u8]) -> Vec<u8> {
    if !raw.contains(&b'\\') {
        return raw.to_vec();
    }
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        let b = raw[i];
        if b != b'\\' || i + 1 == raw.len() {
            out.push(b);
            i += 1;
            continue;
        }
        let next = raw[i + 1];
        i += 2;
        match next {
            b'n' => out.push(b'\n'),
            b'r' => out.push(b'\r'),
            b't' => out.push(b'\t'),
            b'b' => out.push(8),
            b'f' => out.push(12),
            b'v' => out.push(11),
            b'x' => {
                let hex: Vec<u8> = raw[i..]
                    .iter()
                    .take(2)
                    .take_while(|c| c.is_ascii_hexdigit())
                    .copied()
                    .collect();
                if hex.is_empty() {
                    out.push(b'x');
                } else {
                    i += hex.len();
                    let s = std::str::from_utf8(&hex).unwrap_or("0");
                    out.push(u8::from_str_radix(s, 16).unwrap_or(0));
                }
            }
            b'0'..=b'7' => {
                let mut value: u32 = (next - b'0') as u32;
                let mut digits = 1;
                while digits < 3 && i < raw.len() && (b'0'..=b'7').contains(&raw[i]) {
                    value = value * 8 + (raw[i] - b'0') as u32;
                    i += 1;
                    digits += 1;
                }
                out.push((value & 0xff) as u8);
            }
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::datatypes::{Field, Schema};

    fn schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, true),
            Field::new("name", DataType::Utf8, true),
        ]))
    }

    #[test]
    fn text_format_with_escapes_and_nulls() {
        let fmt = CopyInFormat::Text {
            delimiter: b'\t',
            null: "\\N".into(),
        };
        let b = decode(b"1\ta\\tb\n2\t\\N\n\\.\n", &fmt, &schema()).unwrap();
        assert_eq!(b.num_rows(), 2);
        assert_eq!(b.column(1).null_count(), 1);
    }

    #[test]
    fn csv_with_header_and_bad_value_line() {
        let fmt = CopyInFormat::Csv {
            delimiter: b',',
            quote: b'"',
            null: String::new(),
            header: true,
        };
        let b = decode(b"id,name\n1,\"x,y\"\n2,\n", &fmt, &schema()).unwrap();
        assert_eq!(b.num_rows(), 2);
        let err = decode(b"id,name\n1,a\nzz,b\n", &fmt, &schema())
            .unwrap_err()
            .to_string();
        assert!(err.contains("STDIN:3"), "{err}");
    }
}
