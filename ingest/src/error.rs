//! Errors of file readers; every data error carries the file and line.

/// An ingest failure. Data errors name `file:line` so users can fix the input.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The file breaks the format (unterminated quote, wrong field count, ...).
    #[error("{file}:{line}: {message}")]
    Malformed {
        file: String,
        line: u64,
        message: String,
    },
    /// A field is not valid UTF-8.
    #[error("{file}:{line}: invalid UTF-8 in field {field}")]
    InvalidEncoding {
        file: String,
        line: u64,
        field: usize,
    },
    /// A value does not fit the column type chosen for it.
    #[error("{file}:{line}: {message}")]
    BadValue {
        file: String,
        line: u64,
        message: String,
    },
    /// Options given to the reader are wrong.
    #[error("invalid ingest option: {0}")]
    InvalidOption(String),
    #[error("cannot read {file}: {source}")]
    Io {
        file: String,
        source: std::io::Error,
    },
    #[error("{0}")]
    Arrow(#[from] datafusion::arrow::error::ArrowError),
}
