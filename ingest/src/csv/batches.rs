//! Pass two: turn the records of a profiled file into typed Arrow batches.

use std::fs::File;
use std::io::BufReader;
use std::path::Path;
use std::sync::Arc;

use chrono::NaiveDate;
use datafusion::arrow::array::{
    ArrayRef, BooleanBuilder, Date32Builder, Decimal128Builder, Float64Builder, Int64Builder,
    StringBuilder, TimestampMicrosecondBuilder,
};
use datafusion::arrow::datatypes::{DataType, SchemaRef, TimeUnit};
use datafusion::arrow::record_batch::RecordBatch;

use super::infer::{
    self, CsvProfile, field_text, parse_bool, parse_date, parse_decimal, parse_float, parse_int,
    parse_timestamp,
};
use super::options::CsvOptions;
use super::tokenizer::{Record, Tokenizer};
use crate::IngestError;

/// Iterator over the record batches of a file that [`infer::profile`] accepted.
pub struct CsvBatches {
    tokenizer: Tokenizer<BufReader<File>>,
    schema: SchemaRef,
    record: Record,
    null: Option<String>,
    file: String,
    batch_rows: usize,
    finished: bool,
}

impl CsvBatches {
    /// Opens `path` for reading batches of at most `batch_rows` rows typed as `profile.schema`.
    pub fn open(
        path: &Path,
        display: &str,
        options: &CsvOptions,
        profile: &CsvProfile,
        batch_rows: usize,
    ) -> Result<CsvBatches, IngestError> {
        let mut tokenizer = Tokenizer::new(
            infer::open(path, display)?,
            display,
            options.delimiter,
            options.quote,
        );
        let mut record = Record::default();
        if profile.header {
            tokenizer.next_record(&mut record, &mut |_| {})?;
        }
        Ok(CsvBatches {
            tokenizer,
            schema: profile.schema.clone(),
            record,
            null: options.null.clone(),
            file: display.to_string(),
            batch_rows: batch_rows.max(1),
            finished: false,
        })
    }

    pub fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn next_batch(&mut self) -> Result<Option<RecordBatch>, IngestError> {
        let mut columns: Vec<ColumnBuilder> = self
            .schema
            .fields()
            .iter()
            .map(|f| ColumnBuilder::new(f.data_type(), self.batch_rows))
            .collect();
        let mut rows = 0;
        while rows < self.batch_rows {
            if !self.tokenizer.next_record(&mut self.record, &mut |_| {})? {
                self.finished = true;
                break;
            }
            if self.record.len() != columns.len() {
                return Err(IngestError::Malformed {
                    file: self.file.clone(),
                    line: self.record.line,
                    message: format!(
                        "expected {} fields, found {} (the file changed while it was read)",
                        columns.len(),
                        self.record.len()
                    ),
                });
            }
            for (i, column) in columns.iter_mut().enumerate() {
                let value = field_text(&self.record, i, self.null.as_deref(), &self.file)?;
                column
                    .append(value)
                    .map_err(|message| IngestError::BadValue {
                        file: self.file.clone(),
                        line: self.record.line,
                        message: format!(
                            "column {} ({}): {message}",
                            i + 1,
                            self.schema.field(i).name()
                        ),
                    })?;
            }
            rows += 1;
        }
        if rows == 0 {
            return Ok(None);
        }
        let arrays: Vec<ArrayRef> = columns.into_iter().map(ColumnBuilder::finish).collect();
        Ok(Some(RecordBatch::try_new(self.schema.clone(), arrays)?))
    }
}

impl Iterator for CsvBatches {
    type Item = Result<RecordBatch, IngestError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.finished {
            return None;
        }
        match self.next_batch() {
            Ok(Some(batch)) => Some(Ok(batch)),
            Ok(None) => None,
            Err(e) => {
                self.finished = true;
                Some(Err(e))
            }
        }
    }
}

/// One typed column under construction.
enum ColumnBuilder {
    Int64(Int64Builder),
    /// `numeric(precision, scale)`.
    Decimal(Decimal128Builder, u8, u8),
    Float64(Float64Builder),
    Boolean(BooleanBuilder),
    Date(Date32Builder),
    Timestamp(TimestampMicrosecondBuilder),
    Utf8(StringBuilder),
}

