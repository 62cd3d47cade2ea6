//! Arrow to Postgres: column types, and values in text or binary format.
//!
//! One code path encodes a cell for both `DataRow` messages and COPY output
//! ([`FieldSink`]), so a value looks the same in `SELECT` and `COPY TO`.

use std::sync::Arc;

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Date32Array, Decimal128Array, Float32Array,
    Float64Array, GenericListArray, Int16Array, Int32Array, Int64Array, LargeStringArray,
    StringArray, StringViewArray, TimestampMicrosecondArray,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, Int32Type, IntervalUnit, Schema, TimeUnit};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions as ArrowFormatOptions};
use datafusion_pg_catalog::pg_catalog::oid_field::OID_ALIAS_KEY;
use pgwire::api::Type;
use pgwire::api::portal::Format;
use pgwire::api::results::{CopyEncoder, DataRowEncoder, FieldInfo};
use pgwire::error::{PgWireError, PgWireResult};
use pgwire::messages::data::DataRow;
use pgwire::types::ToSqlText;
use postgres_types::ToSql;
use rust_decimal::Decimal;

use crate::pg_text;

/// The Postgres type a column of `data_type` is sent as.
pub fn pg_type(data_type: &DataType) -> Type {
    match data_type {
        DataType::Boolean => Type::BOOL,
        DataType::Int8 | DataType::Int16 | DataType::UInt8 => Type::INT2,
        DataType::Int32 | DataType::UInt16 => Type::INT4,
        DataType::Int64 | DataType::UInt32 => Type::INT8,
        DataType::UInt64 | DataType::Decimal128(..) | DataType::Decimal256(..) => Type::NUMERIC,
        DataType::Float16 | DataType::Float32 => Type::FLOAT4,
        DataType::Float64 => Type::FLOAT8,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => Type::TEXT,
        DataType::Binary
        | DataType::LargeBinary
        | DataType::BinaryView
        | DataType::FixedSizeBinary(_) => Type::BYTEA,
        DataType::Date32 | DataType::Date64 => Type::DATE,
        DataType::Timestamp(_, None) => Type::TIMESTAMP,
        DataType::Timestamp(_, Some(_)) => Type::TIMESTAMPTZ,
        DataType::Time32(_) | DataType::Time64(_) => Type::TIME,
        DataType::Interval(_) | DataType::Duration(_) => Type::INTERVAL,
        DataType::Dictionary(_, value) => pg_type(value),
        // An array of arrays is a multi-dimensional array of the same type.
        DataType::List(f) | DataType::LargeList(f) | DataType::FixedSizeList(f, _)
            if is_list(f.data_type()) =>
        {
            pg_type(f.data_type())
        }
        DataType::List(f) | DataType::LargeList(f) | DataType::FixedSizeList(f, _) => {
            match pg_type(f.data_type()) {
                Type::BOOL => Type::BOOL_ARRAY,
                Type::INT2 => Type::INT2_ARRAY,
                Type::INT4 => Type::INT4_ARRAY,
                Type::INT8 => Type::INT8_ARRAY,
                Type::FLOAT4 => Type::FLOAT4_ARRAY,
                Type::FLOAT8 => Type::FLOAT8_ARRAY,
                Type::NUMERIC => Type::NUMERIC_ARRAY,
                Type::DATE => Type::DATE_ARRAY,
                Type::TIMESTAMP => Type::TIMESTAMP_ARRAY,
                Type::TIMESTAMPTZ => Type::TIMESTAMPTZ_ARRAY,
                _ => Type::TEXT_ARRAY,
            }
        }
        _ => Type::TEXT,
    }
}

fn is_list(data_type: &DataType) -> bool {
    matches!(
        data_type,
        DataType::List(_) | DataType::LargeList(_) | DataType::FixedSizeList(..)
    )
}

