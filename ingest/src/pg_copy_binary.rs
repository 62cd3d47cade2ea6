//! Postgres binary `COPY ... FROM STDIN (FORMAT binary)` data into Arrow
//! (asyncpg's `copy_records_to_table`, psycopg's binary copy).
//!
//! The stream is the `PGCOPY` signature, flags and a header extension, then
//! one tuple per row (a field count, then each field as a length and the
//! value in the type's binary send format, -1 for NULL), ended by a field
//! count of -1. Each value is read as the target column's PostgreSQL type
//! (the type lakehouse shows the client for the column's Arrow type).

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, new_null_array};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, SchemaRef, TimeUnit};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::ScalarValue;

use crate::IngestError;

const SIGNATURE: &[u8] = b"PGCOPY\n\xff\r\n\0";
const SOURCE: &str = "STDIN";
/// Days and microseconds from 1970-01-01 (Arrow) to 2000-01-01 (PostgreSQL).
const EPOCH_DAYS: i32 = 10_957;
const EPOCH_MICROS: i64 = 946_684_800_000_000;

/// Decodes all of `data` into one batch typed as `schema`.
pub fn decode(data: &[u8], schema: &SchemaRef) -> Result<RecordBatch, IngestError> {
    let mut input = Reader {
        data,
        at: 0,
        row: 0,
    };
    if input.take(SIGNATURE.len())? != SIGNATURE {
        return Err(input.malformed("COPY file signature not recognized"));
    }
    let flags = input.i32()?;
    if flags & (1 << 16) != 0 {
        return Err(input.malformed("COPY file has OIDs, which lakehouse tables do not"));
    }
    let extension = input.i32()?;
    input.take(usize::try_from(extension).map_err(|_| input.malformed("bad header length"))?)?;
    let columns = schema.fields().len();
    let mut values: Vec<Vec<ScalarValue>> = vec![Vec::new(); columns];
    loop {
        input.row += 1;
        let count = input.i16()?;
        if count == -1 {
            break;
        }
        if count as usize != columns {
            return Err(input.malformed(&format!(
                "row has {count} fields, the table copied into has {columns}"
            )));
        }
        for (field, column) in schema.fields().iter().zip(values.iter_mut()) {
            let length = input.i32()?;
            let value = if length < 0 {
                null_of(field.data_type())?
            } else {
                let bytes = input.take(length as usize)?;
                value_of(bytes, field, input.row)?
            };
            column.push(value);
        }
    }
    let arrays = schema
        .fields()
        .iter()
        .zip(values)
        .map(|(field, column)| -> Result<ArrayRef, IngestError> {
            if column.is_empty() {
                return Ok(new_null_array(field.data_type(), 0));
            }
            let array = ScalarValue::iter_to_array(column).map_err(unexpected)?;
            // Text arrives as Utf8, lists with Arrow's default element field.
            if array.data_type() == field.data_type() {
                Ok(array)
            } else {
                Ok(cast(&array, field.data_type())?)
            }
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(RecordBatch::try_new(schema.clone(), arrays)?)
}

/// Reads the stream front to back; `row` numbers the tuple being read.
struct Reader<'a> {
    data: &'a [u8],
    at: usize,
    row: u64,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], IngestError> {
        let end = self
            .at
            .checked_add(n)
            .filter(|end| *end <= self.data.len())
            .ok_or_else(|| self.malformed("COPY data ends in the middle of a row"))?;
        let bytes = &self.data[self.at..end];
        self.at = end;
        Ok(bytes)
    }

    fn i16(&mut self) -> Result<i16, IngestError> {
        let b = self.take(2)?;
        Ok(i16::from_be_bytes([b[0], b[1]]))
    }

    fn i32(&mut self) -> Result<i32, IngestError> {
        let b = self.take(4)?;
        Ok(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn malformed(&self, message: &str) -> IngestError {
        IngestError::Malformed {
            file: SOURCE.into(),
            line: self.row,
            message: format!("binary COPY row {}: {message}", self.row),
        }
    }
}

/// One non-NULL value of `field`, from its type's binary send format.
fn value_of(bytes: &[u8], field: &Field, row: u64) -> Result<ScalarValue, IngestError> {
    let bad = |what: &str| IngestError::BadValue {
        file: SOURCE.into(),
        line: row,
        message: format!("binary COPY row {row}, column {}: {what}", field.name()),
    };
    let int = |bytes: &[u8]| -> Result<i64, IngestError> {
        Ok(match bytes.len() {
            2 => i16::from_be_bytes([bytes[0], bytes[1]]) as i64,
            4 => i32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) as i64,
            8 => i64::from_be_bytes(fixed(bytes)),
            n => return Err(bad(&format!("an integer of {n} bytes"))),
        })
    };
    Ok(match field.data_type() {
        DataType::Boolean => match bytes {
            [b] => ScalarValue::Boolean(Some(*b != 0)),
            _ => return Err(bad("a boolean is one byte")),
        },
        DataType::Int16 => ScalarValue::Int16(Some(
            i16::try_from(int(bytes)?).map_err(|_| bad("smallint out of range"))?,
        )),
        DataType::Int32 => ScalarValue::Int32(Some(
            i32::try_from(int(bytes)?).map_err(|_| bad("integer out of range"))?,
        )),
        DataType::Int64 => ScalarValue::Int64(Some(int(bytes)?)),
        DataType::Float32 => match bytes.len() {
            4 => ScalarValue::Float32(Some(f32::from_be_bytes(fixed(bytes)))),
            _ => return Err(bad("a real is 4 bytes")),
        },
        DataType::Float64 => match bytes.len() {
            8 => ScalarValue::Float64(Some(f64::from_be_bytes(fixed(bytes)))),
            4 => ScalarValue::Float64(Some(f32::from_be_bytes(fixed(bytes)) as f64)),
            _ => return Err(bad("a double precision is 8 bytes")),
        },
        DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8 => {
            let text = std::str::from_utf8(bytes).map_err(|_| bad("invalid UTF-8"))?;
            ScalarValue::Utf8(Some(text.to_string())) // cast to the column's type below
        }
        DataType::Binary => ScalarValue::Binary(Some(bytes.to_vec())),
        DataType::Date32 => {
            let days = i32::from_be_bytes(fixed(
                bytes4(bytes).ok_or_else(|| bad("a date is 4 bytes"))?,
            ));
            ScalarValue::Date32(Some(days.saturating_add(EPOCH_DAYS)))
        }
        DataType::Timestamp(TimeUnit::Microsecond, zone) => {
            if bytes.len() != 8 {
                return Err(bad("a timestamp is 8 bytes"));
            }
            let micros = i64::from_be_bytes(fixed(bytes)).saturating_add(EPOCH_MICROS);
            ScalarValue::TimestampMicrosecond(Some(micros), zone.clone())
        }
        DataType::Decimal128(precision, scale) => ScalarValue::Decimal128(
            Some(
                numeric(bytes, *scale)
                    .ok_or_else(|| bad("numeric out of range, NaN or malformed"))?,
            ),
            *precision,
            *scale,
        ),
        DataType::List(element) => {
            let items = array_elements(bytes).ok_or_else(|| bad("bad array"))?;
            let values = items
                .into_iter()
                .map(|item| match item {
                    Some(b) => value_of(b, element, row),
                    None => null_of(element.data_type()),
                })
                .collect::<Result<Vec<_>, _>>()?;
            ScalarValue::List(ScalarValue::new_list_nullable(
                &values,
                &decoded_type(element.data_type()),
            ))
        }
        other => return Err(bad(&format!("binary COPY into {other} is not supported"))),
    })
}

/// The type [`value_of`] produces for a column of type `to` (strings as
/// Utf8, lists with Arrow's default element field); cast to `to` at the end.
fn decoded_type(to: &DataType) -> DataType {
    match to {
        DataType::Utf8View | DataType::LargeUtf8 => DataType::Utf8,
        DataType::List(element) => DataType::List(Arc::new(Field::new_list_field(
            decoded_type(element.data_type()),
            true,
        ))),
        other => other.clone(),
    }
}

/// A NULL of [`decoded_type`]`(to)`.
fn null_of(to: &DataType) -> Result<ScalarValue, IngestError> {
    ScalarValue::try_from(&decoded_type(to)).map_err(unexpected)
}

/// DataFusion failing on values this module built itself.
fn unexpected(e: datafusion::error::DataFusionError) -> IngestError {
    IngestError::Malformed {
        file: SOURCE.into(),
        line: 0,
        message: format!("binary COPY: {e}"),
    }
}

fn bytes4(bytes: &[u8]) -> Option<&[u8]> {
    (bytes.len() == 4).then_some(bytes)
}

/// The first N bytes as an array (callers checked the length).
fn fixed<const N: usize>(bytes: &[u8]) -> [u8; N] {
    let mut out = [0u8; N];
    out.copy_from_slice(&bytes[..N]);
    out
}

/// PostgreSQL's binary numeric (digit count, weight, sign, display scale,
/// then base-10000 digits) as an integer scaled by `scale`; `None` for NaN,
/// infinities, bad data or overflow.
fn numeric(bytes: &[u8], scale: i8) -> Option<i128> {
    let word = |i: usize| -> Option<i16> {
        let b = bytes.get(i * 2..i * 2 + 2)?;
        Some(i16::from_be_bytes([b[0], b[1]]))
    };
    let (ndigits, weight, sign) = (word(0)?, word(1)?, word(2)? as u16);
    if sign != 0x0000 && sign != 0x4000 {
        return None; // NaN or infinity
    }
    // value = sum(digit[i] * 10000^(weight - i)); scaled = value * 10^scale.
    let mut scaled: i128 = 0;
    for i in 0..ndigits as usize {
        let digit = word(4 + i)? as i128;
        let exponent = 4 * (weight as i32 - i as i32) + scale as i32;
        let term = if exponent >= 0 {
            digit.checked_mul(10i128.checked_pow(exponent as u32)?)?
        } else {
            // Digits below the column's scale are cut off, as a cast would round.
            digit / 10i128.checked_pow((-exponent) as u32).unwrap_or(i128::MAX)
        };
        scaled = scaled.checked_add(term)?;
    }
    Some(if sign == 0x4000 { -scaled } else { scaled })
}

/// The elements of a one-dimensional binary array (`None` for NULL ones);
/// an empty array has no dimensions.
fn array_elements(bytes: &[u8]) -> Option<Vec<Option<&[u8]>>> {
    let mut input = Reader {
        data: bytes,
        at: 0,
        row: 0,
    };
    let dimensions = input.i32().ok()?;
    let _has_nulls = input.i32().ok()?;
    let _element_type = input.i32().ok()?;
    match dimensions {
        0 => return Some(Vec::new()),
        1 => {}
        _ => return None,
    }
    let length = input.i32().ok()?;
    let _lower_bound = input.i32().ok()?;
    // Each element takes at least its 4-byte length: a client's count
    // cannot make this allocate more than the data could hold.
    let mut items = Vec::with_capacity((length.max(0) as usize).min(bytes.len() / 4));
    for _ in 0..length {
        let n = input.i32().ok()?;
        items.push(if n < 0 {
            None
        } else {
            Some(input.take(n as usize).ok()?)
        });
    }
    Some(items)
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::array::{Array, AsArray};
    use datafusion::arrow::datatypes::{Decimal128Type, Float64Type, Int64Type, Schema};

    use super::*;

    fn field(bytes: &[u8]) -> Vec<u8> {
        let mut out = (bytes.len() as i32).to_be_bytes().to_vec();
        out.extend_from_slice(bytes);
        out
    }

    fn stream(rows: &[Vec<Option<Vec<u8>>>]) -> Vec<u8> {
        let mut out = SIGNATURE.to_vec();
        out.extend_from_slice(&0i32.to_be_bytes());
        out.extend_from_slice(&0i32.to_be_bytes());
        for row in rows {
            out.extend_from_slice(&(row.len() as i16).to_be_bytes());
            for value in row {
                match value {
                    Some(v) => out.extend(field(v)),
                    None => out.extend_from_slice(&(-1i32).to_be_bytes()),
                }
            }
        }
        out.extend_from_slice(&(-1i16).to_be_bytes());
        out
    }

    #[test]
    fn decodes_the_types_asyncpg_sends() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, true),
            Field::new("name", DataType::Utf8, true),
            Field::new("score", DataType::Float64, true),
            Field::new("born", DataType::Date32, true),
            Field::new("price", DataType::Decimal128(10, 2), true),
            Field::new(
                "tags",
                DataType::List(Arc::new(Field::new("item", DataType::Int64, true))),
                true,
            ),
        ]));
        // 12.5 as numeric: 1 digit group "12", then "5000" (weight 0), dscale 1.
        let mut price = Vec::new();
        for w in [2i16, 0, 0, 1, 12, 5000] {
            price.extend_from_slice(&w.to_be_bytes());
        }
        let mut tags = Vec::new();
        for w in [1i32, 0, 20, 2, 1] {
            tags.extend_from_slice(&w.to_be_bytes());
        }
        tags.extend(field(&7i64.to_be_bytes()));
        tags.extend_from_slice(&(-1i32).to_be_bytes());
        let data = stream(&[
            vec![
                Some(1i64.to_be_bytes().to_vec()),
                Some(b"Ann".to_vec()),
                Some(1.5f64.to_be_bytes().to_vec()),
                Some(1i32.to_be_bytes().to_vec()), // 2000-01-02
                Some(price),
                Some(tags),
            ],
            vec![
                Some(2i64.to_be_bytes().to_vec()),
                None,
                None,
                None,
                None,
                None,
            ],
        ]);
        let batch = decode(&data, &schema).unwrap();
        assert_eq!(batch.num_rows(), 2);
        assert_eq!(batch.column(0).as_primitive::<Int64Type>().value(1), 2);
        assert_eq!(batch.column(1).as_string::<i32>().value(0), "Ann");
        assert!(batch.column(1).is_null(1));
        assert_eq!(batch.column(2).as_primitive::<Float64Type>().value(0), 1.5);
        assert_eq!(
            batch
                .column(3)
                .as_primitive::<datafusion::arrow::datatypes::Date32Type>()
                .value(0),
            EPOCH_DAYS + 1
        );
        assert_eq!(
            batch.column(4).as_primitive::<Decimal128Type>().value(0),
            1250
        );
        let tags = batch.column(5).as_list::<i32>().value(0);
        assert_eq!(tags.len(), 2);
        assert!(tags.is_null(1));
    }

    #[test]
    fn truncated_or_foreign_data_is_an_error_not_a_panic() {
        let schema = Arc::new(Schema::new(vec![Field::new("id", DataType::Int64, true)]));
        let data = stream(&[vec![Some(1i64.to_be_bytes().to_vec())]]);
        for cut in 0..data.len() - 1 {
            assert!(decode(&data[..cut], &schema).is_err(), "cut at {cut}");
        }
        assert!(decode(b"id\n1\n", &schema).is_err());
        let wrong_width = stream(&[vec![Some(vec![1, 2, 3])]]);
        assert!(decode(&wrong_width, &schema).is_err());
    }
}
