//! `DeltaSchemaProvider`: one user schema, its Delta tables and its views.

use std::any::Any;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::{SchemaProvider, Session, TableProvider};
use datafusion::datasource::TableType;
use datafusion::datasource::memory::MemorySourceConfig;
use datafusion::datasource::sink::{DataSink, DataSinkExec};
use datafusion::datasource::view::ViewTable;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::dml::InsertOp;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::physical_plan::coalesce_partitions::CoalescePartitionsExec;
use datafusion::physical_plan::empty::EmptyExec;
use datafusion::physical_plan::limit::GlobalLimitExec;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::union::UnionExec;
use datafusion::physical_plan::{DisplayAs, DisplayFormatType, ExecutionPlan};
use deltalake::DeltaTable;
use futures::TryStreamExt;
use tokio::sync::Mutex;

use crate::delta_commit::has_log_entry;
use crate::group_commit::GroupCommitter;
use crate::table_constraints::TableConstraints;
use crate::table_statistics::ExactStatisticsExec;
use crate::table_store::update_to_latest;
use crate::{CatalogError, DeltaTableStore, Lineage, TableIdent, UncommittedWrites, ViewStore};

/// A user schema: Delta tables on disk plus persisted views.
#[derive(Debug)]
pub struct DeltaSchemaProvider {
    name: String,
    store: DeltaTableStore,
    views: ViewStore,
}

impl DeltaSchemaProvider {
    pub fn new(name: impl Into<String>, store: DeltaTableStore, views: ViewStore) -> Self {
        DeltaSchemaProvider {
            name: name.into(),
            store,
            views,
        }
    }
}

#[async_trait]
impl SchemaProvider for DeltaSchemaProvider {
    fn table_names(&self) -> Vec<String> {
        let mut names = self.store.table_names(&self.name);
        names.extend(self.views.names(&self.name));
        names.sort();
        names
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        if let Some(view) = self.views.get(&self.name, name) {
            return Ok(Some(view));
        }
        let ident = TableIdent::new(&self.name, name);
        let live = self
            .store
            .provider(&ident)
            .await
            .map_err(DataFusionError::from)?;
        Ok(live.map(|t| t as Arc<dyn TableProvider>))
    }

    async fn table_type(&self, name: &str) -> Result<Option<TableType>> {
        if self.views.get(&self.name, name).is_some() {
            Ok(Some(TableType::View))
        } else if self.store.table_exists(&TableIdent::new(&self.name, name)) {
            Ok(Some(TableType::Base))
        } else {
            Ok(None)
        }
    }

    /// Reached by DataFusion's `CREATE VIEW`; plain tables are created through
    /// [`DeltaTableStore`] instead, so anything else is refused.
    fn register_table(
        &self,
        name: String,
        table: Arc<dyn TableProvider>,
    ) -> Result<Option<Arc<dyn TableProvider>>> {
        let Some(view) = (table.as_ref() as &dyn Any).downcast_ref::<ViewTable>() else {
            return Err(DataFusionError::Plan(format!(
                "cannot register in-memory table \"{name}\": tables are created with CREATE TABLE"
            )));
        };
        let definition = view.definition().cloned().ok_or_else(|| {
            DataFusionError::Plan(format!("view \"{name}\" has no SQL definition to persist"))
        })?;
        if self.store.table_exists(&TableIdent::new(&self.name, &name)) {
            return Err(CatalogError::TableExists(name).into());
        }
        self.views
            .put(&self.name, &name, &definition, table.clone())
            .map_err(DataFusionError::from)?;
        Ok(None)
    }

    fn deregister_table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        if let Some(view) = self.views.get(&self.name, name) {
            self.views.remove(&self.name, name)?;
            return Ok(Some(view));
        }
        let ident = TableIdent::new(&self.name, name);
        if !self.store.table_exists(&ident) {
            return Ok(None);
        }
        self.store.drop_table(&ident)?;
        // DataFusion only checks for Some; the dropped table has no provider left.
        Ok(Some(Arc::new(
            datafusion::datasource::empty::EmptyTable::new(Arc::new(
                datafusion::arrow::datatypes::Schema::empty(),
            )),
        )))
    }

    fn table_exist(&self, name: &str) -> bool {
        self.views.get(&self.name, name).is_some()
            || self.store.table_exists(&TableIdent::new(&self.name, name))
    }
}