/// PostgreSQL's text form of an array whose elements are arrays:
/// `{{1,2},{3,4}}`, elements quoted where PostgreSQL quotes them.
fn nested_array_text(values: &ArrayRef) -> PgWireResult<String> {
    let values = match values.data_type() {
        DataType::LargeList(f) | DataType::FixedSizeList(f, _) => {
            cast(values, &DataType::List(f.clone()))
                .map_err(|e| PgWireError::ApiError(Box::new(e)))?
        }
        _ => values.clone(),
    };
    let mut out = String::from("{");
    for i in 0..values.len() {
        if i > 0 {
            out.push(',');
        }
        if values.is_null(i) {
            out.push_str("NULL");
        } else if let DataType::List(_) = values.data_type() {
            out.push_str(&nested_array_text(&values.as_list::<i32>().value(i))?);
        } else {
            let text = display(&values, i)?;
            let plain = !text.is_empty()
                && !text.eq_ignore_ascii_case("null")
                && !text
                    .chars()
                    .any(|c| matches!(c, ',' | '{' | '}' | '"' | '\\') || c.is_whitespace());
            if plain {
                out.push_str(&text);
            } else {
                out.push('"');
                out.push_str(&text.replace('\\', "\\\\").replace('"', "\\\""));
                out.push('"');
            }
        }
    }
    out.push('}');
    Ok(out)
}

/// The `int2vector` columns of pg_catalog (`pg_index.indkey`...) are
/// `int2[]` lists marked with this field metadata; see `lakehouse_catalog::pg_catalog`.
fn is_int2vector(field: &Field) -> bool {
    field
        .metadata()
        .get(lakehouse_catalog::pg_catalog::PG_TYPE_METADATA)
        .map(String::as_str)
        == Some("int2vector")
        && matches!(field.data_type(), DataType::List(_))
}

/// pg_catalog's one-byte `"char"` columns (`pg_type.typtype`...), text in Arrow.
fn is_char(field: &Field) -> bool {
    field
        .metadata()
        .get(lakehouse_catalog::pg_catalog::PG_TYPE_METADATA)
        .map(String::as_str)
        == Some("char")
        && matches!(
            field.data_type(),
            DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8
        )
}

/// pg_catalog's object identifiers (`pg_class.oid`, `pg_attribute.atttypid`...):
/// int4 in Arrow, marked by datafusion-pg-catalog's `pg.oid_alias` or our
/// `pg_type = oid` field metadata. Sent as `oid` as PostgreSQL does: asyncpg,
/// for one, decodes its type-introspection rows with core codecs only.
fn is_oid(field: &Field) -> bool {
    let metadata = field.metadata();
    field.data_type() == &DataType::Int32
        && (metadata.contains_key(OID_ALIAS_KEY)
            || metadata
                .get(lakehouse_catalog::pg_catalog::PG_TYPE_METADATA)
                .map(String::as_str)
                == Some("oid"))
}

/// How [`encode_batch`] writes a column.
#[derive(Clone, Copy)]
enum CellEncoding {
    Arrow,
    Int2Vector,
    Char,
    Oid,
}

impl CellEncoding {
    fn of(field: &Field) -> Self {
        if is_int2vector(field) {
            Self::Int2Vector
        } else if is_char(field) {
            Self::Char
        } else if is_oid(field) {
            Self::Oid
        } else {
            Self::Arrow
        }
    }
}

/// The Postgres type of a result column: its field's, or its Arrow type's.
fn pg_field_type(field: &Field) -> Type {
    match CellEncoding::of(field) {
        CellEncoding::Int2Vector => Type::INT2_VECTOR,
        CellEncoding::Char => Type::CHAR,
        CellEncoding::Oid => Type::OID,
        CellEncoding::Arrow => pg_type(field.data_type()),
    }
}

fn encode_oid<S: FieldSink>(sink: &mut S, column: &ArrayRef, row: usize) -> PgWireResult<()> {
    if column.is_null(row) {
        return sink.put(&None::<u32>);
    }
    // Oids above 2^31 would arrive negative in an int4 column; they are
    // the same 32 bits.
    sink.put(&(column.as_primitive::<Int32Type>().value(row) as u32))
}

/// A `"char"` value: one byte, in text and in binary.
#[derive(Debug)]
struct PgChar(u8);

impl ToSql for PgChar {
    fn to_sql(
        &self,
        _ty: &Type,
        out: &mut bytes::BytesMut,
    ) -> Result<postgres_types::IsNull, Box<dyn std::error::Error + Sync + Send>> {
        out.extend_from_slice(&[self.0]);
        Ok(postgres_types::IsNull::No)
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::CHAR
    }

    postgres_types::to_sql_checked!();
}

