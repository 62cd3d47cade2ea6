//! Vector indexes: what is stored for each, and the HNSW graphs served from it.
//!
//! On disk, for an index `<name>`:
//! ```text
//! <data_dir>/system/vector_indexes/<name>.json   definition (source, model, parameters, generation)
//! <data_dir>/tables/lakehouse_vectors/<name>/    Delta table: row_id, key, chunk_id, chunk_text, embedding
//! <data_dir>/vectors/<name>/g<generation>.usearch  the HNSW graph of that generation
//! <data_dir>/vectors/<name>/trials/m<M>-efc<EF>-<q>.usearch  graphs built by trials
//! <data_dir>/system/delta/hnsw_evals, hnsw_trials  eval sets and the trial journal
//! ```
//! The chunk table is the truth: it is appended one Delta commit per batch (so a
//! build killed mid-way resumes from its last commit) and the HNSW graph can
//! always be rebuilt from it. `row_id` numbers chunks 0..n in commit order and is
//! the key of each vector inside the graph.
//!
//! Serving: [`VectorIndexStore::load`] hands out an `Arc<LoadedVectorIndex>`
//! per generation. A new generation is loaded completely and put in the cache
//! before the definition names it, so a reader sees the old generation or the
//! new one, never a gap; readers holding the old one finish on it.

mod definition;
mod embedding_cache;
mod evals;
mod hnsw_graph;
mod loaded;
mod trials;
mod tuning;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, Float32Array, Int32Array, Int64Array, RecordBatch,
};
use datafusion::arrow::compute::{cast, concat_batches, sort_to_indices, take};
use datafusion::arrow::datatypes::{DataType, Field, Float32Type, Schema, SchemaRef};
use datafusion::prelude::SessionConfig;

pub use definition::{IndexState, VectorIndexDefinition};
pub use embedding_cache::{CacheEntryStats, ChunkData, EmbeddingCache};
pub use evals::{EVALS_TABLE, HnswEvalSet, HnswEvalStore};
pub use hnsw_graph::{HnswGraph, HnswParams, Quantization};
pub use loaded::{LoadedVectorIndex, SearchHit, exact_nearest};
pub use trials::{HnswTrial, HnswTrialJournal, TRIALS_TABLE, TrialRanking, best_trials};
pub use tuning::TrialOutcome;

use crate::data_dir::{DataDir, write_atomically};
use crate::{CatalogError, DeltaTableStore, TableIdent};

/// Schema holding every index's chunk table (visible to SQL, read-only by convention).
pub const VECTOR_SCHEMA: &str = "lakehouse_vectors";

/// Arrow schema of a chunk table whose source key has type `key_type`.
pub fn chunk_table_schema(key_type: &DataType) -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("row_id", DataType::Int64, false),
        Field::new("key", key_type.clone(), true),
        Field::new("chunk_id", DataType::Int32, false),
        Field::new("chunk_text", DataType::Utf8, false),
        Field::new(
            "embedding",
            DataType::List(Arc::new(Field::new("item", DataType::Float32, true))),
            false,
        ),
    ]))
}

#[derive(Debug, Clone)]
pub struct VectorIndexStore {
    dir: DataDir,
    tables: DeltaTableStore,
    /// Concurrent searches each index allows (usearch thread slots).
    search_threads: usize,
    /// The serving generation of each index that was searched.
    loaded: Arc<Mutex<HashMap<String, Arc<LoadedVectorIndex>>>>,
    embeddings: EmbeddingCache,
    evals: HnswEvalStore,
    trials: HnswTrialJournal,
}

impl VectorIndexStore {
    pub fn new(tables: DeltaTableStore, search_threads: usize) -> Self {
        let dir = tables.data_dir().clone();
        VectorIndexStore {
            evals: HnswEvalStore::new(&dir),
            trials: HnswTrialJournal::new(&dir),
            dir,
            tables,
            search_threads: search_threads.max(1),
            loaded: Arc::default(),
            embeddings: EmbeddingCache::default(),
        }
    }

    pub fn embeddings(&self) -> &EmbeddingCache {
        &self.embeddings
    }

    pub fn evals(&self) -> &HnswEvalStore {
        &self.evals
    }

    pub fn trials(&self) -> &HnswTrialJournal {
        &self.trials
    }

    /// File of a trial's graph, kept for reuse and for `hnsw_apply`.
    pub fn trial_graph_path(&self, name: &str, params: HnswParams) -> PathBuf {
        self.graphs_dir(name).join("trials").join(format!(
            "m{}-efc{}-{}.usearch",
            params.m,
            params.ef_construction,
            params.quantization.as_str()
        ))
    }

