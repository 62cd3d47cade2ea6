//! `VectorIndexBuilder`: the background job behind `create_vector_index()`.
//!
//! The job reads the source table ordered by its key, chunks each text, embeds
//! the chunks and appends them to the index's chunk table, one Delta commit per
//! group of rows. Progress is persisted in `lakehouse.jobs` after each commit.
//! Killed at any point, the job resumes at the next start from the last commit:
//! it continues after the greatest key already stored. When every row is in, it
//! builds the HNSW graph from the chunk table and publishes it as generation 1.
//! A failing step is retried (storage hiccups); the job fails after the retries.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, Float32Array, Int32Array, Int64Array, ListArray, RecordBatch,
    StringArray,
};
use datafusion::arrow::buffer::OffsetBuffer;
use datafusion::arrow::compute::{cast, concat};
use datafusion::arrow::datatypes::{DataType, Field};
use datafusion::common::{ScalarValue, TableReference};
use datafusion::execution::context::SessionState;
use datafusion::logical_expr::{col, ident, lit};
use datafusion::prelude::SessionContext;
use futures::StreamExt;
use lakehouse_catalog::vector_index::{
    HnswGraph, IndexState, VectorIndexDefinition, VectorIndexStore, chunk_table_schema,
};
use lakehouse_catalog::{JobState, JobStore, Lineage, TableIdent, WriteMode};
use lakehouse_ingest::chunker::SentenceChunker;

use crate::models::Models;
use crate::{SessionNotices, UdfError};

/// `lakehouse.jobs.kind` of index builds.
pub const JOB_KIND: &str = "create_vector_index";

/// A commit holds at least this many source rows (unless the table ends)...
const GROUP_ROWS: usize = 256;
/// ...or this many chunks, whichever comes first.
const GROUP_CHUNKS: usize = 512;
/// Attempts per job run before it is marked failed.
const ATTEMPTS: u32 = 3;

#[derive(Debug, Clone)]
pub struct VectorIndexBuilder {
    vectors: VectorIndexStore,
    jobs: JobStore,
    models: Arc<Models>,
}

/// Rows of the source read so far that have not been committed yet.
struct Group {
    keys: Vec<ArrayRef>,
    chunk_keys: Vec<u32>,
    chunk_ids: Vec<i32>,
    texts: Vec<String>,
    /// Vectors read from a vector column (empty for text, which is embedded
    /// at commit).
    vectors: Vec<f32>,
    rows: usize,
    last_key: Option<ScalarValue>,
}

impl Group {
    fn new() -> Self {
        Group {
            keys: Vec::new(),
            chunk_keys: Vec::new(),
            chunk_ids: Vec::new(),
            texts: Vec::new(),
            vectors: Vec::new(),
            rows: 0,
            last_key: None,
        }
    }

    fn is_full(&self) -> bool {
        self.rows >= GROUP_ROWS || self.texts.len() >= GROUP_CHUNKS
    }
}

impl VectorIndexBuilder {
    pub fn new(vectors: VectorIndexStore, jobs: JobStore, models: Arc<Models>) -> Self {
        VectorIndexBuilder {
            vectors,
            jobs,
            models,
        }
    }

    /// Starts (in the background) the job that builds `definition`.
    pub fn spawn(&self, job_id: i64, state: SessionState, notices: Option<SessionNotices>) {
        let builder = self.clone();
        tokio::spawn(async move { builder.run(job_id, state, notices).await });
    }

    /// Restarts every build that was queued or running when the server stopped.
    pub fn resume_unfinished(&self, state: &SessionState) {
        for job in self.jobs.list() {
            if job.kind == JOB_KIND && job.state.is_unfinished() {
                tracing::info!(job = job.id, index = %job.target, "resuming vector index build");
                self.spawn(job.id, state.clone(), None);
            }
        }
    }

    async fn run(&self, job_id: i64, state: SessionState, notices: Option<SessionNotices>) {
        let Some(job) = self.jobs.get(job_id) else {
            return;
        };
        let index = job.target.clone();
        let notify = |message: String| {
            if let Some(n) = &notices {
                n.push(message);
            }
        };
        let mut last_error = String::new();
        for attempt in 1..=ATTEMPTS {
            let started = self.jobs.update(job_id, |j| {
                j.state = JobState::Running;
                j.attempts += 1;
                j.started.get_or_insert_with(Utc::now);
            });
            if let Err(e) = started {
                tracing::error!(job = job_id, "cannot record job state: {e}");
                return;
            }
            match self.build(job_id, &index, &state, &notify).await {
                Ok(rows) => {
                    let _ = self.jobs.update(job_id, |j| {
                        j.state = JobState::Done;
                        j.finished = Some(Utc::now());
                        j.error = None;
                    });
                    notify(format!(
                        "vector index \"{index}\" is ready: {rows} chunks (job {job_id})"
                    ));
                    return;
                }
                Err(e) => {
                    last_error = e.to_string();
                    tracing::warn!(job = job_id, attempt, "vector index build failed: {e}");
                    if !is_transient(&e) {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(500 * u64::from(attempt))).await;
                }
            }
        }
        let _ = self.jobs.update(job_id, |j| {
            j.state = JobState::Failed;
            j.finished = Some(Utc::now());
            j.error = Some(last_error.clone());
        });
        if let Ok(mut definition) = self.vectors.require(&index) {
            definition.state = IndexState::Failed;
            let _ = self.vectors.save(&definition);
        }
        notify(format!(
            "vector index \"{index}\" failed (job {job_id}): {last_error}"
        ));
    }