/// A Delta table that reads its latest commit at every scan, so long-lived
/// plans (views, prepared statements) never serve a stale snapshot. Inside a
/// transaction block, the planning session's staged rows
/// ([`UncommittedWrites`]) join its scans and its inserts stage there.
#[derive(Debug)]
pub struct LiveDeltaTable {
    ident: TableIdent,
    schema: SchemaRef,
    table: Mutex<DeltaTable>,
    /// Held by the reader refreshing `table` (see [`LiveDeltaTable::latest_table`]).
    refresh: Mutex<()>,
    /// Refreshes started and finished, numbered from 1.
    refreshes_started: AtomicU64,
    refreshes_finished: AtomicU64,
    /// Where autocommit INSERTs commit (shared by the store's tables).
    appends: GroupCommitter,
    /// What the table declares beyond its columns (keys, defaults).
    declared: TableConstraints,
    /// Column defaults, planned: an INSERT that omits a column gets these.
    defaults: HashMap<String, Expr>,
}

impl LiveDeltaTable {
    pub(crate) async fn try_new(
        ident: TableIdent,
        table: DeltaTable,
        appends: GroupCommitter,
        declared: TableConstraints,
        defaults: HashMap<String, Expr>,
    ) -> Result<Self> {
        // The scan's own schema (string columns read as Utf8View), so that
        // filters planned against it match what the scan evaluates.
        let schema = table.table_provider().await?.schema();
        Ok(LiveDeltaTable {
            ident,
            schema,
            table: Mutex::new(table),
            refresh: Mutex::new(()),
            refreshes_started: AtomicU64::new(0),
            refreshes_finished: AtomicU64::new(0),
            appends,
            declared,
            defaults,
        })
    }

    /// The latest committed version of the table itself.
    ///
    /// When the log has no entry past the loaded version (one lookup), the
    /// loaded table is current. Otherwise a refresh reads the new entries,
    /// and readers share refreshes: a reader needs one that started after it
    /// arrived (an earlier one may have missed a commit acknowledged before
    /// it), so it waits for the refresh in progress to end and then either
    /// finds that a later one has finished or runs one itself. Each reader
    /// refreshing in turn made 16 readers queue for 30 s under 64 clients;
    /// each refreshing on its own made them share the 2 cores 16 ways.
    pub(crate) async fn latest_table(&self) -> Result<DeltaTable> {
        let loaded = self.loaded_table().await;
        if let Some(version) = loaded.version()
            && let Ok(false) = has_log_entry(&loaded, version + 1).await
        {
            return Ok(loaded);
        }
        let needed = self.refreshes_started.load(Ordering::Acquire) + 1;
        let _refreshing = self.refresh.lock().await;
        if self.refreshes_finished.load(Ordering::Acquire) >= needed {
            return Ok(self.loaded_table().await);
        }
        let epoch = self.refreshes_started.fetch_add(1, Ordering::AcqRel) + 1;
        let mut table = self.loaded_table().await;
        update_to_latest(&mut table)
            .await
            .map_err(|e| DataFusionError::External(Box::new(e)))?;
        {
            let mut kept = self.table.lock().await;
            if table.version() > kept.version() {
                *kept = table.clone();
            }
        }
        self.refreshes_finished.store(epoch, Ordering::Release);
        Ok(table)
    }

    /// The table as last loaded, without looking for newer commits.
    pub(crate) async fn loaded_table(&self) -> DeltaTable {
        self.table.lock().await.clone()
    }

    /// The provider of the latest committed version.
    async fn latest(&self) -> Result<Arc<dyn TableProvider>> {
        self.latest_table().await?.table_provider().await
    }

