//! HNSW tuning through SQL: eval sets (a seeded sample of an index's own vectors
//! with their exact neighbours) and trials (a graph built, or reused, with given
//! parameters, measured on an eval set and journaled).
//!
//! Trials read the vectors from the embedding cache and build their own graphs;
//! the serving generation is never touched (only `swap_generation` changes it).

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use chrono::Utc;

use super::{
    ChunkData, HnswEvalSet, HnswGraph, HnswParams, HnswTrial, IndexState, VectorIndexDefinition,
    VectorIndexStore, exact_nearest,
};
use crate::CatalogError;

/// What a trial measured, before it is journaled.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrialOutcome {
    pub recall: f64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub memory_bytes: usize,
}

impl VectorIndexStore {
    fn require_ready(&self, index: &str) -> Result<VectorIndexDefinition, CatalogError> {
        let definition = self.require(index)?;
        if definition.state != IndexState::Ready {
            return Err(CatalogError::IndexNotReady {
                name: index.to_string(),
                job_id: definition.job_id,
            });
        }
        Ok(definition)
    }

    /// Samples `n_queries` of the index's vectors (seeded by the index and eval
    /// names, so the same call gives the same set) and stores them with their
    /// exact top-`k` neighbours as eval set `eval`.
    pub async fn create_eval(
        &self,
        index: &str,
        eval: &str,
        n_queries: usize,
        k: usize,
        user: &str,
    ) -> Result<HnswEvalSet, CatalogError> {
        self.require_ready(index)?;
        if self.evals().get(index, eval).await?.is_some() {
            return Err(CatalogError::EvalExists {
                index: index.to_string(),
                eval: eval.to_string(),
            });
        }
        let chunks = self.chunks(index).await?;
        let seed = seed_of(&format!("{index}/{eval}"));
        let query_rows = sample(chunks.len(), n_queries, seed);
        let rows = query_rows.clone();
        let truth = tokio::task::spawn_blocking(move || ground_truth(&chunks, &rows, k))
            .await
            .map_err(|e| CatalogError::VectorIndex(e.to_string()))??;
        let set = HnswEvalSet {
            index_name: index.to_string(),
            eval_name: eval.to_string(),
            k,
            seed,
            created: Utc::now(),
            query_rows: query_rows.iter().map(|&r| r as i64).collect(),
            ground_truth: truth,
        };
        self.evals().create(&set, user).await?;
        Ok(set)
    }

    /// Builds (or reuses) a graph with `params`, measures it on eval set
    /// `eval` and appends the trial to `lakehouse.hnsw_trials`.
    pub async fn run_trial(
        &self,
        index: &str,
        eval: &str,
        params: HnswParams,
        user: &str,
    ) -> Result<HnswTrial, CatalogError> {
        let definition = self.require_ready(index)?;
        let set =
            self.evals()
                .get(index, eval)
                .await?
                .ok_or_else(|| CatalogError::EvalNotFound {
                    index: index.to_string(),
                    eval: eval.to_string(),
                })?;
        let chunks = self.chunks(index).await?;
        if let Some(row) = set.query_rows.iter().find(|&&r| r as usize >= chunks.len()) {
            return Err(CatalogError::Corrupt {
                path: format!("lakehouse.hnsw_evals {index}/{eval}"),
                message: format!(
                    "query row {row} is beyond the index's {} vectors",
                    chunks.len()
                ),
            });
        }
        // A reused graph reports the seconds its first build took.
        let first_build = self.trials().of_index(index).await?.into_iter().find(|t| {
            !t.graph_reused
                && t.params.m == params.m
                && t.params.ef_construction == params.ef_construction
                && t.params.quantization == params.quantization
        });
        let path = self.trial_graph_path(index, params);
        let dims = definition.dims as usize;
        let (outcome, build_seconds, reused) = tokio::task::spawn_blocking(move || {
            let (mut graph, build_seconds, reused) = if path.exists() {
                let graph = HnswGraph::load(&path, dims, params, 1)?;
                (graph, first_build.map_or(0.0, |t| t.build_seconds), true)
            } else {
                let started = Instant::now();
                let graph = HnswGraph::build(&chunks.vectors, dims, params)?;
                let seconds = started.elapsed().as_secs_f64();
                save_trial_graph(&graph, &path)?;
                (graph, seconds, false)
            };
            graph.set_ef_search(params.ef_search);
            let outcome = measure(&graph, &chunks, &set)?;
            Ok::<_, CatalogError>((outcome, build_seconds, reused))
        })
        .await
        .map_err(|e| CatalogError::VectorIndex(e.to_string()))??;
        let trial = HnswTrial {
            trial_id: 0,
            index_name: index.to_string(),
            eval_name: eval.to_string(),
            params,
            recall: outcome.recall,
            p50_ms: outcome.p50_ms,
            p95_ms: outcome.p95_ms,
            build_seconds,
            memory_bytes: outcome.memory_bytes as i64,
            vectors: definition.rows,
            graph_reused: reused,
            created: Utc::now(),
        };
        self.trials().append(trial, user).await
    }

