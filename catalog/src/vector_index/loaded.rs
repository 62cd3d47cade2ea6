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
    /// Euclidean norm of every vector, for the exact scan's cosine.
    norms: Vec<f32>,
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
        let dims = chunks.dims.max(1);
        let norms = chunks
            .vectors
            .chunks_exact(dims)
            .map(|v| dot(v, v).sqrt().max(1e-12))
            .collect();
        LoadedVectorIndex {
            definition,
            chunks,
            graph,
            norms,
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
        let query_norm = dot(query, query).sqrt().max(1e-12);
        let mut hits: Vec<SearchHit> = (0..self.len())
            .map(|row| SearchHit {
                row,
                distance: 1.0 - dot(self.vector(row), query) / (self.norms[row] * query_norm),
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

/// Dot product in 16 independent lanes, so the compiler vectorizes it (a plain
/// `zip().sum()` is a serial chain of float adds it may not reorder).
fn dot(a: &[f32], b: &[f32]) -> f32 {
    const LANES: usize = 16;
    let mut acc = [0.0f32; LANES];
    let (a_chunks, b_chunks) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let tail: f32 = a_chunks
        .remainder()
        .iter()
        .zip(b_chunks.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in a_chunks.zip(b_chunks) {
        for i in 0..LANES {
            acc[i] += x[i] * y[i];
        }
    }
    acc.iter().sum::<f32>() + tail
}

#[cfg(test)]
mod tests {
    use super::dot;

    #[test]
    fn dot_matches_the_naive_sum() {
        let a: Vec<f32> = (0..385).map(|i| (i as f32 * 0.37).sin()).collect();
        let b: Vec<f32> = (0..385).map(|i| (i as f32 * 0.11).cos()).collect();
        let naive: f64 = a
            .iter()
            .zip(&b)
            .map(|(x, y)| (*x as f64) * (*y as f64))
            .sum();
        assert!(
            (dot(&a, &b) as f64 - naive).abs() < 1e-4,
            "{} vs {naive}",
            dot(&a, &b)
        );
    }
}