    /// The table's schema as scans read it.
    pub(crate) fn schema_ref(&self) -> &SchemaRef {
        &self.schema
    }

    /// What the table declares beyond its columns.
    pub(crate) fn declared(&self) -> &TableConstraints {
        &self.declared
    }
}

/// The Arrow schema DataFusion reads a Delta table with.
pub(crate) fn table_arrow_schema(table: &DeltaTable) -> Result<SchemaRef> {
    use deltalake::kernel::engine::arrow_conversion::TryIntoArrow;
    let snapshot = table
        .snapshot()
        .map_err(|e| DataFusionError::External(Box::new(e)))?;
    let schema: datafusion::arrow::datatypes::Schema =
        snapshot.schema().as_ref().try_into_arrow().map_err(
            |e: datafusion::arrow::error::ArrowError| {
                DataFusionError::ArrowError(Box::new(e), None)
            },
        )?;
    Ok(Arc::new(schema))
}

#[async_trait]
impl TableProvider for LiveDeltaTable {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn get_column_default(&self, column: &str) -> Option<&Expr> {
        self.defaults.get(column)
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> Result<Vec<TableProviderFilterPushDown>> {
        // Inexact: DataFusion keeps the filter above the scan, and the scan
        // still uses it to skip files.
        Ok(vec![TableProviderFilterPushDown::Inexact; filters.len()])
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let staged = UncommittedWrites::of(state)
            .map(|writes| writes.staged(&self.ident))
            .unwrap_or_default();
        // A table this session's block truncated has no committed rows for it.
        let committed = if staged.truncated {
            let schema = match projection {
                Some(columns) => Arc::new(self.schema.project(columns)?),
                None => self.schema.clone(),
            };
            Arc::new(EmptyExec::new(schema))
        } else {
            let table = self.latest_table().await?;
            let scan = table
                .table_provider()
                .await?
                .scan(state, projection, filters, limit)
                .await?;
            // Over every row of the table, the log's exact statistics let
            // count(*), min and max be answered without reading a file.
            if filters.is_empty() && staged.rows.is_empty() && limit.is_none() {
                Arc::new(ExactStatisticsExec::new(scan, table))
            } else {
                scan
            }
        };
        let staged = staged.rows;
        if staged.is_empty() {
            return Ok(committed);
        }
        // The filters are inexact (re-applied above the scan), so the staged
        // rows need only the projection; the limit is re-applied over both.
        let staged =
            MemorySourceConfig::try_new_exec(&[staged], self.schema.clone(), projection.cloned())?;
        let both = UnionExec::try_new(vec![committed, staged])?;
        Ok(match limit {
            Some(n) => Arc::new(GlobalLimitExec::new(
                Arc::new(CoalescePartitionsExec::new(both)),
                0,
                Some(n),
            )),
            None => both,
        })
    }

    async fn insert_into(
        &self,
        state: &dyn Session,
        input: Arc<dyn ExecutionPlan>,
        insert_op: InsertOp,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        if let Some(writes) = UncommittedWrites::of(state).filter(|w| w.is_open()) {
            if insert_op != InsertOp::Append {
                return Err(DataFusionError::NotImplemented(format!(
                    "{insert_op} inside a transaction block"
                )));
            }
            let sink = SessionWriteSink {
                ident: self.ident.clone(),
                schema: self.schema.clone(),
                declared: self.declared.clone(),
                writes,
                write: SessionWrite::StageRows,
            };
            return Ok(Arc::new(DataSinkExec::new(input, Arc::new(sink), None)));
        }
        if insert_op == InsertOp::Append {
            // Outside a block: written at execution, acknowledged once a
            // (group) commit holds it.
            let user = UncommittedWrites::of(state)
                .map(|w| w.user().to_string())
                .unwrap_or_default();
            let sink = AppendSink {
                ident: self.ident.clone(),
                schema: self.schema.clone(),
                // An append needs the table's schema and place, not its
                // latest files: the group's leader commits on top of the
                // latest version (one log refresh per group, not per INSERT).
                table: self.loaded_table().await,
                appends: self.appends.clone(),
                user,
                declared: self.declared.clone(),
            };
            return Ok(Arc::new(DataSinkExec::new(input, Arc::new(sink), None)));
        }
        self.latest()
            .await?
            .insert_into(state, input, insert_op)
            .await
    }

