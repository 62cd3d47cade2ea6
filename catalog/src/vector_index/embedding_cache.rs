//! `EmbeddingCache`: the chunks and vectors of each index, read from its chunk
//! table once and shared by every HNSW generation, every trial and the exact
//! scan. `lakehouse.cache` shows what it holds and how often it was used.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, Utc};
use datafusion::arrow::array::ArrayRef;

/// Every chunk of an index, in `row_id` order, held in memory.
#[derive(Debug)]
pub struct ChunkData {
    pub keys: ArrayRef,
    pub chunk_ids: Vec<i32>,
    pub texts: Vec<String>,
    /// Row-major, `len() * dims` values.
    pub vectors: Vec<f32>,
    pub dims: usize,
    /// Euclidean norm of every vector, for the exact scan's cosine.
    pub norms: Vec<f32>,
}

impl ChunkData {
    pub fn new(
        keys: ArrayRef,
        chunk_ids: Vec<i32>,
        texts: Vec<String>,
        vectors: Vec<f32>,
        dims: usize,
    ) -> Self {
        let norms = vectors
            .chunks_exact(dims.max(1))
            .map(|v| super::loaded::dot(v, v).sqrt().max(1e-12))
            .collect();
        ChunkData {
            keys,
            chunk_ids,
            texts,
            vectors,
            dims,
            norms,
        }
    }

    pub fn len(&self) -> usize {
        self.chunk_ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.chunk_ids.is_empty()
    }

    pub fn vector(&self, row: usize) -> &[f32] {
        &self.vectors[row * self.dims..(row + 1) * self.dims]
    }

    /// Approximate bytes held: vectors, norms, texts and keys.
    pub fn memory_bytes(&self) -> usize {
        self.vectors.len() * 4
            + self.norms.len() * 4
            + self.chunk_ids.len() * 4
            + self.texts.iter().map(|t| t.len() + 24).sum::<usize>()
            + self.keys.get_array_memory_size()
    }
}

/// One cached index's vectors and how they were used.
#[derive(Debug, Clone)]
pub struct CacheEntryStats {
    pub index: String,
    pub vectors: usize,
    pub dims: usize,
    pub bytes: usize,
    /// Requests served from memory.
    pub hits: u64,
    /// Times the chunk table was read (1 unless evicted by a rebuild).
    pub loads: u64,
    pub loaded: DateTime<Utc>,
}

#[derive(Debug)]
struct Entry {
    chunks: Arc<ChunkData>,
    hits: u64,
    loads: u64,
    loaded: DateTime<Utc>,
}

#[derive(Debug, Clone, Default)]
pub struct EmbeddingCache {
    entries: Arc<Mutex<HashMap<String, Entry>>>,
}

impl EmbeddingCache {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, Entry>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The cached vectors of `index`, counting a hit.
    pub fn get(&self, index: &str) -> Option<Arc<ChunkData>> {
        let mut entries = self.lock();
        let entry = entries.get_mut(index)?;
        entry.hits += 1;
        Some(entry.chunks.clone())
    }

    /// Counts a use of vectors already held by a caller (a loaded index).
    pub fn record_hit(&self, index: &str) {
        if let Some(entry) = self.lock().get_mut(index) {
            entry.hits += 1;
        }
    }

    /// Stores freshly read vectors; returns the copy to share (an entry
    /// another caller stored meanwhile wins, so one copy is kept).
    pub fn insert(&self, index: &str, chunks: ChunkData) -> Arc<ChunkData> {
        let mut entries = self.lock();
        let loads = entries.get(index).map_or(0, |e| e.loads);
        let entry = entries.entry(index.to_string()).or_insert_with(|| Entry {
            chunks: Arc::new(chunks),
            hits: 0,
            loads,
            loaded: Utc::now(),
        });
        entry.loads += 1;
        entry.chunks.clone()
    }

    /// Forgets an index's vectors (its chunk table was rewritten).
    pub fn evict(&self, index: &str) {
        self.lock().remove(index);
    }

    pub fn stats(&self) -> Vec<CacheEntryStats> {
        let mut out: Vec<CacheEntryStats> = self
            .lock()
            .iter()
            .map(|(index, e)| CacheEntryStats {
                index: index.clone(),
                vectors: e.chunks.len(),
                dims: e.chunks.dims,
                bytes: e.chunks.memory_bytes(),
                hits: e.hits,
                loads: e.loads,
                loaded: e.loaded,
            })
            .collect();
        out.sort_by(|a, b| a.index.cmp(&b.index));
        out
    }
}