const EPOCH: NaiveDate = match NaiveDate::from_ymd_opt(1970, 1, 1) {
    Some(d) => d,
    None => panic!("1970-01-01 is a date"),
};

impl ColumnBuilder {
    fn new(data_type: &DataType, capacity: usize) -> ColumnBuilder {
        match data_type {
            DataType::Int64 => ColumnBuilder::Int64(Int64Builder::with_capacity(capacity)),
            DataType::Decimal128(p, s) if *s >= 0 => {
                match Decimal128Builder::with_capacity(capacity).with_precision_and_scale(*p, *s) {
                    Ok(b) => ColumnBuilder::Decimal(b, *p, *s as u8),
                    // Not a valid numeric type: read as text, cast later.
                    Err(_) => {
                        ColumnBuilder::Utf8(StringBuilder::with_capacity(capacity, capacity * 16))
                    }
                }
            }
            DataType::Float64 => ColumnBuilder::Float64(Float64Builder::with_capacity(capacity)),
            DataType::Boolean => ColumnBuilder::Boolean(BooleanBuilder::with_capacity(capacity)),
            DataType::Date32 => ColumnBuilder::Date(Date32Builder::with_capacity(capacity)),
            DataType::Timestamp(TimeUnit::Microsecond, None) => {
                ColumnBuilder::Timestamp(TimestampMicrosecondBuilder::with_capacity(capacity))
            }
            _ => ColumnBuilder::Utf8(StringBuilder::with_capacity(capacity, capacity * 16)),
        }
    }

    fn append(&mut self, value: Option<&str>) -> Result<(), String> {
        let Some(v) = value else {
            match self {
                ColumnBuilder::Int64(b) => b.append_null(),
                ColumnBuilder::Decimal(b, ..) => b.append_null(),
                ColumnBuilder::Float64(b) => b.append_null(),
                ColumnBuilder::Boolean(b) => b.append_null(),
                ColumnBuilder::Date(b) => b.append_null(),
                ColumnBuilder::Timestamp(b) => b.append_null(),
                ColumnBuilder::Utf8(b) => b.append_null(),
            }
            return Ok(());
        };
        let bad = |ty: &str| format!("`{v}` is not a valid {ty}");
        match self {
            ColumnBuilder::Int64(b) => b.append_value(parse_int(v).ok_or_else(|| bad("bigint"))?),
            ColumnBuilder::Decimal(b, precision, scale) => b.append_value(
                parse_decimal(v, *precision, *scale)
                    .ok_or_else(|| bad(&format!("numeric({precision},{scale})")))?,
            ),
            ColumnBuilder::Float64(b) => {
                b.append_value(parse_float(v).ok_or_else(|| bad("double precision"))?)
            }
            ColumnBuilder::Boolean(b) => {
                b.append_value(parse_bool(v).ok_or_else(|| bad("boolean"))?)
            }
            ColumnBuilder::Date(b) => {
                let d = parse_date(v).ok_or_else(|| bad("date"))?;
                b.append_value((d - EPOCH).num_days() as i32)
            }
            ColumnBuilder::Timestamp(b) => {
                let t = parse_timestamp(v).ok_or_else(|| bad("timestamp"))?;
                b.append_value(t.and_utc().timestamp_micros())
            }
            ColumnBuilder::Utf8(b) => b.append_value(v),
        }
        Ok(())
    }