    async fn truncate(&self, state: &dyn Session) -> Result<Arc<dyn ExecutionPlan>> {
        let writes = UncommittedWrites::of(state).ok_or_else(|| {
            DataFusionError::NotImplemented("TRUNCATE outside a client session".into())
        })?;
        let sink = SessionWriteSink {
            ident: self.ident.clone(),
            schema: self.schema.clone(),
            declared: self.declared.clone(),
            writes,
            write: SessionWrite::Truncate,
        };
        let nothing = Arc::new(EmptyExec::new(self.schema.clone()));
        Ok(Arc::new(DataSinkExec::new(nothing, Arc::new(sink), None)))
    }
}

/// An autocommit `INSERT`: its rows go to new files when the plan executes
/// and commit through the table's group commit.
struct AppendSink {
    ident: TableIdent,
    schema: SchemaRef,
    /// The table as of planning; the commit goes on top of the latest version.
    table: DeltaTable,
    appends: GroupCommitter,
    user: String,
    /// Declared `varchar(n)` / `char(n)` lengths the rows must fit.
    declared: TableConstraints,
}

impl std::fmt::Debug for AppendSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AppendSink({})", self.ident)
    }
}

impl DisplayAs for AppendSink {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(f, "AppendSink: {}", self.ident)
    }
}

#[async_trait]
impl DataSink for AppendSink {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    async fn write_all(
        &self,
        data: SendableRecordBatchStream,
        _context: &Arc<TaskContext>,
    ) -> Result<u64> {
        let lineage = Lineage {
            operation: "INSERT".into(),
            source: None,
            sha256: None,
            user: self.user.clone(),
        };
        let declared = self.declared.clone();
        let schema = data.schema();
        let data = Box::pin(RecordBatchStreamAdapter::new(
            schema,
            data.and_then(move |batch| {
                let fitted = declared
                    .fit_declared_lengths(batch)
                    .map_err(DataFusionError::from);
                async move { fitted }
            }),
        ));
        Ok(self
            .appends
            .append(&self.ident, &self.table, data, lineage)
            .await?)
    }
}

/// A write the session's [`UncommittedWrites`] carries out when the plan
/// executes (not when it is planned, so EXPLAIN changes nothing).
#[derive(Debug)]
struct SessionWriteSink {
    ident: TableIdent,
    schema: SchemaRef,
    /// Declared `varchar(n)` / `char(n)` lengths the rows must fit.
    declared: TableConstraints,
    writes: Arc<UncommittedWrites>,
    write: SessionWrite,
}

#[derive(Debug, Clone, Copy)]
enum SessionWrite {
    /// INSERT inside a transaction block: the rows are staged for COMMIT.
    StageRows,
    /// TRUNCATE: staged in a block, committed at once outside.
    Truncate,
}

impl DisplayAs for SessionWriteSink {
    fn fmt_as(&self, _: DisplayFormatType, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(f, "SessionWriteSink: {:?} table={}", self.write, self.ident)
    }
}

#[async_trait]
impl DataSink for SessionWriteSink {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    async fn write_all(
        &self,
        data: SendableRecordBatchStream,
        _context: &Arc<TaskContext>,
    ) -> Result<u64> {
        match self.write {
            SessionWrite::StageRows => {
                let batches: Vec<_> = data.try_collect().await?;
                let batches = batches
                    .into_iter()
                    .map(|b| self.declared.fit_declared_lengths(b))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(self.writes.stage(&self.ident, &self.schema, batches)?)
            }
            SessionWrite::Truncate => {
                self.writes.truncate(&self.ident, &self.schema).await?;
                Ok(0)
            }
        }
    }
}