    fn definitions_dir(&self) -> PathBuf {
        self.dir.system().join("vector_indexes")
    }

    fn definition_path(&self, name: &str) -> PathBuf {
        self.definitions_dir().join(format!("{name}.json"))
    }

    fn graphs_dir(&self, name: &str) -> PathBuf {
        self.dir.root().join("vectors").join(name)
    }

    /// File of one generation's HNSW graph.
    pub fn graph_path(&self, name: &str, generation: i64) -> PathBuf {
        self.graphs_dir(name).join(format!("g{generation}.usearch"))
    }

    /// Where the index's chunks and embeddings are stored.
    pub fn chunk_table(&self, name: &str) -> TableIdent {
        TableIdent::new(VECTOR_SCHEMA, name)
    }

    pub fn tables(&self) -> &DeltaTableStore {
        &self.tables
    }

    fn cache(&self) -> MutexGuard<'_, HashMap<String, Arc<LoadedVectorIndex>>> {
        self.loaded.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Every index definition, by name.
    pub fn definitions(&self) -> Result<Vec<VectorIndexDefinition>, CatalogError> {
        let dir = self.definitions_dir();
        if !dir.exists() {
            return Ok(Vec::new());
        }
        let mut out = Vec::new();
        for entry in std::fs::read_dir(&dir).map_err(|e| CatalogError::io(&dir, e))? {
            let path = entry.map_err(|e| CatalogError::io(&dir, e))?.path();
            if path.extension().and_then(|e| e.to_str()) == Some("json") {
                out.push(VectorIndexDefinition::read(&path)?);
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    pub fn definition(&self, name: &str) -> Result<Option<VectorIndexDefinition>, CatalogError> {
        let path = self.definition_path(name);
        if !path.exists() {
            return Ok(None);
        }
        VectorIndexDefinition::read(&path).map(Some)
    }

    /// The definition, or the "does not exist" error (SQLSTATE 42704).
    pub fn require(&self, name: &str) -> Result<VectorIndexDefinition, CatalogError> {
        self.definition(name)?
            .ok_or_else(|| CatalogError::IndexNotFound(name.to_string()))
    }

    /// Records a new index; an existing name is an error.
    pub fn create(&self, definition: &VectorIndexDefinition) -> Result<(), CatalogError> {
        crate::data_dir::validate_name(&definition.name)?;
        if self.definition_path(&definition.name).exists() {
            return Err(CatalogError::IndexExists(definition.name.clone()));
        }
        self.tables.create_schema(VECTOR_SCHEMA, true)?;
        self.save(definition)
    }

    /// Rewrites the definition (atomically).
    pub fn save(&self, definition: &VectorIndexDefinition) -> Result<(), CatalogError> {
        let path = self.definition_path(&definition.name);
        write_atomically(&path, &definition.to_json_bytes(&path)?)
    }

    /// Reads the chunk table into memory, ordered by `row_id`. `None` when no
    /// chunk was committed yet.
    pub async fn read_chunks(&self, name: &str) -> Result<Option<ChunkData>, CatalogError> {
        let ident = self.chunk_table(name);
        let Some(provider) = self.tables.provider(&ident).await? else {
            return Ok(None);
        };
        let ctx = crate::new_session_context(SessionConfig::new());
        let df = ctx.read_table(provider)?;
        let schema: SchemaRef = Arc::new(df.schema().as_arrow().clone());
        let batches = df.collect().await?;
        let all = concat_batches(&schema, &batches)?;
        chunk_data(&ident, all).map(Some)
    }

    /// Highest committed `row_id` + 1 and the greatest committed source key, so a
    /// build can resume after its last commit.
    pub async fn resume_point(
        &self,
        name: &str,
    ) -> Result<(i64, Option<datafusion::scalar::ScalarValue>), CatalogError> {
        let ident = self.chunk_table(name);
        let Some(provider) = self.tables.provider(&ident).await? else {
            return Ok((0, None));
        };
        let ctx = crate::new_session_context(SessionConfig::new());
        ctx.register_table("chunks", provider)?;
        let batches = ctx
            .sql("SELECT count(*), max(key) FROM chunks")
            .await?
            .collect()
            .await?;
        let Some(batch) = batches.first().filter(|b| b.num_rows() == 1) else {
            return Ok((0, None));
        };
        let rows = batch
            .column(0)
            .as_primitive_opt::<datafusion::arrow::datatypes::Int64Type>()
            .map(|a| a.value(0))
            .unwrap_or(0);
        let max_key = datafusion::scalar::ScalarValue::try_from_array(batch.column(1), 0)?;
        Ok((rows, (!max_key.is_null()).then_some(max_key)))
    }

    /// Saves `graph` as the index's next generation and makes it the one served;
    /// older generation files are removed afterwards.
    pub fn publish(
        &self,
        mut definition: VectorIndexDefinition,
        graph: &HnswGraph,
        rows: i64,
    ) -> Result<VectorIndexDefinition, CatalogError> {
        let generation = definition.generation + 1;
        let path = self.graph_path(&definition.name, generation);
        let dir = self.graphs_dir(&definition.name);
        std::fs::create_dir_all(&dir).map_err(|e| CatalogError::io(&dir, e))?;
        graph.save(&path)?;
        definition.generation = generation;
        definition.rows = rows;
        definition.state = IndexState::Ready;
        self.save(&definition)?;
        // A build rewrote the chunk table: drop what was read of it before.
        self.cache().remove(&definition.name);
        self.embeddings.evict(&definition.name);
        self.remove_old_generations(&definition.name, generation);
        Ok(definition)
    }

    /// Old generations are garbage once the definition names a newer one.
    /// Readers that still hold one keep it in memory; the file is not needed.
    fn remove_old_generations(&self, name: &str, serving: i64) {
        let Ok(entries) = std::fs::read_dir(self.graphs_dir(name)) else {
            return;
        };
        let keep = format!("g{serving}.usearch");
        for entry in entries.flatten() {
            let file = entry.file_name().to_string_lossy().into_owned();
            if file.starts_with('g') && file.ends_with(".usearch") && file != keep {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }

    /// Hot swap: makes the graph file `source` (built with `params`) the
    /// index's next serving generation. The new generation is loaded and
    /// cached before the definition names it; searches never wait or fail.
    pub async fn swap_generation(
        &self,
        name: &str,
        source: &std::path::Path,
        params: HnswParams,
    ) -> Result<VectorIndexDefinition, CatalogError> {
        let mut definition = self.require(name)?;
        let generation = definition.generation + 1;
        let path = self.graph_path(name, generation);
        if std::fs::hard_link(source, &path).is_err() {
            std::fs::copy(source, &path).map_err(|e| CatalogError::io(&path, e))?;
        }
        let chunks = self.chunks(name).await?;
        let (dims, threads) = (definition.dims as usize, self.search_threads);
        let load_path = path.clone();
        let graph =
            tokio::task::spawn_blocking(move || HnswGraph::load(&load_path, dims, params, threads))
                .await
                .map_err(|e| CatalogError::VectorIndex(e.to_string()))??;
        definition.set_hnsw_params(params);
        definition.generation = generation;
        definition.state = IndexState::Ready;
        let loaded = Arc::new(LoadedVectorIndex::new(
            definition.clone(),
            chunks,
            graph,
            threads,
        ));
        self.cache().insert(name.to_string(), loaded);
        self.save(&definition)?;
        self.remove_old_generations(name, generation);
        Ok(definition)
    }

    /// The index's chunks and vectors, read from its chunk table once and then
    /// served from the embedding cache.
    pub async fn chunks(&self, name: &str) -> Result<Arc<ChunkData>, CatalogError> {
        if let Some(chunks) = self.embeddings.get(name) {
            return Ok(chunks);
        }
        let chunks = self
            .read_chunks(name)
            .await?
            .ok_or_else(|| CatalogError::Corrupt {
                path: self.chunk_table(name).to_string(),
                message: "the index is ready but its chunk table is missing".into(),
            })?;
        Ok(self.embeddings.insert(name, chunks))
    }

    /// The index ready to search: loaded once (chunks + graph file), then shared.
    pub async fn load(&self, name: &str) -> Result<Arc<LoadedVectorIndex>, CatalogError> {
        let mut attempt = 0;
        loop {
            let definition = self.require(name)?;
            if definition.state != IndexState::Ready {
                return Err(CatalogError::IndexNotReady {
                    name: name.to_string(),
                    job_id: definition.job_id,
                });
            }
            // A hot swap caches the new generation before saving the
            // definition: a newer cached generation is the one to serve.
            if let Some(loaded) = self.cache().get(name)
                && loaded.definition.generation >= definition.generation
            {
                self.embeddings.record_hit(name);
                return Ok(loaded.clone());
            }
            match self.load_generation(definition).await {
                Ok(loaded) => return Ok(loaded),
                Err((generation, e)) => {
                    // The generation was replaced (and its file removed) while
                    // this reader was loading it: read the definition again.
                    let replaced = self
                        .definition(name)?
                        .is_some_and(|d| d.generation != generation);
                    if !replaced || attempt == 3 {
                        return Err(e);
                    }
                    attempt += 1;
                }
            }
        }
    }

    async fn load_generation(
        &self,
        definition: VectorIndexDefinition,
    ) -> Result<Arc<LoadedVectorIndex>, (i64, CatalogError)> {
        let (name, generation) = (definition.name.clone(), definition.generation);
        let chunks = self.chunks(&name).await.map_err(|e| (generation, e))?;
        let path = self.graph_path(&name, generation);
        let (dims, params) = (definition.dims as usize, definition.hnsw_params());
        let threads = self.search_threads;
        let graph =
            tokio::task::spawn_blocking(move || HnswGraph::load(&path, dims, params, threads));
        let graph = graph
            .await
            .map_err(|e| {
                (
                    generation,
                    CatalogError::Corrupt {
                        path: name.clone(),
                        message: e.to_string(),
                    },
                )
            })?
            .map_err(|e| (generation, e))?;
        let loaded = Arc::new(LoadedVectorIndex::new(definition, chunks, graph, threads));
        let mut cache = self.cache();
        // Never replace a newer generation a concurrent swap cached.
        match cache.get(&name) {
            Some(current) if current.definition.generation > generation => Ok(current.clone()),
            _ => {
                cache.insert(name, loaded.clone());
                Ok(loaded)
            }
        }
    }
}

/// Splits a concatenated chunk-table batch into [`ChunkData`], sorted by `row_id`.
fn chunk_data(ident: &TableIdent, batch: RecordBatch) -> Result<ChunkData, CatalogError> {
    let corrupt = |message: String| CatalogError::Corrupt {
        path: ident.to_string(),
        message,
    };
    let column = |name: &str| {
        batch
            .column_by_name(name)
            .cloned()
            .ok_or_else(|| corrupt(format!("column {name} is missing")))
    };
    let row_ids = column("row_id")?;
    let order = sort_to_indices(&row_ids, None, None)?;
    let sorted = |a: ArrayRef| take(&a, &order, None);
    let row_ids = sorted(row_ids)?;
    let row_ids = row_ids
        .as_any()
        .downcast_ref::<Int64Array>()
        .ok_or_else(|| corrupt("row_id is not bigint".into()))?;
    if row_ids.iter().enumerate().any(|(i, r)| r != Some(i as i64)) {
        return Err(corrupt("row_id values are not 0..n".into()));
    }
    let keys = sorted(column("key")?)?;
    let keys = match keys.data_type() {
        DataType::Utf8View | DataType::LargeUtf8 => cast(&keys, &DataType::Utf8)?,
        _ => keys,
    };
    let chunk_ids = sorted(column("chunk_id")?)?;
    let chunk_ids: Vec<i32> = chunk_ids
        .as_any()
        .downcast_ref::<Int32Array>()
        .ok_or_else(|| corrupt("chunk_id is not integer".into()))?
        .values()
        .to_vec();
    let texts = cast(&sorted(column("chunk_text")?)?, &DataType::Utf8)?;
    let texts: Vec<String> = texts
        .as_string::<i32>()
        .iter()
        .map(|t| t.unwrap_or_default().to_string())
        .collect();
    let embeddings = sorted(column("embedding")?)?;
    let embeddings = embeddings
        .as_list_opt::<i32>()
        .ok_or_else(|| corrupt("embedding is not a list".into()))?;
    let values = embeddings
        .values()
        .as_primitive_opt::<Float32Type>()
        .cloned();
    let values: Float32Array = values.ok_or_else(|| corrupt("embedding is not real[]".into()))?;
    let dims = if embeddings.is_empty() {
        0
    } else {
        embeddings.value_length(0) as usize
    };
    let mut vectors = Vec::with_capacity(embeddings.len() * dims);
    for i in 0..embeddings.len() {
        let (start, end) = (
            embeddings.value_offsets()[i] as usize,
            embeddings.value_offsets()[i + 1] as usize,
        );
        if end - start != dims {
            return Err(corrupt(format!(
                "row {i} has {} dimensions, not {dims}",
                end - start
            )));
        }
        vectors.extend_from_slice(&values.values()[start..end]);
    }
    Ok(ChunkData::new(keys, chunk_ids, texts, vectors, dims))
}
