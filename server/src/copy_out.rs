//! COPY TO STDOUT lines in text and CSV format.
//!
//! One scratch buffer per stream and a no-escape fast path: most values need
//! neither escaping nor quoting, so they are copied as they are.

use std::sync::Arc;

use bytes::{BufMut, BytesMut};
use datafusion::arrow::datatypes::Schema;
use pgwire::api::results::FieldInfo;
use pgwire::error::PgWireResult;
use pgwire::messages::copy::CopyData;
use pgwire::types::ToSqlText;
use pgwire::types::format::FormatOptions;
use postgres_types::{IsNull, ToSql};

use crate::encode::FieldSink;
use crate::statement::{CopyFormat, CopyKind};

/// Builds one COPY line at a time from encoded fields.
pub struct CopyLineEncoder {
    fields: Arc<Vec<FieldInfo>>,
    kind: CopyKind,
    delimiter: u8,
    quote: u8,
    escape: u8,
    null: Vec<u8>,
    format_options: FormatOptions,
    line: BytesMut,
    scratch: BytesMut,
    column: usize,
}

impl CopyLineEncoder {
    /// `format`'s delimiter, quote and escape were checked to be single bytes.
    pub fn new(fields: Arc<Vec<FieldInfo>>, format: &CopyFormat) -> Self {
        CopyLineEncoder {
            fields,
            kind: format.kind,
            delimiter: format.delimiter as u8,
            quote: format.quote as u8,
            escape: format.escape as u8,
            null: format.null.as_bytes().to_vec(),
            format_options: FormatOptions::default(),
            line: BytesMut::with_capacity(256),
            scratch: BytesMut::with_capacity(64),
            column: 0,
        }
    }

    /// The finished line as one CopyData message (one row, as Postgres sends).
    pub fn take_line(&mut self) -> CopyData {
        self.line.put_u8(b'\n');
        self.column = 0;
        CopyData::new(self.line.split().freeze())
    }

    /// The CSV header line: column names, quoted where needed.
    pub fn header(&mut self, schema: &Schema) -> CopyData {
        for (i, field) in schema.fields().iter().enumerate() {
            if i > 0 {
                self.line.put_u8(self.delimiter);
            }
            let name = field.name().as_bytes().to_vec();
            self.put_csv(&name);
        }
        self.take_line()
    }

    fn put_text(&mut self, value: &[u8]) {
        let delimiter = self.delimiter;
        let special = |b: &u8| matches!(*b, b'\n' | b'\r' | b'\t' | b'\\') || *b == delimiter;
        if !value.iter().any(special) {
            self.line.extend_from_slice(value);
            return;
        }
        for &b in value {
            match b {
                b'\n' => self.line.put_slice(b"\\n"),
                b'\r' => self.line.put_slice(b"\\r"),
                b'\t' => self.line.put_slice(b"\\t"),
                b'\\' => self.line.put_slice(b"\\\\"),
                _ if b == delimiter => {
                    self.line.put_u8(b'\\');
                    self.line.put_u8(b);
                }
                _ => self.line.put_u8(b),
            }
        }
    }

    fn put_csv(&mut self, value: &[u8]) {
        let (delimiter, quote) = (self.delimiter, self.quote);
        let needs_quotes = value == self.null.as_slice()
            || value
                .iter()
                .any(|b| *b == delimiter || *b == quote || *b == b'\n' || *b == b'\r');
        if !needs_quotes {
            self.line.extend_from_slice(value);
            return;
        }
        self.line.put_u8(quote);
        for &b in value {
            if b == quote || b == self.escape {
                self.line.put_u8(self.escape);
            }
            self.line.put_u8(b);
        }
        self.line.put_u8(quote);
    }
}

impl FieldSink for CopyLineEncoder {
    fn put<T: ToSql + ToSqlText + Sized>(&mut self, value: &T) -> PgWireResult<()> {
        if self.column > 0 {
            self.line.put_u8(self.delimiter);
        }
        self.scratch.clear();
        let ty = self.fields[self.column].datatype();
        let is_null = value.to_sql_text(ty, &mut self.scratch, &self.format_options)?;
        self.column += 1;
        if let IsNull::Yes = is_null {
            self.line.extend_from_slice(&self.null);
            return Ok(());
        }
        let scratch = std::mem::take(&mut self.scratch);
        match self.kind {
            // Binary COPY TO is refused before any row is encoded.
            CopyKind::Text | CopyKind::Binary => self.put_text(&scratch),
            CopyKind::Csv => self.put_csv(&scratch),
        }
        self.scratch = scratch;
        Ok(())
    }
}

/// The CSV header sent in front of the first row, in the same CopyData
/// message: pgwire counts every CopyData message as a row for the `COPY n`
/// tag, and `COPY (SELECT ...) TO STDOUT WITH (HEADER)` of 2 rows said
/// `COPY 3`. With no rows the header goes alone and the tag says `COPY 1`.
pub fn header_with_first_row<S>(
    header: Option<CopyData>,
    rows: S,
) -> impl futures::Stream<Item = PgWireResult<CopyData>>
where
    S: futures::Stream<Item = PgWireResult<CopyData>> + Unpin,
{
    use futures::StreamExt;
    futures::stream::unfold((rows, header), |(mut rows, header)| async move {
        match (rows.next().await, header) {
            (Some(Ok(row)), Some(header)) => {
                let mut joined = BytesMut::with_capacity(header.data.len() + row.data.len());
                joined.extend_from_slice(&header.data);
                joined.extend_from_slice(&row.data);
                Some((Ok(CopyData::new(joined.freeze())), (rows, None)))
            }
            (Some(item), _) => Some((item, (rows, None))),
            (None, Some(header)) => Some((Ok(header), (rows, None))),
            (None, None) => None,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use pgwire::api::Type;
    use pgwire::api::results::FieldFormat;

    fn encoder(kind: CopyKind) -> CopyLineEncoder {
        let fields = Arc::new(vec![
            FieldInfo::new("a".into(), None, None, Type::TEXT, FieldFormat::Text),
            FieldInfo::new("b".into(), None, None, Type::INT8, FieldFormat::Text),
        ]);
        let format = CopyFormat {
            kind,
            delimiter: if kind == CopyKind::Csv { ',' } else { '\t' },
            null: if kind == CopyKind::Csv {
                String::new()
            } else {
                "\\N".into()
            },
            header: false,
            quote: '"',
            escape: '"',
        };
        CopyLineEncoder::new(fields, &format)
    }

    #[test]
    fn text_escapes_and_nulls() {
        let mut e = encoder(CopyKind::Text);
        e.put(&"tab\there\\").unwrap();
        e.put(&None::<i64>).unwrap();
        assert_eq!(&e.take_line().data[..], b"tab\\there\\\\\t\\N\n");
    }

    #[test]
    fn csv_quotes_only_when_needed() {
        let mut e = encoder(CopyKind::Csv);
        e.put(&"say \"hi\", ok").unwrap();
        e.put(&7i64).unwrap();
        assert_eq!(&e.take_line().data[..], b"\"say \"\"hi\"\", ok\",7\n");
        e.put(&"").unwrap();
        e.put(&None::<i64>).unwrap();
        assert_eq!(&e.take_line().data[..], b"\"\",\n");
    }
}
