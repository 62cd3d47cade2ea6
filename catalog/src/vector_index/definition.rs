//! `VectorIndexDefinition`: what an index is built from and how.

use std::path::Path;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{HnswParams, Quantization};
use crate::CatalogError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IndexState {
    /// Its build job has not published a generation yet.
    Building,
    Ready,
    Failed,
}

impl IndexState {
    pub fn as_str(self) -> &'static str {
        match self {
            IndexState::Building => "building",
            IndexState::Ready => "ready",
            IndexState::Failed => "failed",
        }
    }
}

/// One row of `lakehouse.vector_indexes`, stored as JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VectorIndexDefinition {
    pub name: String,
    pub source_schema: String,
    pub source_table: String,
    pub text_column: String,
    pub key_column: String,
    /// Arrow type of the key column as stored (`DataType`'s display form).
    pub key_type: String,
    /// The source column holds vectors (`real[]`), indexed as they are: one
    /// chunk per row, no model; queries must be vectors.
    #[serde(default)]
    pub vector_column: bool,
    /// Model that embedded the chunks (directory name) and its weights' SHA-256;
    /// queries must be embedded with the same model. Empty for a vector column.
    pub model_name: String,
    pub model_sha256: String,
    pub dims: i64,
    /// `cosine`: distance = 1 - cosine similarity.
    pub metric: String,
    /// Chunk length and overlap, in characters.
    pub chunk_size: i64,
    pub chunk_overlap: i64,
    pub m: i64,
    pub ef_construction: i64,
    pub ef_search: i64,
    /// Scalar type of the serving graph's vectors (absent in older files: f32).
    #[serde(default)]
    pub quantization: Quantization,
    /// Serving HNSW generation; 0 until the first build is published.
    pub generation: i64,
    /// Chunks in the serving generation.
    pub rows: i64,
    pub state: IndexState,
    /// The job that builds (or built) it.
    pub job_id: i64,
    pub owner: String,
    pub created: DateTime<Utc>,
}

impl VectorIndexDefinition {
    /// The stored key column's Arrow type.
    pub fn key_data_type(&self) -> Result<datafusion::arrow::datatypes::DataType, CatalogError> {
        self.key_type.parse().map_err(|e| CatalogError::Corrupt {
            path: format!("vector index {}", self.name),
            message: format!("key_type \"{}\": {e}", self.key_type),
        })
    }

    pub fn hnsw_params(&self) -> HnswParams {
        HnswParams {
            m: self.m as usize,
            ef_construction: self.ef_construction as usize,
            ef_search: self.ef_search as usize,
            quantization: self.quantization,
        }
    }

    /// Takes `params` as the serving parameters.
    pub fn set_hnsw_params(&mut self, params: HnswParams) {
        self.m = params.m as i64;
        self.ef_construction = params.ef_construction as i64;
        self.ef_search = params.ef_search as i64;
        self.quantization = params.quantization;
    }

    pub(crate) fn read(path: &Path) -> Result<Self, CatalogError> {
        let text = std::fs::read_to_string(path).map_err(|e| CatalogError::io(path, e))?;
        serde_json::from_str(&text).map_err(|e| CatalogError::Corrupt {
            path: path.display().to_string(),
            message: e.to_string(),
        })
    }

    pub(crate) fn to_json_bytes(&self, path: &Path) -> Result<Vec<u8>, CatalogError> {
        serde_json::to_vec_pretty(self).map_err(|e| CatalogError::Corrupt {
            path: path.display().to_string(),
            message: e.to_string(),
        })
    }
}
