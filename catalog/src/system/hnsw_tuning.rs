//! `lakehouse.hnsw_evals`, `lakehouse.hnsw_trials` (append-only Delta journals)
//! and `lakehouse.cache` (what the embedding cache holds).

use std::sync::{Arc, LazyLock};

use async_trait::async_trait;
use datafusion::arrow::array::{ArrayRef, Int64Array, StringArray, TimestampMicrosecondArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::error::{DataFusionError, Result};

use super::SystemTableSource;
use crate::append_only_table::AppendOnlyTable;
use crate::vector_index::EmbeddingCache;

/// A journal shown through its first `columns` columns (eval sets keep their
/// query rows and ground truth in later ones, which are not for display).
#[derive(Debug)]
pub struct JournalTable {
    table: AppendOnlyTable,
    columns: usize,
}

impl JournalTable {
    pub fn new(table: AppendOnlyTable, columns: usize) -> Self {
        JournalTable { table, columns }
    }

    fn projection(&self) -> Vec<usize> {
        (0..self.columns.min(self.table.schema().fields().len())).collect()
    }
}

#[async_trait]
impl SystemTableSource for JournalTable {
    fn schema(&self) -> SchemaRef {
        Arc::new(
            self.table
                .schema()
                .project(&self.projection())
                .unwrap_or_else(|_| Schema::empty()),
        )
    }

    async fn batch(&self) -> Result<RecordBatch> {
        let batch = self.table.read().await.map_err(DataFusionError::from)?;
        Ok(batch.project(&self.projection())?)
    }
}

static CACHE_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    let int = |n: &str| Field::new(n, DataType::Int64, false);
    Arc::new(Schema::new(vec![
        Field::new("kind", DataType::Utf8, false),
        Field::new("name", DataType::Utf8, false),
        int("entries"),
        int("dims"),
        int("bytes"),
        int("hits"),
        int("loads"),
        Field::new(
            "loaded",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            false,
        ),
    ]))
});

/// `lakehouse.cache`: one row per index whose vectors are in memory.
#[derive(Debug)]
pub struct CacheTable {
    embeddings: EmbeddingCache,
}

impl CacheTable {
    pub fn new(embeddings: EmbeddingCache) -> Self {
        CacheTable { embeddings }
    }
}

#[async_trait]
impl SystemTableSource for CacheTable {
    fn schema(&self) -> SchemaRef {
        CACHE_SCHEMA.clone()
    }

    async fn batch(&self) -> Result<RecordBatch> {
        let stats = self.embeddings.stats();
        let int = |f: &dyn Fn(&crate::vector_index::CacheEntryStats) -> i64| -> ArrayRef {
            Arc::new(Int64Array::from_iter_values(stats.iter().map(f)))
        };
        let columns: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from_iter_values(
                stats.iter().map(|_| "embeddings"),
            )),
            Arc::new(StringArray::from_iter_values(
                stats.iter().map(|s| s.index.as_str()),
            )),
            int(&|s| s.vectors as i64),
            int(&|s| s.dims as i64),
            int(&|s| s.bytes as i64),
            int(&|s| s.hits as i64),
            int(&|s| s.loads as i64),
            Arc::new(
                TimestampMicrosecondArray::from_iter_values(
                    stats.iter().map(|s| s.loaded.timestamp_micros()),
                )
                .with_timezone("UTC"),
            ),
        ];
        Ok(RecordBatch::try_new(CACHE_SCHEMA.clone(), columns)?)
    }
}