    /// Builds a graph with `params` from the cached vectors and keeps it where
    /// trials keep theirs (used when `hnsw_apply` finds no kept graph).
    pub async fn build_trial_graph(
        &self,
        index: &str,
        params: HnswParams,
    ) -> Result<std::path::PathBuf, CatalogError> {
        let definition = self.require_ready(index)?;
        let chunks = self.chunks(index).await?;
        let path = self.trial_graph_path(index, params);
        let (dims, out) = (definition.dims as usize, path.clone());
        tokio::task::spawn_blocking(move || {
            let graph = HnswGraph::build(&chunks.vectors, dims, params)?;
            save_trial_graph(&graph, &out)
        })
        .await
        .map_err(|e| CatalogError::VectorIndex(e.to_string()))??;
        Ok(path)
    }
}

fn save_trial_graph(graph: &HnswGraph, path: &Path) -> Result<(), CatalogError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| CatalogError::io(dir, e))?;
    }
    graph.save(path)
}

/// Runs every query of `set` against `graph`, one at a time on this thread,
/// after one untimed pass that warms caches.
fn measure(
    graph: &HnswGraph,
    chunks: &ChunkData,
    set: &HnswEvalSet,
) -> Result<TrialOutcome, CatalogError> {
    let k = set.k;
    for &row in &set.query_rows {
        graph.search(chunks.vector(row as usize), k, None)?;
    }
    let mut latencies = Vec::with_capacity(set.query_rows.len());
    let mut found = 0usize;
    for (&row, truth) in set.query_rows.iter().zip(&set.ground_truth) {
        let started = Instant::now();
        let hits = graph.search(chunks.vector(row as usize), k, None)?;
        latencies.push(started.elapsed().as_secs_f64() * 1000.0);
        found += hits
            .iter()
            .filter(|(r, _)| truth.contains(&(*r as i64)))
            .count();
    }
    let expected: usize = set.ground_truth.iter().map(Vec::len).sum();
    latencies.sort_by(f64::total_cmp);
    Ok(TrialOutcome {
        recall: found as f64 / expected.max(1) as f64,
        p50_ms: percentile(&latencies, 0.50),
        p95_ms: percentile(&latencies, 0.95),
        memory_bytes: graph.memory_bytes(),
    })
}

/// The `q` quantile of sorted values (nearest rank).
pub fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// Exact neighbours of each query row, split over the cores.
fn ground_truth(
    chunks: &Arc<ChunkData>,
    rows: &[usize],
    k: usize,
) -> Result<Vec<Vec<i64>>, CatalogError> {
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let per_thread = rows.len().div_ceil(threads).max(1);
    std::thread::scope(|scope| {
        let handles: Vec<_> = rows
            .chunks(per_thread)
            .map(|part| {
                scope.spawn(move || {
                    part.iter()
                        .map(|&row| {
                            exact_nearest(chunks, chunks.vector(row), k)
                                .iter()
                                .map(|h| h.row as i64)
                                .collect::<Vec<i64>>()
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mut truth = Vec::with_capacity(rows.len());
        for handle in handles {
            let part = handle
                .join()
                .map_err(|_| CatalogError::VectorIndex("exact search thread panicked".into()))?;
            truth.extend(part);
        }
        Ok(truth)
    })
}

/// FNV-1a of a name: the seed of its eval set.
fn seed_of(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// `n` distinct rows of `0..len` (all if fewer), chosen by a seeded partial
/// Fisher-Yates shuffle (SplitMix64), in the order drawn.
fn sample(len: usize, n: usize, seed: u64) -> Vec<usize> {
    let mut state = seed;
    let mut next = || {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    let mut rows: Vec<usize> = (0..len).collect();
    let n = n.min(len);
    for i in 0..n {
        let j = i + (next() % (len - i) as u64) as usize;
        rows.swap(i, j);
    }
    rows.truncate(n);
    rows
}

#[cfg(test)]
mod tests {
    use super::{percentile, sample};

    #[test]
    fn sampling_is_seeded_and_distinct() {
        let a = sample(1000, 50, 7);
        assert_eq!(a, sample(1000, 50, 7));
        assert_ne!(a, sample(1000, 50, 8));
        let mut sorted = a.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), 50);
        assert!(a.iter().all(|&r| r < 1000));
        assert_eq!(sample(3, 10, 1).len(), 3);
    }

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 0.5), 50.0);
        assert_eq!(percentile(&v, 0.95), 95.0);
        assert_eq!(percentile(&[3.0], 0.95), 3.0);
    }
}
