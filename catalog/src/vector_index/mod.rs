//! Vector indexes: what is stored for each, and the HNSW graphs served from it.
//!
//! On disk, for an index `<name>`:
//! ```text
//! <data_dir>/system/vector_indexes/<name>.json   definition (source, model, parameters, generation)
//! <data_dir>/tables/lakehouse_vectors/<name>/    Delta table: row_id, key, chunk_id, chunk_text, embedding
//! <data_dir>/vectors/<name>/g<generation>.usearch  the HNSW graph of that generation
//! ```
//! The chunk table is the truth: it is appended one Delta commit per batch (so a
//! build killed mid-way resumes from its last commit) and the HNSW graph can
//! always be rebuilt from it. `row_id` numbers chunks 0..n in commit order and is
//! the key of each vector inside the graph.

mod definition;
mod hnsw_graph;
mod loaded;

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
pub use hnsw_graph::{HnswGraph, HnswParams};
pub use loaded::{LoadedVectorIndex, SearchHit};

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

/// Every chunk of an index, in `row_id` order, held in memory.
#[derive(Debug)]
pub struct ChunkData {
    pub keys: ArrayRef,
    pub chunk_ids: Vec<i32>,
    pub texts: Vec<String>,
    /// Row-major, `len() * dims` values.
    pub vectors: Vec<f32>,
    pub dims: usize,
}

impl ChunkData {
    pub fn len(&self) -> usize {
        self.chunk_ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.chunk_ids.is_empty()
    }
}

#[derive(Debug, Clone)]
pub struct VectorIndexStore {
    dir: DataDir,
    tables: DeltaTableStore,
    /// Concurrent searches each index allows (usearch thread slots).
    search_threads: usize,
    loaded: Arc<Mutex<HashMap<String, Arc<LoadedVectorIndex>>>>,
}

impl VectorIndexStore {
    pub fn new(tables: DeltaTableStore, search_threads: usize) -> Self {
        VectorIndexStore {
            dir: tables.data_dir().clone(),
            tables,
            search_threads: search_threads.max(1),
            loaded: Arc::default(),
        }
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
        self.cache().remove(&definition.name);
        // Old generations are garbage once the definition names the new one.
        if let Ok(entries) = std::fs::read_dir(&dir) {
            for entry in entries.flatten() {
                if entry.path() != path {
                    let _ = std::fs::remove_file(entry.path());
                }
            }
        }
        Ok(definition)
    }

    /// The index ready to search: loaded once (chunks + graph file), then shared.
    pub async fn load(&self, name: &str) -> Result<Arc<LoadedVectorIndex>, CatalogError> {
        let definition = self.require(name)?;
        if definition.state != IndexState::Ready {
            return Err(CatalogError::IndexNotReady {
                name: name.to_string(),
                job_id: definition.job_id,
            });
        }
        if let Some(loaded) = self.cache().get(name)
            && loaded.definition.generation == definition.generation
        {
            return Ok(loaded.clone());
        }
        let chunks = self
            .read_chunks(name)
            .await?
            .ok_or_else(|| CatalogError::Corrupt {
                path: self.chunk_table(name).to_string(),
                message: "the index is ready but its chunk table is missing".into(),
            })?;
        let path = self.graph_path(name, definition.generation);
        let (dims, params) = (definition.dims as usize, definition.hnsw_params());
        let threads = self.search_threads;
        let graph =
            tokio::task::spawn_blocking(move || HnswGraph::load(&path, dims, params, threads));
        let graph = graph.await.map_err(|e| CatalogError::Corrupt {
            path: name.to_string(),
            message: e.to_string(),
        })??;
        let loaded = Arc::new(LoadedVectorIndex::new(definition, chunks, graph, threads));
        self.cache().insert(name.to_string(), loaded.clone());
        Ok(loaded)
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
    Ok(ChunkData {
        keys,
        chunk_ids,
        texts,
        vectors,
        dims,
    })
}
