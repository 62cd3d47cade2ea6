//! `LoadedVectorIndex`: an index in memory — its chunks, their vectors and the
//! HNSW graph — answering approximate and exact (brute-force) searches.

use datafusion::arrow::array::ArrayRef;
use tokio::sync::Semaphore;

use super::{ChunkData, HnswGraph, VectorIndexDefinition};
use crate::CatalogError;

/// One result: the chunk's row and its cosine distance to the query.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SearchHit {
    pub row: usize,
    pub distance: f32,
}

#[derive(Debug)]
pub struct LoadedVectorIndex {
    pub definition: VectorIndexDefinition,
    chunks: ChunkData,
    graph: HnswGraph,
    /// One permit per usearch thread slot: callers beyond it wait instead of failing.
    slots: Semaphore,
}

impl LoadedVectorIndex {
    pub(crate) fn new(
        definition: VectorIndexDefinition,
        chunks: ChunkData,
        graph: HnswGraph,
        threads: usize,
    ) -> Self {
        LoadedVectorIndex {
            definition,
            chunks,
            graph,
            slots: Semaphore::new(threads),
        }
    }

    pub fn len(&self) -> usize {
        self.chunks.len()
    }

    pub fn is_empty(&self) -> bool {
        self.chunks.is_empty()
    }

    pub fn dims(&self) -> usize {
        self.definition.dims as usize
    }

    /// Source keys, one per chunk row (the source key column's type).
    pub fn keys(&self) -> &ArrayRef {
        &self.chunks.keys
    }

    pub fn chunk_id(&self, row: usize) -> i32 {
        self.chunks.chunk_ids[row]
    }

    pub fn chunk_text(&self, row: usize) -> &str {
        &self.chunks.texts[row]
    }

    pub fn vector(&self, row: usize) -> &[f32] {
        let dims = self.chunks.dims;
        &self.chunks.vectors[row * dims..(row + 1) * dims]
    }

    fn check_query(&self, query: &[f32]) -> Result<(), CatalogError> {
        if query.len() != self.dims() {
            return Err(CatalogError::VectorDimensions {
                index: self.definition.name.clone(),
                expected: self.dims(),
                got: query.len(),
            });
        }
        Ok(())
    }

    /// HNSW search: the `k` nearest chunks, nearest first.
    pub async fn search(
        &self,
        query: &[f32],
        k: usize,
        ef_search: Option<usize>,
    ) -> Result<Vec<SearchHit>, CatalogError> {
        self.check_query(query)?;
        let _slot = self
            .slots
            .acquire()
            .await
            .map_err(|e| CatalogError::VectorIndex(e.to_string()))?;
        let hits = self.graph.search(query, k.min(self.len()), ef_search)?;
        Ok(hits
            .into_iter()
            .filter(|(row, _)| (*row as usize) < self.len())
            .map(|(row, distance)| SearchHit {
                row: row as usize,
                distance,
            })
            .collect())
    }

    /// Brute force over every vector: the exact `k` nearest (the ground truth
    /// HNSW recall is measured against).
    pub fn exact(&self, query: &[f32], k: usize) -> Result<Vec<SearchHit>, CatalogError> {
        self.check_query(query)?;
        let query_norm = query.iter().map(|v| v * v).sum::<f32>().sqrt().max(1e-12);
        let mut hits: Vec<SearchHit> = (0..self.len())
            .map(|row| {
                let vector = self.vector(row);
                let dot: f32 = vector.iter().zip(query).map(|(a, b)| a * b).sum();
                let norm = vector.iter().map(|v| v * v).sum::<f32>().sqrt().max(1e-12);
                SearchHit {
                    row,
                    distance: 1.0 - dot / (norm * query_norm),
                }
            })
            .collect();
        let k = k.min(hits.len());
        if k == 0 {
            return Ok(Vec::new());
        }
        hits.select_nth_unstable_by(k - 1, |a, b| a.distance.total_cmp(&b.distance));
        hits.truncate(k);
        hits.sort_by(|a, b| a.distance.total_cmp(&b.distance).then(a.row.cmp(&b.row)));
        Ok(hits)
    }
}