impl ToSqlText for PgChar {
    fn to_sql_text(
        &self,
        ty: &Type,
        out: &mut bytes::BytesMut,
        _format_options: &pgwire::types::format::FormatOptions,
    ) -> Result<postgres_types::IsNull, Box<dyn std::error::Error + Sync + Send>> {
        self.to_sql(ty, out)
    }
}

fn encode_char<S: FieldSink>(sink: &mut S, column: &ArrayRef, row: usize) -> PgWireResult<()> {
    if column.is_null(row) {
        return sink.put(&None::<i16>);
    }
    let text = match column.data_type() {
        DataType::Utf8View => column.as_string_view().value(row),
        DataType::LargeUtf8 => column.as_string::<i64>().value(row),
        _ => column.as_string::<i32>().value(row),
    };
    sink.put(&PgChar(text.bytes().next().unwrap_or(0)))
}

/// An `int2vector` value: binary like `int2[]`, text space-separated (`1 2`).
#[derive(Debug)]
struct Int2Vector(Vec<Option<i16>>);

impl ToSql for Int2Vector {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut bytes::BytesMut,
    ) -> Result<postgres_types::IsNull, Box<dyn std::error::Error + Sync + Send>> {
        self.0.to_sql(ty, out)
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::INT2_VECTOR
    }

    postgres_types::to_sql_checked!();
}

impl ToSqlText for Int2Vector {
    fn to_sql_text(
        &self,
        _ty: &Type,
        out: &mut bytes::BytesMut,
        _format_options: &pgwire::types::format::FormatOptions,
    ) -> Result<postgres_types::IsNull, Box<dyn std::error::Error + Sync + Send>> {
        let text: Vec<String> = self
            .0
            .iter()
            .map(|v| v.map_or_else(|| "0".to_string(), |v| v.to_string()))
            .collect();
        out.extend_from_slice(text.join(" ").as_bytes());
        Ok(postgres_types::IsNull::No)
    }
}

fn encode_int2vector<S: FieldSink>(
    sink: &mut S,
    column: &ArrayRef,
    row: usize,
) -> PgWireResult<()> {
    if column.is_null(row) {
        return sink.put(&None::<i16>);
    }
    let values = cast(&column.as_list::<i32>().value(row), &DataType::Int16)
        .map_err(|e| PgWireError::ApiError(Box::new(e)))?;
    let values = values.as_primitive::<datafusion::arrow::datatypes::Int16Type>();
    sink.put(&Int2Vector(values.iter().collect()))
}

/// Row description for `schema`, each column in the format the client asked for.
pub fn field_infos(schema: &Schema, format: &Format) -> Vec<FieldInfo> {
    schema
        .fields()
        .iter()
        .enumerate()
        .map(|(i, f)| {
            FieldInfo::new(
                f.name().clone(),
                None,
                None,
                pg_field_type(f),
                format.format_for(i),
            )
        })
        .collect()
}

/// Text-format row description (simple query protocol, COPY).
pub fn text_field_infos(schema: &Schema) -> Vec<FieldInfo> {
    field_infos(schema, &Format::UnifiedText)
}

/// Something that takes encoded fields one at a time: a data row or a COPY row.
pub trait FieldSink {
    fn put<T: ToSql + ToSqlText + Sized>(&mut self, value: &T) -> PgWireResult<()>;
}

impl FieldSink for DataRowEncoder {
    fn put<T: ToSql + ToSqlText + Sized>(&mut self, value: &T) -> PgWireResult<()> {
        self.encode_field(value)
    }
}

impl FieldSink for CopyEncoder {
    fn put<T: ToSql + ToSqlText + Sized>(&mut self, value: &T) -> PgWireResult<()> {
        self.encode_field(value)
    }
}