    /// One attempt: embed what is not committed yet, then build and publish the
    /// graph. Returns the number of chunks.
    async fn build(
        &self,
        job_id: i64,
        index: &str,
        state: &SessionState,
        notify: &(dyn Fn(String) + Send + Sync),
    ) -> Result<i64, UdfError> {
        let definition = self.vectors.require(index)?;
        let chunker = SentenceChunker::new(
            definition.chunk_size as usize,
            definition.chunk_overlap as usize,
        );
        let ctx = SessionContext::new_with_state(state.clone());
        let source = ctx
            .table(TableReference::partial(
                definition.source_schema.as_str(),
                definition.source_table.as_str(),
            ))
            .await?
            .select(vec![
                ident(&definition.key_column).alias("key"),
                ident(&definition.text_column).alias("text"),
            ])?;
        let rows_total = source.clone().count().await? as i64;
        let (mut next_row_id, max_key) = self.vectors.resume_point(index).await?;
        let pending = match &max_key {
            Some(key) => source.filter(col("key").gt(lit(key.clone())))?,
            None => source,
        };
        let rows_left = pending.clone().count().await? as i64;
        let mut rows_done = rows_total - rows_left;
        self.jobs.update(job_id, |j| {
            j.rows_total = rows_total;
            j.rows_done = rows_done;
        })?;
        if max_key.is_some() {
            notify(format!(
                "vector index \"{index}\": resuming after {rows_done} of {rows_total} rows"
            ));
        }

        let table = self.vectors.chunk_table(index);
        let mut stream = pending
            .sort(vec![col("key").sort(true, false)])?
            .execute_stream()
            .await?;
        let mut group = Group::new();
        let mut last_percent = -1i64;
        let float_list = DataType::List(Arc::new(Field::new("item", DataType::Float32, true)));
        while let Some(batch) = stream.next().await {
            let batch = batch?;
            let keys = batch.column(0).clone();
            // Text is chunked; a vector column is taken as it is.
            let values = if definition.vector_column {
                cast(batch.column(1), &float_list)?
            } else {
                cast(batch.column(1), &DataType::Utf8)?
            };
            for row in 0..batch.num_rows() {
                let key = ScalarValue::try_from_array(&keys, row)?;
                // Never split one key's rows across commits: resume is by key.
                if group.is_full() && group.last_key.as_ref() != Some(&key) {
                    next_row_id = self
                        .commit(&table, &definition, &mut group, next_row_id)
                        .await?;
                    rows_done += group.rows as i64;
                    group = Group::new();
                    self.jobs.update(job_id, |j| j.rows_done = rows_done)?;
                    let percent = rows_done * 100 / rows_total.max(1);
                    if percent / 10 != last_percent / 10 {
                        last_percent = percent;
                        notify(format!(
                            "vector index \"{index}\": {rows_done} of {rows_total} rows embedded ({percent}%)"
                        ));
                    }
                }
                group.rows += 1;
                if key.is_null() || values.is_null(row) {
                    continue;
                }
                let key_index = group.keys.len() as u32;
                group.keys.push(keys.slice(row, 1));
                if definition.vector_column {
                    let vector = values.as_list::<i32>().value(row);
                    let vector = vector.as_primitive::<datafusion::arrow::datatypes::Float32Type>();
                    if vector.len() != definition.dims as usize || vector.null_count() > 0 {
                        return Err(lakehouse_catalog::CatalogError::VectorDimensions {
                            index: index.to_string(),
                            expected: definition.dims as usize,
                            got: vector.len() - vector.null_count(),
                        }
                        .into());
                    }
                    group.chunk_keys.push(key_index);
                    group.chunk_ids.push(0);
                    group.texts.push(String::new());
                    group.vectors.extend_from_slice(vector.values());
                } else {
                    let text = values.as_string::<i32>().value(row);
                    for (chunk_id, chunk) in chunker.chunk(text).into_iter().enumerate() {
                        group.chunk_keys.push(key_index);
                        group.chunk_ids.push(chunk_id as i32);
                        group.texts.push(chunk);
                    }
                }
                group.last_key = Some(key);
            }
        }
        if group.rows > 0 || !self.vectors.tables().table_exists(&table) {
            self.commit(&table, &definition, &mut group, next_row_id)
                .await?;
            rows_done += group.rows as i64;
            self.jobs.update(job_id, |j| j.rows_done = rows_done)?;
        }

        notify(format!(
            "vector index \"{index}\": all {rows_total} rows embedded; building the HNSW graph"
        ));
        let chunks = self.vectors.read_chunks(index).await?.ok_or_else(|| {
            UdfError::Internal(format!(
                "chunk table of \"{index}\" vanished during the build"
            ))
        })?;
        let rows = chunks.len() as i64;
        let params = definition.hnsw_params();
        let dims = definition.dims as usize;
        let graph =
            tokio::task::spawn_blocking(move || HnswGraph::build(&chunks.vectors, dims, params))
                .await
                .map_err(|e| UdfError::Internal(e.to_string()))??;
        // Re-read: the definition on disk is the one to advance.
        let definition = self.vectors.require(index)?;
        self.vectors.publish(definition, &graph, rows)?;
        Ok(rows)
    }

