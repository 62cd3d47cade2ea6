//! Which model produced something: a name and the SHA-256 of its weights.

use std::io::Read;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::ModelError;

/// Recorded next to stored embeddings and in `lakehouse.vector_indexes`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelIdentity {
    /// Directory or file stem, e.g. `all-minilm-l6-v2`.
    pub name: String,
    /// Hex SHA-256 of the weights file.
    pub sha256: String,
}

/// `path` if it exists, otherwise the "how to fetch" error.
pub(crate) fn require(path: &Path) -> Result<PathBuf, ModelError> {
    if path.exists() {
        Ok(path.to_path_buf())
    } else {
        Err(ModelError::Missing {
            path: path.to_path_buf(),
        })
    }
}

pub(crate) fn invalid(path: &Path, message: impl ToString) -> ModelError {
    ModelError::Invalid {
        path: path.to_path_buf(),
        message: message.to_string(),
    }
}

/// Streams the file through SHA-256 (the weights are ~100 MB; never read whole).
pub(crate) fn sha256_of(path: &Path) -> Result<String, ModelError> {
    let mut file = std::fs::File::open(path).map_err(|e| invalid(path, e))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).map_err(|e| invalid(path, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}