/// Casts columns to the few physical layouts [`encode_cell`] handles directly.
fn normalize(batch: &RecordBatch) -> PgWireResult<Vec<ArrayRef>> {
    batch
        .columns()
        .iter()
        .map(|c| {
            let target = match c.data_type() {
                DataType::Int8 | DataType::UInt8 => Some(DataType::Int16),
                DataType::UInt16 => Some(DataType::Int32),
                DataType::UInt32 => Some(DataType::Int64),
                DataType::UInt64 => Some(DataType::Decimal128(20, 0)),
                DataType::Float16 => Some(DataType::Float32),
                DataType::Date64 => Some(DataType::Date32),
                DataType::Timestamp(unit, tz) if *unit != TimeUnit::Microsecond => {
                    Some(DataType::Timestamp(TimeUnit::Microsecond, tz.clone()))
                }
                DataType::Time32(_) | DataType::Time64(TimeUnit::Nanosecond) => {
                    Some(DataType::Time64(TimeUnit::Microsecond))
                }
                DataType::Interval(unit) if *unit != IntervalUnit::MonthDayNano => {
                    Some(DataType::Interval(IntervalUnit::MonthDayNano))
                }
                DataType::Duration(unit) if *unit != TimeUnit::Microsecond => {
                    Some(DataType::Duration(TimeUnit::Microsecond))
                }
                DataType::Dictionary(_, value) => Some(value.as_ref().clone()),
                DataType::FixedSizeList(f, _) | DataType::LargeList(f) => {
                    Some(DataType::List(f.clone()))
                }
                _ => None,
            };
            match target {
                Some(t) => cast(c, &t).map_err(|e| PgWireError::ApiError(Box::new(e))),
                None => Ok(c.clone()),
            }
        })
        .collect()
}

const EPOCH: NaiveDate = match NaiveDate::from_ymd_opt(1970, 1, 1) {
    Some(d) => d,
    None => panic!("1970-01-01 is a date"),
};

/// Days since 1970-01-01 as a date; past chrono's range (about ±262,000
/// years, wider than PostgreSQL's) it is an error, never a panic or a
/// made-up value.
fn date(days: i32) -> PgWireResult<NaiveDate> {
    chrono::TimeDelta::try_days(i64::from(days))
        .and_then(|d| EPOCH.checked_add_signed(d))
        .ok_or_else(|| out_of_range("date"))
}

fn timestamp(micros: i64) -> PgWireResult<NaiveDateTime> {
    DateTime::<Utc>::from_timestamp_micros(micros)
        .map(|d| d.naive_utc())
        .ok_or_else(|| out_of_range("timestamp"))
}

/// A value the wire format cannot carry: 22008 for dates and times, 22003
/// for numbers, as PostgreSQL's own range errors.
fn out_of_range(what: &str) -> PgWireError {
    let sqlstate = if what == "numeric" { "22003" } else { "22008" };
    PgWireError::UserError(Box::new(pgwire::error::ErrorInfo::new(
        "ERROR".to_string(),
        sqlstate.to_string(),
        format!("{what} out of range"),
    )))
}