    /// Embeds the group's chunks and appends them as one commit; returns the next
    /// free `row_id`.
    async fn commit(
        &self,
        table: &TableIdent,
        definition: &VectorIndexDefinition,
        group: &mut Group,
        first_row_id: i64,
    ) -> Result<i64, UdfError> {
        let texts = std::mem::take(&mut group.texts);
        let vectors = if definition.vector_column {
            let dims = (definition.dims as usize).max(1);
            std::mem::take(&mut group.vectors)
                .chunks(dims)
                .map(<[f32]>::to_vec)
                .collect()
        } else {
            self.models.embed(texts.clone()).await?
        };
        let dims = definition.dims as usize;
        if let Some(v) = vectors.iter().find(|v| v.len() != dims) {
            return Err(UdfError::Internal(format!(
                "the embedding model returned {} dimensions; index \"{}\" has {dims}",
                v.len(),
                definition.name
            )));
        }
        let n = texts.len();
        let key_type = definition.key_data_type()?;
        let keys: Vec<ArrayRef> = group
            .keys
            .iter()
            .map(|k| cast(k, &key_type))
            .collect::<Result<_, _>>()?;
        let keys = if keys.is_empty() {
            datafusion::arrow::array::new_empty_array(&key_type)
        } else {
            let refs: Vec<&dyn Array> = keys.iter().map(|k| k.as_ref()).collect();
            concat(&refs)?
        };
        let indices = datafusion::arrow::array::UInt32Array::from(group.chunk_keys.clone());
        let keys = datafusion::arrow::compute::take(&keys, &indices, None)?;
        let embedding = ListArray::new(
            Arc::new(Field::new("item", DataType::Float32, true)),
            OffsetBuffer::from_lengths(std::iter::repeat_n(dims, n)),
            Arc::new(Float32Array::from(vectors.concat())),
            None,
        );
        let schema = chunk_table_schema(&key_type);
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(Int64Array::from_iter_values(
                    (0..n as i64).map(|i| first_row_id + i),
                )),
                keys,
                Arc::new(Int32Array::from(std::mem::take(&mut group.chunk_ids))),
                Arc::new(StringArray::from(texts)),
                Arc::new(embedding),
            ],
        )?;
        let mode = if self.vectors.tables().table_exists(table) {
            WriteMode::Append
        } else {
            WriteMode::Create
        };
        // The commit says which model made these vectors, next to the vectors.
        let lineage = Lineage {
            operation: JOB_KIND.into(),
            source: Some(if definition.vector_column {
                format!(
                    "{}.{}({}) vectors as stored",
                    definition.source_schema, definition.source_table, definition.text_column
                )
            } else {
                format!(
                    "{}.{}({}) embedded with {} sha256:{}",
                    definition.source_schema,
                    definition.source_table,
                    definition.text_column,
                    definition.model_name,
                    definition.model_sha256
                )
            }),
            sha256: None,
            user: definition.owner.clone(),
        };
        self.vectors
            .tables()
            .write_batches(
                table,
                schema,
                vec![batch],
                mode,
                &definition.owner,
                Some(&lineage),
            )
            .await?;
        Ok(first_row_id + n as i64)
    }
}

/// Delta has no view types: store keys as plain Utf8.
pub(crate) fn storage_type(data_type: &DataType) -> DataType {
    match data_type {
        DataType::Utf8View | DataType::LargeUtf8 => DataType::Utf8,
        other => other.clone(),
    }
}

/// Storage and I/O failures may pass; bad definitions and models will not.
fn is_transient(e: &UdfError) -> bool {
    matches!(
        e,
        UdfError::Catalog(
            lakehouse_catalog::CatalogError::Delta(_) | lakehouse_catalog::CatalogError::Io { .. }
        )
    )
}
