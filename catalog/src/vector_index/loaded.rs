//! `LoadedVectorIndex`: an index in memory — its chunks, their vectors and the
//! HNSW graph — answering approximate and exact (brute-force) searches.

use std::sync::Arc;

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
    /// Shared with every other generation and trial of the index.
    chunks: Arc<ChunkData>,
    graph: HnswGraph,
    /// One permit per usearch thread slot: callers beyond it wait instead of failing.
    slots: Semaphore,
}

impl LoadedVectorIndex {
    pub(crate) fn new(
        definition: VectorIndexDefinition,
        chunks: Arc<ChunkData>,
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
        self.chunks.vector(row)
    }

    /// The vectors this generation serves (shared with trials).
    pub fn chunks(&self) -> &Arc<ChunkData> {
        &self.chunks
    }

    /// Bytes of the serving HNSW graph.
    pub fn graph_memory_bytes(&self) -> usize {
        self.graph.memory_bytes()
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
        Ok(exact_nearest(&self.chunks, query, k))
    }
}

/// Brute force: the exact `k` nearest rows of `chunks` to `query` by cosine
/// distance, nearest first (ties by row). One thread, one pass over memory.
pub fn exact_nearest(chunks: &ChunkData, query: &[f32], k: usize) -> Vec<SearchHit> {
    let k = k.min(chunks.len());
    if k == 0 || query.len() != chunks.dims {
        return Vec::new();
    }
    let query_norm = dot(query, query).sqrt().max(1e-12);
    // Keep the k best seen so far in a max-heap on distance: one pass, no
    // allocation per row.
    let mut best: std::collections::BinaryHeap<HeapHit> = std::collections::BinaryHeap::new();
    for (row, (vector, norm)) in chunks
        .vectors
        .chunks_exact(chunks.dims)
        .zip(&chunks.norms)
        .enumerate()
    {
        let distance = 1.0 - dot(vector, query) / (norm * query_norm);
        if best.len() < k {
            best.push(HeapHit(SearchHit { row, distance }));
        } else if best.peek().is_some_and(|worst| distance < worst.0.distance) {
            best.pop();
            best.push(HeapHit(SearchHit { row, distance }));
        }
    }
    let mut hits: Vec<SearchHit> = best.into_iter().map(|h| h.0).collect();
    hits.sort_by(|a, b| a.distance.total_cmp(&b.distance).then(a.row.cmp(&b.row)));
    hits
}

/// Orders hits by distance (then row) for the exact scan's heap.
struct HeapHit(SearchHit);

impl PartialEq for HeapHit {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == std::cmp::Ordering::Equal
    }
}

impl Eq for HeapHit {}

impl PartialOrd for HeapHit {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for HeapHit {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0
            .distance
            .total_cmp(&other.0.distance)
            .then(self.0.row.cmp(&other.0.row))
    }
}

/// Dot product in 16 independent lanes, so the compiler vectorizes it (a plain
/// `zip().sum()` is a serial chain of float adds it may not reorder).
pub(crate) fn dot(a: &[f32], b: &[f32]) -> f32 {
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
