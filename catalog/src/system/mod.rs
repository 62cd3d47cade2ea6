//! The `lakehouse` system schema: read-only tables computed at query time from
//! the Delta logs, never from a second copy that could drift.

mod columns;
mod datasets;
mod hnsw_tuning;
mod jobs;
mod vector_indexes;

use std::fmt::Debug;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::catalog::{SchemaProvider, Session, TableProvider};
use datafusion::datasource::TableType;
use datafusion::datasource::memory::MemorySourceConfig;
use datafusion::error::Result;
use datafusion::logical_expr::Expr;
use datafusion::physical_plan::ExecutionPlan;

use crate::vector_index::VectorIndexStore;
use crate::{DeltaTableStore, JobStore};
pub use columns::ColumnsTable;
pub use datasets::DatasetsTable;
pub use hnsw_tuning::{CacheTable, JournalTable};
pub use jobs::JobsTable;
pub use vector_indexes::VectorIndexesTable;

/// A system table: a fixed schema and a function that computes its rows.
#[async_trait]
pub trait SystemTableSource: Send + Sync + Debug + 'static {
    fn schema(&self) -> SchemaRef;
    async fn batch(&self) -> Result<RecordBatch>;
}

/// A table computed at scan time, possibly from the scanning session (its
/// settings): system tables, and the pg_catalog and information_schema
/// views lakehouse computes.
#[async_trait]
pub trait ComputedTable: Send + Sync + Debug + 'static {
    fn schema(&self) -> SchemaRef;
    async fn batches(&self, state: &dyn Session) -> Result<Vec<RecordBatch>>;
}

#[async_trait]
impl<T: SystemTableSource> ComputedTable for T {
    fn schema(&self) -> SchemaRef {
        SystemTableSource::schema(self)
    }

    async fn batches(&self, _state: &dyn Session) -> Result<Vec<RecordBatch>> {
        Ok(vec![self.batch().await?])
    }
}

/// Adapts a [`ComputedTable`] to DataFusion: a read-only view whose rows are
/// computed when it is scanned.
#[derive(Debug)]
pub struct SystemTable<T>(pub T);

#[async_trait]
impl<T: ComputedTable> TableProvider for SystemTable<T> {
    fn schema(&self) -> SchemaRef {
        self.0.schema()
    }

    fn table_type(&self) -> TableType {
        TableType::View
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        _limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let batches = self.0.batches(state).await?;
        Ok(MemorySourceConfig::try_new_exec(
            &[batches],
            self.0.schema(),
            projection.cloned(),
        )?)
    }
}

/// The `lakehouse` schema.
#[derive(Debug)]
pub struct SystemSchema {
    store: DeltaTableStore,
    jobs: JobStore,
    vectors: VectorIndexStore,
}

impl SystemSchema {
    pub fn new(store: DeltaTableStore, jobs: JobStore, vectors: VectorIndexStore) -> Self {
        SystemSchema {
            store,
            jobs,
            vectors,
        }
    }
}

const TABLES: [&str; 7] = [
    "cache",
    "columns",
    "datasets",
    "hnsw_evals",
    "hnsw_trials",
    "jobs",
    "vector_indexes",
];

#[async_trait]
impl SchemaProvider for SystemSchema {
    fn table_names(&self) -> Vec<String> {
        TABLES.iter().map(|s| s.to_string()).collect()
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        Ok(match name {
            "datasets" => Some(Arc::new(SystemTable(DatasetsTable::new(
                self.store.clone(),
            )))),
            "columns" => Some(Arc::new(SystemTable(ColumnsTable::new(self.store.clone())))),
            "jobs" => Some(Arc::new(SystemTable(JobsTable::new(self.jobs.clone())))),
            "vector_indexes" => Some(Arc::new(SystemTable(VectorIndexesTable::new(
                self.vectors.clone(),
            )))),
            // Shown without the eval sets' query rows and ground truth.
            "hnsw_evals" => Some(Arc::new(SystemTable(JournalTable::new(
                self.vectors.evals().table().clone(),
                5,
            )))),
            "hnsw_trials" => Some(Arc::new(SystemTable(JournalTable::new(
                self.vectors.trials().table().clone(),
                usize::MAX,
            )))),
            "cache" => Some(Arc::new(SystemTable(CacheTable::new(
                self.vectors.embeddings().clone(),
            )))),
            _ => None,
        })
    }

    fn table_exist(&self, name: &str) -> bool {
        TABLES.contains(&name)
    }
}
