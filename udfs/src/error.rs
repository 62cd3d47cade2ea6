//! Errors raised by SQL functions.

use lakehouse_catalog::CatalogError;
use lakehouse_ingest::IngestError;
use lakehouse_models::ModelError;

#[derive(Debug, thiserror::Error)]
pub enum UdfError {
    /// A server-side path outside every configured import root.
    #[error("permission denied: \"{path}\" is outside the import roots ({roots})")]
    PathOutsideRoots { path: String, roots: String },
    /// A path under an import root that lies in the server's data directory
    /// (its tables, role store, spill files), which no import may read.
    #[error(
        "permission denied: \"{path}\" is inside the server's data directory ({data_dir}); only its import/ folder can be read"
    )]
    PathInDataDir { path: String, data_dir: String },
    /// A value past PostgreSQL's 1 GB limit, refused before it is built.
    #[error(
        "{function}(): requested length too large: the result would take {bytes} bytes{}, over the 1 GB limit of a value",
        if *batch { " for this batch of rows" } else { "" }
    )]
    ValueTooLarge {
        function: String,
        bytes: u64,
        batch: bool,
    },
    #[error("could not open file \"{path}\": no such file under the import roots ({roots})")]
    FileNotFound { path: String, roots: String },
    /// A zone name `AT TIME ZONE` / `timezone()` does not know (22023).
    #[error("time zone \"{0}\" not recognized")]
    UnknownTimeZone(String),
    /// Text that does not match a date/time template (22007).
    #[error("{0}")]
    InvalidDatetime(String),
    #[error("{function}: {message}")]
    InvalidArgument {
        function: &'static str,
        message: String,
    },
    /// A column used as text is some other type.
    #[error("{function}: column \"{column}\" of \"{table}\" is {actual}, not text")]
    NotText {
        function: &'static str,
        table: String,
        column: String,
        actual: String,
    },
    #[error("{function}: column \"{column}\" of relation \"{table}\" does not exist")]
    ColumnNotFound {
        function: &'static str,
        table: String,
        column: String,
    },
    /// A session parameter that is unknown or cannot be set.
    #[error("{message}")]
    Setting {
        sqlstate: &'static str,
        message: String,
    },
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error(transparent)]
    Ingest(#[from] IngestError),
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    #[error(transparent)]
    DataFusion(#[from] datafusion::error::DataFusionError),
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<datafusion::arrow::error::ArrowError> for UdfError {
    fn from(e: datafusion::arrow::error::ArrowError) -> Self {
        UdfError::DataFusion(e.into())
    }
}

impl From<UdfError> for datafusion::error::DataFusionError {
    fn from(e: UdfError) -> Self {
        match e {
            UdfError::DataFusion(inner) => inner,
            other => datafusion::error::DataFusionError::External(Box::new(other)),
        }
    }
}
