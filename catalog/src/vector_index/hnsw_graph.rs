//! `HnswGraph`: a usearch HNSW graph over unit vectors (cosine metric), keyed by
//! chunk `row_id`.
//!
//! usearch serves each concurrent call from a thread slot and fails a call when
//! every slot is taken, so the graph is created with a fixed number of slots and
//! callers hold a semaphore permit (see `LoadedVectorIndex`) while they search.
//! `ef_search` is a property of the whole graph: a search with its own value takes
//! the write side of a lock while it changes it, other searches the read side.

use std::path::Path;
use std::sync::RwLock;

use serde::{Deserialize, Serialize};
use usearch::{Index, IndexOptions, MetricKind, ScalarKind};

use crate::CatalogError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HnswParams {
    /// Links per node (usearch "connectivity").
    pub m: usize,
    pub ef_construction: usize,
    /// Default search expansion.
    pub ef_search: usize,
    /// How the graph stores its copy of the vectors.
    pub quantization: Quantization,
}

/// Scalar type of the vectors inside the graph. The chunk table always keeps
/// f32; f16 halves and i8 quarters the graph's vector memory, at some recall.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Quantization {
    #[default]
    F32,
    F16,
    I8,
}

impl Quantization {
    pub fn as_str(self) -> &'static str {
        match self {
            Quantization::F32 => "f32",
            Quantization::F16 => "f16",
            Quantization::I8 => "i8",
        }
    }

    fn scalar_kind(self) -> ScalarKind {
        match self {
            Quantization::F32 => ScalarKind::F32,
            Quantization::F16 => ScalarKind::F16,
            Quantization::I8 => ScalarKind::I8,
        }
    }
}

impl std::str::FromStr for Quantization {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "f32" => Ok(Quantization::F32),
            "f16" => Ok(Quantization::F16),
            "i8" => Ok(Quantization::I8),
            _ => Err(format!("quantization \"{s}\" is not one of f32, f16, i8")),
        }
    }
}

pub struct HnswGraph {
    index: Index,
    params: HnswParams,
    ef_lock: RwLock<()>,
}

impl std::fmt::Debug for HnswGraph {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HnswGraph")
            .field("params", &self.params)
            .field("size", &self.index.size())
            .finish()
    }
}

fn usearch_error(what: &str, e: impl std::fmt::Display) -> CatalogError {
    CatalogError::VectorIndex(format!("{what}: {e}"))
}

fn options(dims: usize, params: HnswParams) -> IndexOptions {
    IndexOptions {
        dimensions: dims,
        metric: MetricKind::Cos,
        quantization: params.quantization.scalar_kind(),
        connectivity: params.m,
        expansion_add: params.ef_construction,
        expansion_search: params.ef_search,
        multi: false,
    }
}

impl HnswGraph {
    /// Builds the graph over `vectors` (row-major, `dims` each; key = row number)
    /// using every core.
    pub fn build(vectors: &[f32], dims: usize, params: HnswParams) -> Result<Self, CatalogError> {
        let rows = vectors.len().checked_div(dims).unwrap_or(0);
        let threads = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1);
        // usearch maps an f32 to i8 as round(x * 127): only unit vectors use
        // the range (cosine ignores length, so normalizing changes no answer).
        let unit = |v: &[f32]| -> Vec<f32> {
            let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
            v.iter().map(|x| x / norm).collect()
        };
        let index = Index::new(&options(dims, params)).map_err(|e| usearch_error("create", e))?;
        index
            .reserve_capacity_and_threads(rows.max(1), threads)
            .map_err(|e| usearch_error("reserve", e))?;
        let failed = std::sync::Mutex::new(None);
        std::thread::scope(|scope| {
            for t in 0..threads {
                let (index, failed) = (&index, &failed);
                scope.spawn(move || {
                    for row in (t..rows).step_by(threads) {
                        let vector = &vectors[row * dims..(row + 1) * dims];
                        let added = match params.quantization {
                            Quantization::I8 => index.add(row as u64, &unit(vector)),
                            _ => index.add(row as u64, vector),
                        };
                        if let Err(e) = added {
                            if let Ok(mut slot) = failed.lock() {
                                *slot = Some(e.to_string());
                            }
                            return;
                        }
                    }
                });
            }
        });
        if let Some(e) = failed.into_inner().ok().flatten() {
            return Err(usearch_error("add", e));
        }
        Ok(HnswGraph {
            index,
            params,
            ef_lock: RwLock::new(()),
        })
    }

    /// Loads a saved graph and sizes it for `threads` concurrent searches.
    pub fn load(
        path: &Path,
        dims: usize,
        params: HnswParams,
        threads: usize,
    ) -> Result<Self, CatalogError> {
        let index = Index::new(&options(dims, params)).map_err(|e| usearch_error("create", e))?;
        let text = path.to_string_lossy();
        index
            .load(&text)
            .map_err(|e| usearch_error(&format!("load {text}"), e))?;
        index
            .reserve_capacity_and_threads(index.size().max(1), threads.max(1))
            .map_err(|e| usearch_error("reserve", e))?;
        index.change_expansion_search(params.ef_search);
        Ok(HnswGraph {
            index,
            params,
            ef_lock: RwLock::new(()),
        })
    }

    pub fn save(&self, path: &Path) -> Result<(), CatalogError> {
        // Write aside and rename, so a crash never leaves a torn graph file.
        let tmp = path.with_extension("usearch.partial");
        let text = tmp.to_string_lossy();
        self.index
            .save(&text)
            .map_err(|e| usearch_error(&format!("save {text}"), e))?;
        std::fs::rename(&tmp, path).map_err(|e| CatalogError::io(path, e))
    }

    /// Bytes of the graph's links and its copy of the vectors (its serialized
    /// size; usearch's `memory_usage` also counts preallocated arenas and
    /// per-thread buffers, which hide the difference quantization makes).
    pub fn memory_bytes(&self) -> usize {
        self.index.serialized_length()
    }

    pub fn params(&self) -> HnswParams {
        self.params
    }

    /// Changes the default search expansion of a graph not yet shared.
    pub fn set_ef_search(&mut self, ef_search: usize) {
        self.params.ef_search = ef_search;
        self.index.change_expansion_search(ef_search);
    }

    /// Approximate `k` nearest: (row, cosine distance), nearest first.
    pub fn search(
        &self,
        query: &[f32],
        k: usize,
        ef_search: Option<usize>,
    ) -> Result<Vec<(u64, f32)>, CatalogError> {
        let unit;
        let query = match self.params.quantization {
            Quantization::I8 => {
                let norm = query.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
                unit = query.iter().map(|x| x / norm).collect::<Vec<f32>>();
                &unit[..]
            }
            _ => query,
        };
        let matches = match ef_search.filter(|&ef| ef != self.params.ef_search) {
            None => {
                let _shared = self.ef_lock.read().unwrap_or_else(|p| p.into_inner());
                self.index.search(query, k)
            }
            Some(ef) => {
                let _exclusive = self.ef_lock.write().unwrap_or_else(|p| p.into_inner());
                self.index.change_expansion_search(ef.max(k));
                let result = self.index.search(query, k);
                self.index.change_expansion_search(self.params.ef_search);
                result
            }
        }
        .map_err(|e| usearch_error("search", e))?;
        Ok(matches.keys.into_iter().zip(matches.distances).collect())
    }
}