/// Encodes row `row` of a normalized column into `sink`.
fn encode_cell<S: FieldSink>(sink: &mut S, column: &ArrayRef, row: usize) -> PgWireResult<()> {
    // A NullArray (an untyped NULL, e.g. `SELECT NULL`) has no validity
    // buffer: `is_null` says false, `is_valid` too.
    if column.is_null(row) || column.data_type() == &DataType::Null {
        return sink.put(&None::<i16>);
    }
    match column.data_type() {
        DataType::Boolean => sink.put(&column.as_boolean().value(row)),
        DataType::Int16 => sink.put(
            &column
                .as_primitive::<datafusion::arrow::datatypes::Int16Type>()
                .value(row),
        ),
        DataType::Int32 => sink.put(&column.as_primitive::<Int32Type>().value(row)),
        DataType::Int64 => sink.put(
            &column
                .as_primitive::<datafusion::arrow::datatypes::Int64Type>()
                .value(row),
        ),
        DataType::Float32 => sink.put(&pg_text::Float4(
            column
                .as_primitive::<datafusion::arrow::datatypes::Float32Type>()
                .value(row),
        )),
        DataType::Float64 => sink.put(&pg_text::Float8(
            column
                .as_primitive::<datafusion::arrow::datatypes::Float64Type>()
                .value(row),
        )),
        DataType::Decimal128(_, scale) => {
            let raw = column
                .as_primitive::<datafusion::arrow::datatypes::Decimal128Type>()
                .value(row);
            let value = Decimal::try_from_i128_with_scale(raw, (*scale).max(0) as u32)
                .map_err(|_| out_of_range("numeric"))?;
            sink.put(&value)
        }
        DataType::Utf8 => sink.put(&column.as_string::<i32>().value(row)),
        DataType::LargeUtf8 => sink.put(&column.as_string::<i64>().value(row)),
        DataType::Utf8View => sink.put(&column.as_string_view().value(row)),
        DataType::Binary => sink.put(&column.as_binary::<i32>().value(row)),
        DataType::LargeBinary => sink.put(&column.as_binary::<i64>().value(row)),
        DataType::BinaryView => sink.put(&column.as_binary_view().value(row)),
        DataType::Date32 => sink.put(&pg_text::Date(date(
            column
                .as_primitive::<datafusion::arrow::datatypes::Date32Type>()
                .value(row),
        )?)),
        DataType::Timestamp(_, None) => sink.put(&pg_text::Timestamp(timestamp(
            column
                .as_primitive::<datafusion::arrow::datatypes::TimestampMicrosecondType>()
                .value(row),
        )?)),
        DataType::Timestamp(_, Some(_)) => {
            let micros = column
                .as_primitive::<datafusion::arrow::datatypes::TimestampMicrosecondType>()
                .value(row);
            sink.put(&pg_text::TimestampTz(timestamp(micros)?.and_utc()))
        }
        DataType::Time64(_) => {
            let micros = column
                .as_primitive::<datafusion::arrow::datatypes::Time64MicrosecondType>()
                .value(row);
            let t = NaiveTime::from_num_seconds_from_midnight_opt(
                (micros / 1_000_000) as u32,
                ((micros % 1_000_000) * 1000) as u32,
            )
            .ok_or_else(|| out_of_range("time"))?;
            sink.put(&t)
        }
        DataType::Interval(_) => {
            let value = column
                .as_primitive::<datafusion::arrow::datatypes::IntervalMonthDayNanoType>()
                .value(row);
            sink.put(&pg_text::Interval {
                months: value.months,
                days: value.days,
                micros: value.nanoseconds / 1_000,
            })
        }
        // timestamp - timestamp: PostgreSQL counts whole days apart from the
        // time (`justify_hours`): `2 days 03:00:00`, not `51:00:00`.
        DataType::Duration(_) => {
            let micros = column
                .as_primitive::<datafusion::arrow::datatypes::DurationMicrosecondType>()
                .value(row);
            const DAY: i64 = 86_400_000_000;
            let days = i32::try_from(micros / DAY).map_err(|_| out_of_range("interval"))?;
            sink.put(&pg_text::Interval {
                months: 0,
                days,
                micros: micros % DAY,
            })
        }
        DataType::List(field) => encode_list(sink, column.as_list::<i32>(), field, row),
        _ => sink.put(&display(column, row)?),
    }
}

fn display(column: &ArrayRef, row: usize) -> PgWireResult<String> {
    let options = ArrowFormatOptions::default();
    let formatter = ArrayFormatter::try_new(column.as_ref(), &options)
        .map_err(|e| PgWireError::ApiError(Box::new(e)))?;
    Ok(formatter.value(row).to_string())
}

