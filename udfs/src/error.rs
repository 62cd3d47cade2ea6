//! Errors raised by SQL functions.

use lakehouse_catalog::CatalogError;
use lakehouse_ingest::IngestError;
use lakehouse_models::ModelError;

#[derive(Debug, thiserror::Error)]
pub enum UdfError {
    /// A server-side path outside every configured import root.
    #[error("permission denied: \"{path}\" is outside the import roots ({roots})")]
    PathOutsideRoots { path: String, roots: String },
    #[error("could not open file \"{0}\": no such file under the import roots")]
    FileNotFound(String),
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
