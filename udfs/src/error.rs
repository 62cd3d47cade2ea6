//! Errors raised by SQL functions.

use lakehouse_catalog::CatalogError;
use lakehouse_ingest::IngestError;

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
    #[error(transparent)]
    Ingest(#[from] IngestError),
    #[error(transparent)]
    Catalog(#[from] CatalogError),
}

impl From<UdfError> for datafusion::error::DataFusionError {
    fn from(e: UdfError) -> Self {
        datafusion::error::DataFusionError::External(Box::new(e))
    }
}