fn encode_list<S: FieldSink>(
    sink: &mut S,
    list: &GenericListArray<i32>,
    field: &Arc<Field>,
    row: usize,
) -> PgWireResult<()> {
    let values = list.value(row);
    if is_list(field.data_type()) {
        return sink.put(&pg_text::ArrayText(nested_array_text(&values)?));
    }
    let values = match field.data_type() {
        DataType::Int8 | DataType::UInt8 | DataType::Int16 => cast(&values, &DataType::Int16),
        DataType::UInt16 | DataType::Int32 => cast(&values, &DataType::Int32),
        DataType::UInt32 | DataType::Int64 => cast(&values, &DataType::Int64),
        DataType::Float16 | DataType::Float32 => cast(&values, &DataType::Float32),
        DataType::Timestamp(_, tz) => cast(
            &values,
            &DataType::Timestamp(TimeUnit::Microsecond, tz.clone()),
        ),
        DataType::Date64 => cast(&values, &DataType::Date32),
        DataType::Boolean
        | DataType::Float64
        | DataType::Utf8
        | DataType::LargeUtf8
        | DataType::Utf8View
        | DataType::Date32
        | DataType::Decimal128(..) => Ok(values),
        _ => cast(&values, &DataType::Utf8),
    }
    .map_err(|e| PgWireError::ApiError(Box::new(e)))?;
    macro_rules! collect {
        ($array:ty, $map:expr) => {{
            let a = values
                .as_any()
                .downcast_ref::<$array>()
                .ok_or_else(|| PgWireError::ApiError("list element type mismatch".into()))?;
            let v: Vec<Option<_>> = (0..a.len())
                .map(|i| if a.is_null(i) { None } else { Some($map(a, i)) })
                .collect();
            sink.put(&v)
        }};
    }
    // Elements whose conversion can fail (a date past chrono's range).
    macro_rules! try_collect {
        ($array:ty, $map:expr) => {{
            let a = values
                .as_any()
                .downcast_ref::<$array>()
                .ok_or_else(|| PgWireError::ApiError("list element type mismatch".into()))?;
            let v = (0..a.len())
                .map(|i| {
                    if a.is_null(i) {
                        Ok(None)
                    } else {
                        $map(a, i).map(Some)
                    }
                })
                .collect::<PgWireResult<Vec<Option<_>>>>()?;
            sink.put(&v)
        }};
    }
    match values.data_type() {
        DataType::Boolean => collect!(BooleanArray, |a: &BooleanArray, i| a.value(i)),
        DataType::Int16 => collect!(Int16Array, |a: &Int16Array, i| a.value(i)),
        DataType::Int32 => collect!(Int32Array, |a: &Int32Array, i| a.value(i)),
        DataType::Int64 => collect!(Int64Array, |a: &Int64Array, i| a.value(i)),
        DataType::Float32 => collect!(Float32Array, |a: &Float32Array, i| a.value(i)),
        DataType::Float64 => collect!(Float64Array, |a: &Float64Array, i| a.value(i)),
        DataType::Utf8 => collect!(StringArray, |a: &StringArray, i| a.value(i).to_string()),
        DataType::LargeUtf8 => {
            collect!(LargeStringArray, |a: &LargeStringArray, i| a
                .value(i)
                .to_string())
        }
        DataType::Utf8View => {
            collect!(StringViewArray, |a: &StringViewArray, i| a
                .value(i)
                .to_string())
        }
        DataType::Date32 => try_collect!(Date32Array, |a: &Date32Array, i| date(a.value(i))),
        DataType::Timestamp(_, None) => try_collect!(
            TimestampMicrosecondArray,
            |a: &TimestampMicrosecondArray, i| timestamp(a.value(i))
        ),
        DataType::Timestamp(_, Some(_)) => try_collect!(
            TimestampMicrosecondArray,
            |a: &TimestampMicrosecondArray, i| timestamp(a.value(i)).map(|t| t.and_utc())
        ),
        DataType::Decimal128(_, scale) => {
            let scale = (*scale).max(0) as u32;
            try_collect!(Decimal128Array, |a: &Decimal128Array, i| {
                Decimal::try_from_i128_with_scale(a.value(i), scale)
                    .map_err(|_| out_of_range("numeric"))
            })
        }
        _ => Err(PgWireError::ApiError(
            "unsupported list element type".into(),
        )),
    }
}

/// Encodes every row of `batch` into `sink`, collecting what `finish_row`
/// makes of each completed row (a `DataRow`, a COPY line).
pub fn encode_batch<S: FieldSink, T>(
    batch: &RecordBatch,
    sink: &mut S,
    mut finish_row: impl FnMut(&mut S) -> T,
) -> PgWireResult<Vec<T>> {
    let columns = normalize(batch)?;
    let schema = batch.schema();
    let encodings: Vec<CellEncoding> = schema
        .fields()
        .iter()
        .map(|f| CellEncoding::of(f))
        .collect();
    let mut out = Vec::with_capacity(batch.num_rows());
    for row in 0..batch.num_rows() {
        for (column, encoding) in columns.iter().zip(&encodings) {
            match encoding {
                CellEncoding::Arrow => encode_cell(sink, column, row)?,
                CellEncoding::Int2Vector => encode_int2vector(sink, column, row)?,
                CellEncoding::Char => encode_char(sink, column, row)?,
                CellEncoding::Oid => encode_oid(sink, column, row)?,
            }
        }
        out.push(finish_row(sink));
    }
    Ok(out)
}

/// Every row of `batch` as `DataRow`s laid out by `fields`.
pub fn encode_rows(
    batch: &RecordBatch,
    fields: &Arc<Vec<FieldInfo>>,
) -> PgWireResult<Vec<DataRow>> {
    let mut encoder = DataRowEncoder::new(fields.clone());
    encode_batch(batch, &mut encoder, DataRowEncoder::take_row)
}
