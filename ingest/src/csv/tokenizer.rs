//! A strict RFC 4180 tokenizer that knows the line every record starts on.
//!
//! Strict where it matters for data quality: an unterminated quoted field or
//! a stray character after a closing quote is an error with its line, never a
//! silently merged record. CRLF and LF line ends are both accepted.

use std::io::BufRead;

use crate::IngestError;

/// One record: the bytes of all fields back to back, and where each ends.
#[derive(Debug, Default, Clone)]
pub struct Record {
    bytes: Vec<u8>,
    ends: Vec<usize>,
    quoted: Vec<bool>,
    /// 1-based line the record starts on.
    pub line: u64,
}

impl Record {
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Raw bytes of field `i`.
    pub fn field(&self, i: usize) -> &[u8] {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.bytes[start..self.ends[i]]
    }

    /// Whether field `i` was written in quotes (a quoted empty field is '' not NULL).
    pub fn was_quoted(&self, i: usize) -> bool {
        self.quoted[i]
    }

    fn clear(&mut self) {
        self.bytes.clear();
        self.ends.clear();
        self.quoted.clear();
    }

    fn end_field(&mut self, quoted: bool) {
        self.ends.push(self.bytes.len());
        self.quoted.push(quoted);
    }

    /// A line holding nothing at all (not even a delimiter) is skipped.
    fn is_blank(&self) -> bool {
        self.ends.len() == 1 && self.ends[0] == 0 && !self.quoted[0]
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum State {
    FieldStart,
    Unquoted,
    Quoted,
    /// Just saw a quote inside a quoted field: an escaped quote or the end.
    QuoteInQuoted,
}

/// Reads records from a buffered source.
pub struct Tokenizer<R> {
    reader: R,
    file: String,
    delimiter: u8,
    quote: u8,
    /// Line the next byte belongs to.
    line: u64,
    /// Bytes consumed so far (for hashing callers and diagnostics).
    pub bytes_read: u64,
    done: bool,
}

impl<R: BufRead> Tokenizer<R> {
    pub fn new(reader: R, file: impl Into<String>, delimiter: u8, quote: u8) -> Self {
        Tokenizer {
            reader,
            file: file.into(),
            delimiter,
            quote,
            line: 1,
            bytes_read: 0,
            done: false,
        }
    }

    fn malformed(&self, line: u64, message: impl Into<String>) -> IngestError {
        IngestError::Malformed {
            file: self.file.clone(),
            line,
            message: message.into(),
        }
    }

    /// Fills `record` with the next non-blank record; `Ok(false)` at end of input.
    /// `on_bytes` sees every byte read, in order (used to hash the file in the same pass).
    pub fn next_record(
        &mut self,
        record: &mut Record,
        on_bytes: &mut dyn FnMut(&[u8]),
    ) -> Result<bool, IngestError> {
        loop {
            if self.done {
                return Ok(false);
            }
            if self.read_one(record, on_bytes)? {
                if record.is_blank() {
                    continue;
                }
                return Ok(true);
            }
        }
    }

    fn read_one(
        &mut self,
        record: &mut Record,
        on_bytes: &mut dyn FnMut(&[u8]),
    ) -> Result<bool, IngestError> {
        record.clear();
        record.line = self.line;
        let mut state = State::FieldStart;
        let mut any = false;
        loop {
            let buf = match self.reader.fill_buf() {
                Ok(b) => b,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(source) => {
                    return Err(IngestError::Io {
                        file: self.file.clone(),
                        source,
                    });
                }
            };
            if buf.is_empty() {
                // End of input.
                self.done = true;
                return match state {
                    State::Quoted => Err(self.malformed(
                        record.line,
                        "unterminated quoted field (the closing quote is missing)",
                    )),
                    _ if !any => Ok(false),
                    State::QuoteInQuoted => {
                        record.end_field(true);
                        Ok(true)
                    }
                    State::Unquoted => {
                        trim_cr(record);
                        record.end_field(false);
                        Ok(true)
                    }
                    State::FieldStart => {
                        record.end_field(false);
                        Ok(true)
                    }
                };
            }
            any = true;
            let mut consumed = 0;
            let mut finished = false;
            for &b in buf {
                consumed += 1;
                match state {
                    State::FieldStart => {
                        if b == self.quote {
                            state = State::Quoted;
                        } else if b == self.delimiter {
                            record.end_field(false);
                        } else if b == b'\n' {
                            record.end_field(false);
                            self.line += 1;
                            finished = true;
                            break;
                        } else {
                            record.bytes.push(b);
                            state = State::Unquoted;
                        }
                    }
                    State::Unquoted => {
                        if b == self.delimiter {
                            trim_cr(record);
                            record.end_field(false);
                            state = State::FieldStart;
                        } else if b == b'\n' {
                            trim_cr(record);
                            record.end_field(false);
                            self.line += 1;
                            finished = true;
                            break;
                        } else if b == self.quote {
                            let line = self.line;
                            on_bytes(&buf[..consumed]);
                            return Err(self.malformed(
                                line,
                                format!(
                                    "quote character inside unquoted field {} (quote the whole field and double the quote)",
                                    record.ends.len() + 1
                                ),
                            ));
                        } else {
                            record.bytes.push(b);
                        }
                    }
                    State::Quoted => {
                        if b == self.quote {
                            state = State::QuoteInQuoted;
                        } else {
                            if b == b'\n' {
                                self.line += 1;
                            }
                            record.bytes.push(b);
                        }
                    }
                    State::QuoteInQuoted => {
                        if b == self.quote {
                            record.bytes.push(b);
                            state = State::Quoted;
                        } else if b == self.delimiter {
                            record.end_field(true);
                            state = State::FieldStart;
                        } else if b == b'\n' {
                            record.end_field(true);
                            self.line += 1;
                            finished = true;
                            break;
                        } else if b == b'\r' {
                            // CRLF after a closing quote.
                        } else {
                            let line = self.line;
                            return Err(self.malformed(
                                line,
                                format!(
                                    "unexpected character {:?} after closing quote in field {}",
                                    b as char,
                                    record.ends.len() + 1
                                ),
                            ));
                        }
                    }
                }
            }
            on_bytes(&buf[..consumed]);
            self.bytes_read += consumed as u64;
            self.reader.consume(consumed);
            if finished {
                return Ok(true);
            }
        }
    }
}

/// Drops the `\r` of a CRLF line end from the field being built.
fn trim_cr(record: &mut Record) {
    let start = record.ends.last().copied().unwrap_or(0);
    if record.bytes.len() > start && record.bytes.last() == Some(&b'\r') {
        record.bytes.pop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn records(input: &str) -> Result<Vec<(u64, Vec<String>)>, IngestError> {
        let mut t = Tokenizer::new(input.as_bytes(), "t.csv", b',', b'"');
        let mut r = Record::default();
        let mut out = Vec::new();
        while t.next_record(&mut r, &mut |_| {})? {
            let fields = (0..r.len())
                .map(|i| String::from_utf8(r.field(i).to_vec()).unwrap())
                .collect();
            out.push((r.line, fields));
        }
        Ok(out)
    }

    #[test]
    fn quoted_fields_with_newlines_and_quotes() {
        let got = records("a,b\n\"x,1\",\"say \"\"hi\"\"\"\n\"multi\nline\",z\r\nlast,").unwrap();
        assert_eq!(got[0], (1, vec!["a".into(), "b".into()]));
        assert_eq!(got[1], (2, vec!["x,1".into(), "say \"hi\"".into()]));
        assert_eq!(got[2], (3, vec!["multi\nline".into(), "z".into()]));
        assert_eq!(got[3], (5, vec!["last".into(), "".into()]));
    }

    #[test]
    fn unterminated_quote_names_its_line() {
        let err = records("a,b\n1,2\n3,\"open\n4,5\n")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("t.csv:3:"), "{err}");
        assert!(err.contains("unterminated"), "{err}");
    }

    #[test]
    fn blank_lines_are_skipped() {
        let got = records("a\n\n\nb\n").unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got[1].0, 4);
    }
}
