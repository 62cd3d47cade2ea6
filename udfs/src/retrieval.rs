//! Retrieval shared by `vector_search()` and `rag()`: open an index, turn the
//! query into a vector with the index's own model, and find the nearest chunks.

use std::sync::Arc;

use datafusion::arrow::datatypes::DataType;
use lakehouse_catalog::vector_index::{LoadedVectorIndex, SearchHit, VectorIndexStore};

use crate::args::QueryArg;
use crate::models::Models;
use crate::{UdfError, run_blocking};

/// How to search.
#[derive(Debug, Clone, Copy, Default)]
pub struct SearchOptions {
    /// Brute force over every vector instead of the HNSW graph.
    pub exact: bool,
    /// HNSW expansion for this call (default: the index's `ef_search`).
    pub ef_search: Option<usize>,
}

/// The key column type of an index, known at planning time from its definition.
pub fn key_type(vectors: &VectorIndexStore, index: &str) -> Result<DataType, UdfError> {
    Ok(vectors.require(index)?.key_data_type()?)
}

/// Embeds `text` with the model the index was built with; a different
/// configured model would give vectors from another space, so that is an error.
pub async fn embed_query(
    models: &Arc<Models>,
    index: &LoadedVectorIndex,
    text: String,
) -> Result<Vec<f32>, UdfError> {
    if index.definition.vector_column {
        return Err(UdfError::InvalidArgument {
            function: "vector_search",
            message: format!(
                "vector index \"{}\" indexes the vectors of column {}.{}({}); query it with a vector (ARRAY[...] or '{{...}}'::real[]), not text",
                index.definition.name,
                index.definition.source_schema,
                index.definition.source_table,
                index.definition.text_column
            ),
        });
    }
    let models_for_check = models.clone();
    let embedder = run_blocking(move || models_for_check.embedder())?;
    if embedder.identity().sha256 != index.definition.model_sha256 {
        return Err(UdfError::InvalidArgument {
            function: "vector_search",
            message: format!(
                "index \"{}\" was built with model {} (sha256 {}), but the configured embedding model is {} (sha256 {}); rebuild the index or configure its model",
                index.definition.name,
                index.definition.model_name,
                index.definition.model_sha256,
                embedder.identity().name,
                embedder.identity().sha256
            ),
        });
    }
    let mut vectors = models.embed(vec![text]).await?;
    vectors
        .pop()
        .ok_or_else(|| UdfError::Internal("the embedder returned no vector".into()))
}

/// The `k` nearest chunks to `query` in `index`, nearest first.
pub async fn search(
    models: &Arc<Models>,
    index: &LoadedVectorIndex,
    query: QueryArg,
    k: usize,
    options: SearchOptions,
) -> Result<Vec<SearchHit>, UdfError> {
    let vector = match query {
        QueryArg::Vector(v) => v,
        QueryArg::Text(text) => embed_query(models, index, text).await?,
    };
    if options.exact {
        Ok(index.exact(&vector, k)?)
    } else {
        Ok(index.search(&vector, k, options.ef_search).await?)
    }
}