    fn finish(self) -> ArrayRef {
        match self {
            ColumnBuilder::Int64(mut b) => Arc::new(b.finish()),
            ColumnBuilder::Decimal(mut b, ..) => Arc::new(b.finish()),
            ColumnBuilder::Float64(mut b) => Arc::new(b.finish()),
            ColumnBuilder::Boolean(mut b) => Arc::new(b.finish()),
            ColumnBuilder::Date(mut b) => Arc::new(b.finish()),
            ColumnBuilder::Timestamp(mut b) => Arc::new(b.finish()),
            ColumnBuilder::Utf8(mut b) => Arc::new(b.finish()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::csv::profile;
    use datafusion::arrow::array::AsArray;
    use datafusion::arrow::datatypes::Decimal128Type;
    use std::io::Write;

    fn write(contents: &str) -> tempfile_path::TempPath {
        tempfile_path::TempPath::with(contents)
    }

    mod tempfile_path {
        use super::Write;
        pub struct TempPath(pub std::path::PathBuf);
        impl TempPath {
            pub fn with(contents: &str) -> TempPath {
                let n: u64 = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos() as u64)
                    .unwrap_or(0);
                let p = std::env::temp_dir()
                    .join(format!("lakehouse-ingest-{n}-{}.csv", std::process::id()));
                let mut f = std::fs::File::create(&p).unwrap();
                f.write_all(contents.as_bytes()).unwrap();
                TempPath(p)
            }
        }
        impl Drop for TempPath {
            fn drop(&mut self) {
                let _ = std::fs::remove_file(&self.0);
            }
        }
    }

    /// The inferred Arrow types, as text.
    fn column_types(profile: &CsvProfile) -> Vec<String> {
        profile
            .schema
            .fields()
            .iter()
            .map(|f| f.data_type().to_string())
            .collect()
    }

    #[test]
    fn infers_types_and_reads_batches() {
        let f = write(
            "id,name,score,active,born,seen\n1,Ann,3.5,true,2000-01-02,2024-01-01 10:00:00\n2,\"Bob, Jr\",,false,,\n",
        );
        let opts = CsvOptions::default();
        let p = profile(&f.0, "p.csv", &opts).unwrap();
        assert!(p.header);
        assert_eq!(p.rows, 2);
        let types = column_types(&p);
        assert_eq!(
            types,
            vec![
                "Int64",
                "Utf8",
                "Decimal128(18, 1)",
                "Boolean",
                "Date32",
                "Timestamp(µs)"
            ]
        );
        let batches: Vec<RecordBatch> = CsvBatches::open(&f.0, "p.csv", &opts, &p, 1)
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(batches.len(), 2);
        assert_eq!(batches[1].column(2).null_count(), 1);
        assert_eq!(
            batches[0]
                .column(2)
                .as_primitive::<Decimal128Type>()
                .value(0),
            35
        );
    }

    #[test]
    fn money_is_numeric_and_measurements_double() {
        let f = write(
            "price,ratio,big\n19.99,1.5e3,12345678901234567890.5\n-0.5,0.123456,1\n1000,2,3.25\n",
        );
        let opts = CsvOptions::default();
        let p = profile(&f.0, "m.csv", &opts).unwrap();
        let types = column_types(&p);
        assert_eq!(
            types,
            vec!["Decimal128(18, 2)", "Float64", "Decimal128(22, 2)"]
        );
        let batches: Vec<RecordBatch> = CsvBatches::open(&f.0, "m.csv", &opts, &p, 10)
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let prices = batches[0].column(0).as_primitive::<Decimal128Type>();
        assert_eq!(prices.values(), &[1999, -50, 100000]);
        let big = batches[0].column(2).as_primitive::<Decimal128Type>();
        assert_eq!(big.value(0), 1234567890123456789050);
    }

    #[test]
    fn headerless_numeric_file() {
        let f = write("1,2\n3,4\n");
        let p = profile(&f.0, "n.csv", &CsvOptions::default()).unwrap();
        assert!(!p.header);
        assert_eq!(p.rows, 2);
        assert_eq!(p.schema.field(0).name(), "column1");
    }

    #[test]
    fn wrong_field_count_names_line() {
        let f = write("a,b\n1,2\n3\n");
        let err = profile(&f.0, "w.csv", &CsvOptions::default())
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("w.csv:3:"), "{err}");
    }

    #[test]
    fn bad_utf8_names_line() {
        let dir = std::env::temp_dir().join(format!("lh-utf8-{}", std::process::id()));
        std::fs::write(&dir, b"a,b\n1,\xff\xfe\n").unwrap();
        let err = profile(&dir, "u.csv", &CsvOptions::default())
            .unwrap_err()
            .to_string();
        let _ = std::fs::remove_file(&dir);
        assert!(err.starts_with("u.csv:2:"), "{err}");
    }
}
