//! `DeltaTableStore`: create, open, write and drop the Delta tables of a data dir.
//!
//! A table exists exactly when its `_delta_log` holds a commit; every write
//! here is one commit, so readers and a crash see whole statements or nothing.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::catalog::Session;
use datafusion::common::{DFSchema, SchemaError};
use datafusion::error::DataFusionError;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::logical_expr::{Expr, LogicalPlan, ScalarUDF};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use deltalake::kernel::engine::arrow_conversion::TryIntoKernel;
use deltalake::kernel::transaction::CommitProperties;
use deltalake::kernel::{MetadataValue, StructType, normalize_for_delta};
use deltalake::operations::update_table_metadata::TableMetadataUpdate;
use deltalake::operations::write::{SchemaMode, WriteBuilder};
use deltalake::protocol::SaveMode;
use deltalake::{DeltaTable, DeltaTableError};
use futures::TryStreamExt;

use crate::data_dir::{DataDir, validate_name};
use crate::group_commit::{GroupCommitter, WrittenFiles};
use crate::schema_provider::LiveDeltaTable;
use crate::table_constraints::{CONSTRAINTS_PROPERTY, TableConstraints};
use crate::{CatalogError, Lineage};

/// The field metadata key of a column comment.
pub const COLUMN_COMMENT_KEY: &str = "comment";

/// Table property naming the role that created the table (`pg_class.relowner`).
pub const OWNER_PROPERTY: &str = "lakehouse.owner";

/// What a table declares about itself: its comment, its columns (in order)
/// with their comments, and its informational constraints.
#[derive(Debug, Clone)]
pub struct TableDefinition {
    pub ident: TableIdent,
    /// The role that created the table with `CREATE TABLE` (tables made by a
    /// first write have none recorded).
    pub owner: Option<String>,
    pub comment: Option<String>,
    pub columns: Vec<(String, Option<String>)>,
    /// The Arrow type of each column, in the order of `columns`.
    pub column_types: Vec<datafusion::arrow::datatypes::DataType>,
    pub constraints: TableConstraints,
    /// Bytes of the data files of the latest version.
    pub bytes: i64,
}

/// A schema-qualified table name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TableIdent {
    pub schema: String,
    pub table: String,
}

impl TableIdent {
    pub fn new(schema: impl Into<String>, table: impl Into<String>) -> Self {
        TableIdent {
            schema: schema.into(),
            table: table.into(),
        }
    }
}

impl std::fmt::Display for TableIdent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.schema, self.table)
    }
}

/// How a write treats rows already in the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteMode {
    /// Fails if the table exists.
    Create,
    Append,
    /// Replaces all rows (and the schema) in one commit.
    Replace,
}

/// Figures computed from a table's current snapshot and log.
#[derive(Debug, Clone, Default)]
pub struct TableStats {
    pub version: i64,
    pub rows: i64,
    pub bytes: i64,
    pub files: i64,
    pub description: Option<String>,
    pub owner: Option<String>,
    /// Commit time of version 0, ms since the epoch.
    pub created_ms: Option<i64>,
    /// Commit time of the latest version, ms since the epoch.
    pub updated_ms: Option<i64>,
    /// Lineage of every commit that carried some, oldest first.
    pub lineage: Vec<(i64, Lineage)>,
}

/// Opens, creates, writes and drops the Delta tables under a [`DataDir`].
#[derive(Debug, Clone)]
pub struct DeltaTableStore {
    dir: DataDir,
    /// Providers of tables already opened, so a query does not replay a
    /// table's whole log; each refreshes incrementally when scanned. Writes
    /// that can change a schema, and drops, evict their entry.
    live: Arc<Mutex<HashMap<TableIdent, Arc<LiveDeltaTable>>>>,
    /// Appends to one table share commits (see [`GroupCommitter`]).
    appends: GroupCommitter,
    /// Functions a column default may call beyond DataFusion's own
    /// (`nextval`), installed by the server at start.
    default_functions: Arc<RwLock<Vec<Arc<ScalarUDF>>>>,
}

impl DeltaTableStore {
    pub fn new(dir: DataDir) -> Self {
        DeltaTableStore {
            dir,
            live: Arc::default(),
            appends: GroupCommitter::default(),
            default_functions: Arc::default(),
        }
    }

    /// Installs the functions column defaults may call (see
    /// [`DeltaTableStore::plan_default`]).
    pub fn set_default_functions(&self, functions: Vec<Arc<ScalarUDF>>) {
        if let Ok(mut installed) = self.default_functions.write() {
            *installed = functions;
        }
        if let Ok(mut cache) = self.live.lock() {
            cache.clear();
        }
    }

    /// Plans a column default's SQL text. It may call functions, never
    /// name a column (PostgreSQL: "cannot use column reference in DEFAULT
    /// expression").
    pub fn plan_default(&self, sql: &str) -> Result<Expr, CatalogError> {
        let ctx = datafusion::prelude::SessionContext::new();
        if let Ok(functions) = self.default_functions.read() {
            for function in functions.iter() {
                ctx.register_udf(function.as_ref().clone());
            }
        }
        let expr = match ctx.parse_sql_expr(sql, &DFSchema::empty()) {
            Err(e)
                if matches!(e.find_root(), DataFusionError::SchemaError(inner, _)
                    if matches!(**inner, SchemaError::FieldNotFound { .. })) =>
            {
                return Err(CatalogError::ColumnReferenceInDefault);
            }
            other => other?,
        };
        if !expr.column_refs().is_empty() {
            return Err(CatalogError::ColumnReferenceInDefault);
        }
        Ok(expr)
    }

    /// A table's declarations (constraints, defaults) from its metadata, and
    /// its defaults planned, by column.
    fn declarations(
        &self,
        ident: &TableIdent,
        table: &DeltaTable,
    ) -> Result<(TableConstraints, HashMap<String, Expr>), CatalogError> {
        let snapshot = table.snapshot()?;
        let Some(json) = snapshot
            .metadata()
            .configuration()
            .get(CONSTRAINTS_PROPERTY)
        else {
            return Ok(Default::default());
        };
        let declared = TableConstraints::from_json(json).map_err(|e| CatalogError::Corrupt {
            path: format!("{ident} property {CONSTRAINTS_PROPERTY}"),
            message: e.to_string(),
        })?;
        let defaults = declared
            .column_defaults
            .iter()
            .map(|(column, default)| Ok((column.clone(), self.plan_default(&default.expr)?)))
            .collect::<Result<_, CatalogError>>()?;
        Ok((declared, defaults))
    }

    /// The column names and declarations of a table as its loaded provider
    /// knows them (no log lookup beyond the provider cache), or `None` if
    /// it does not exist. INSERTs check identity columns against them.
    pub async fn declared(
        &self,
        ident: &TableIdent,
    ) -> Result<Option<(Vec<String>, TableConstraints)>, CatalogError> {
        Ok(self.provider(ident).await?.map(|live| {
            let columns = live
                .schema_ref()
                .fields()
                .iter()
                .map(|f| f.name().clone())
                .collect();
            (columns, live.declared().clone())
        }))
    }

    /// Writes `batches` into new files of an existing table without
    /// committing them (the first phase of a block's COMMIT).
    pub async fn write_files(
        &self,
        ident: &TableIdent,
        batches: Vec<RecordBatch>,
    ) -> Result<WrittenFiles, CatalogError> {
        let table = self.table_for_write(ident, WriteMode::Append).await?;
        let schema = match batches.first() {
            Some(b) => b.schema(),
            None => Arc::new(datafusion::arrow::datatypes::Schema::empty()),
        };
        let stream = RecordBatchStreamAdapter::new(
            schema,
            futures::stream::iter(batches.into_iter().map(Ok)),
        );
        GroupCommitter::write(ident, &table, Box::pin(stream)).await
    }

    /// Commits files [`Self::write_files`] wrote (through the group commit).
    pub async fn commit_files(
        &self,
        written: WrittenFiles,
        lineage: Lineage,
    ) -> Result<u64, CatalogError> {
        self.appends.commit_written(written, lineage).await
    }

    /// Appends `batches` to an existing table through the group commit:
    /// acknowledged once committed, leaving nothing behind if not.
    pub async fn append_stream(
        &self,
        ident: &TableIdent,
        batches: SendableRecordBatchStream,
        lineage: Lineage,
    ) -> Result<u64, CatalogError> {
        let table = self.table_for_write(ident, WriteMode::Append).await?;
        self.appends.append(ident, &table, batches, lineage).await
    }

    /// The DataFusion provider of a table, or `None` if it does not exist.
    pub async fn provider(
        &self,
        ident: &TableIdent,
    ) -> Result<Option<Arc<LiveDeltaTable>>, CatalogError> {
        if !self.table_exists(ident) {
            self.evict(ident);
            return Ok(None);
        }
        if let Some(live) = self.cached(ident) {
            return Ok(Some(live));
        }
        let Some(table) = self.open(ident).await? else {
            return Ok(None);
        };
        let (declared, defaults) = self.declarations(ident, &table)?;
        let live = Arc::new(
            LiveDeltaTable::try_new(
                ident.clone(),
                table,
                self.appends.clone(),
                declared,
                defaults,
            )
            .await?,
        );
        if let Ok(mut cache) = self.live.lock() {
            cache.insert(ident.clone(), live.clone());
        }
        Ok(Some(live))
    }

    fn cached(&self, ident: &TableIdent) -> Option<Arc<LiveDeltaTable>> {
        self.live.lock().ok()?.get(ident).cloned()
    }

    fn evict(&self, ident: &TableIdent) {
        if let Ok(mut cache) = self.live.lock() {
            cache.remove(ident);
        }
    }

    pub fn data_dir(&self) -> &DataDir {
        &self.dir
    }

    /// Where commits to the store's tables queue, and their slots.
    pub(crate) fn group_committer(&self) -> &GroupCommitter {
        &self.appends
    }

    /// Schemas on disk (directories under `tables/`), sorted.
    pub fn schema_names(&self) -> Vec<String> {
        list_dirs(&self.dir.tables(), |_| true)
    }

    pub fn schema_exists(&self, schema: &str) -> bool {
        validate_name(schema).is_ok() && self.dir.schema_dir(schema).is_dir()
    }

    pub fn create_schema(&self, schema: &str, if_not_exists: bool) -> Result<(), CatalogError> {
        validate_name(schema)?;
        let path = self.dir.schema_dir(schema);
        if path.is_dir() {
            return if if_not_exists {
                Ok(())
            } else {
                Err(CatalogError::SchemaExists(schema.to_string()))
            };
        }
        std::fs::create_dir_all(&path).map_err(|e| CatalogError::io(&path, e))
    }

    /// Removes an empty schema (`cascade` drops its tables first).
    pub fn drop_schema(&self, schema: &str, cascade: bool) -> Result<(), CatalogError> {
        if !self.schema_exists(schema) {
            return Err(CatalogError::SchemaNotFound(schema.to_string()));
        }
        let tables = self.table_names(schema);
        if !tables.is_empty() && !cascade {
            return Err(CatalogError::SchemaNotEmpty(schema.to_string()));
        }
        for t in tables {
            self.drop_table(&TableIdent::new(schema, t))?;
        }
        let path = self.dir.schema_dir(schema);
        remove_dir_crash_safe(&path)
    }

    /// A value that changes whenever a schema, a table or a commit comes or
    /// goes: it hashes the schema and table names and each table's latest
    /// commit file. Directory listings only, so a catalog snapshot computed
    /// from the tables can be reused for as long as it holds.
    pub fn fingerprint(&self) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        for schema in self.schema_names() {
            schema.hash(&mut hasher);
            // Every table directory, committed or not: one listing of its
            // log each (a directory without commits hashes as `None`).
            for table in list_dirs(&self.dir.schema_dir(&schema), |_| true) {
                let log = self.dir.table_dir(&schema, &table).join("_delta_log");
                // A table dropped and made again reaches the same version:
                // the commit file itself (time, inode, size) tells them apart.
                let latest = latest_commit(&log).map(|(version, path)| {
                    let written = std::fs::metadata(path).ok().map(|m| {
                        use std::os::unix::fs::MetadataExt;
                        (m.modified().ok(), m.ino(), m.len())
                    });
                    (version, written)
                });
                (table, latest).hash(&mut hasher);
            }
        }
        hasher.finish()
    }

    /// Committed tables of a schema, sorted.
    pub fn table_names(&self, schema: &str) -> Vec<String> {
        if validate_name(schema).is_err() {
            return Vec::new();
        }
        list_dirs(&self.dir.schema_dir(schema), |p| {
            p.join("_delta_log").is_dir() && has_commit(&p.join("_delta_log"))
        })
    }

    /// The latest committed version of a table (its newest commit file), or
    /// `None` if it has none.
    pub fn latest_version(&self, ident: &TableIdent) -> Option<i64> {
        if validate_name(&ident.schema).is_err() || validate_name(&ident.table).is_err() {
            return None;
        }
        let log = self
            .dir
            .table_dir(&ident.schema, &ident.table)
            .join("_delta_log");
        latest_commit(&log).map(|(version, _)| version)
    }

    /// Drops a table a rolled-back transaction block created, if nothing was
    /// committed to it since `version` (another session's rows are never
    /// dropped). Whether it was dropped.
    pub fn drop_if_unchanged(
        &self,
        ident: &TableIdent,
        version: i64,
    ) -> Result<bool, CatalogError> {
        if self.latest_version(ident) != Some(version) {
            return Ok(false);
        }
        self.drop_table(ident)?;
        Ok(true)
    }

    pub fn table_exists(&self, ident: &TableIdent) -> bool {
        validate_name(&ident.schema).is_ok()
            && validate_name(&ident.table).is_ok()
            && has_commit(
                &self
                    .dir
                    .table_dir(&ident.schema, &ident.table)
                    .join("_delta_log"),
            )
    }

    /// Loads the latest version of a table, or `None` if it does not exist.
    pub async fn open(&self, ident: &TableIdent) -> Result<Option<DeltaTable>, CatalogError> {
        if !self.table_exists(ident) {
            return Ok(None);
        }
        let url = self.dir.table_url(&ident.schema, &ident.table)?;
        match deltalake::open_table(url).await {
            Ok(t) => Ok(Some(t)),
            Err(DeltaTableError::NotATable(_)) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Creates an empty table with `schema` and its informational constraints,
    /// in one commit; an existing table is an error.
    pub async fn create_table(
        &self,
        ident: &TableIdent,
        schema: SchemaRef,
        owner: &str,
        constraints: &TableConstraints,
    ) -> Result<(), CatalogError> {
        let table = self.table_for_write(ident, WriteMode::Create).await?;
        // What a first write would declare, plus the constraints property,
        // which only the create builder can be told not to validate.
        let columns: StructType = normalize_for_delta(&schema).try_into_kernel()?;
        let mut configuration = vec![(OWNER_PROPERTY, Some(owner.to_string()))];
        if !constraints.is_empty() {
            configuration.push((CONSTRAINTS_PROPERTY, Some(constraints.to_json())));
        }
        table
            .create()
            .with_columns(columns.fields().cloned())
            .with_configuration(configuration)
            .with_raise_if_key_not_exists(false)
            .with_save_mode(SaveMode::ErrorIfExists)
            .with_commit_properties(commit_properties(None, owner))
            .await?;
        self.evict(ident);
        Ok(())
    }

    /// Replaces a table's informational constraints (one commit).
    pub async fn set_constraints(
        &self,
        ident: &TableIdent,
        constraints: &TableConstraints,
        user: &str,
    ) -> Result<(), CatalogError> {
        let table = self.open_for_change(ident).await?;
        table
            .set_tbl_properties()
            .with_properties(HashMap::from([(
                CONSTRAINTS_PROPERTY.to_string(),
                constraints.to_json(),
            )]))
            // Not a `delta.*` property: Delta must keep it, not validate it.
            .with_raise_if_not_exists(false)
            .with_commit_properties(commit_properties(None, user))
            .await?;
        // The cached provider applies the defaults it was built with.
        self.evict(ident);
        Ok(())
    }

    /// `COMMENT ON TABLE`: the Delta table description; `None` (or an empty
    /// comment, as in PostgreSQL) removes it.
    pub async fn set_table_comment(
        &self,
        ident: &TableIdent,
        comment: Option<&str>,
        user: &str,
    ) -> Result<(), CatalogError> {
        let table = self.open_for_change(ident).await?;
        table
            .update_table_metadata()
            .with_update(TableMetadataUpdate {
                name: None,
                description: Some(comment.unwrap_or_default().to_string()),
            })
            .with_commit_properties(commit_properties(None, user))
            .await?;
        Ok(())
    }

    /// `COMMENT ON COLUMN`: the column's `comment` field metadata (the key
    /// Spark and Databricks use); an empty comment removes it.
    pub async fn set_column_comment(
        &self,
        ident: &TableIdent,
        column: &str,
        comment: Option<&str>,
        user: &str,
    ) -> Result<(), CatalogError> {
        let table = self.open_for_change(ident).await?;
        let has_column = table
            .snapshot()?
            .schema()
            .fields()
            .any(|f| f.name() == column);
        if !has_column {
            return Err(CatalogError::ColumnNotFound {
                table: ident.table.clone(),
                column: column.to_string(),
            });
        }
        table
            .update_field_metadata()
            .with_field_name(column)
            .with_metadata(HashMap::from([(
                COLUMN_COMMENT_KEY.to_string(),
                MetadataValue::String(comment.unwrap_or_default().to_string()),
            )]))
            .with_commit_properties(commit_properties(None, user))
            .await?;
        // The cached provider's schema carries field metadata.
        self.evict(ident);
        Ok(())
    }

    /// The latest committed version of an existing table, for a metadata change.
    async fn open_for_change(&self, ident: &TableIdent) -> Result<DeltaTable, CatalogError> {
        self.check_writable_ident(ident)?;
        self.open(ident)
            .await?
            .ok_or_else(|| CatalogError::TableNotFound(ident.table.clone()))
    }

    /// The definition of every table, in schema and table order; a table
    /// dropped while listing is skipped.
    pub async fn definitions(&self) -> Result<Vec<TableDefinition>, CatalogError> {
        let mut definitions = Vec::new();
        for schema in self.schema_names() {
            for name in self.table_names(&schema) {
                if let Some(definition) = self.definition(&TableIdent::new(&schema, name)).await? {
                    definitions.push(definition);
                }
            }
        }
        Ok(definitions)
    }

    /// A table's columns, comment and constraints at its latest version, or
    /// `None` if it does not exist.
    pub async fn definition(
        &self,
        ident: &TableIdent,
    ) -> Result<Option<TableDefinition>, CatalogError> {
        let Some(live) = self.provider(ident).await? else {
            return Ok(None);
        };
        let table = live.latest_table().await?;
        let snapshot = table.snapshot()?;
        let metadata = snapshot.metadata();
        let constraints = match metadata.configuration().get(CONSTRAINTS_PROPERTY) {
            Some(json) => TableConstraints::from_json(json).map_err(|e| CatalogError::Corrupt {
                path: format!(
                    "{}.{} property {CONSTRAINTS_PROPERTY}",
                    ident.schema, ident.table
                ),
                message: e.to_string(),
            })?,
            None => TableConstraints::default(),
        };
        let columns = snapshot
            .schema()
            .fields()
            .map(|f| {
                let comment = match f.metadata().get(COLUMN_COMMENT_KEY) {
                    Some(MetadataValue::String(s)) if !s.is_empty() => Some(s.clone()),
                    _ => None,
                };
                (f.name().to_string(), comment)
            })
            .collect();
        Ok(Some(TableDefinition {
            ident: ident.clone(),
            owner: metadata.configuration().get(OWNER_PROPERTY).cloned(),
            comment: metadata
                .description()
                .filter(|d| !d.is_empty())
                .map(str::to_string),
            columns,
            column_types: crate::schema_provider::table_arrow_schema(&table)?
                .fields()
                .iter()
                .map(|f| f.data_type().clone())
                .collect(),
            constraints,
            bytes: snapshot.log_data().iter().map(|f| f.size()).sum(),
        }))
    }

    /// Writes in-memory batches as one commit (creating the table if needed
    /// and `mode` allows). Returns the rows written.
    pub async fn write_batches(
        &self,
        ident: &TableIdent,
        schema: SchemaRef,
        batches: Vec<RecordBatch>,
        mode: WriteMode,
        user: &str,
        lineage: Option<&Lineage>,
    ) -> Result<u64, CatalogError> {
        let rows = batches.iter().map(|b| b.num_rows() as u64).sum();
        if mode == WriteMode::Append {
            let lineage = lineage.cloned().unwrap_or_else(|| Lineage {
                operation: "write".into(),
                source: None,
                sha256: None,
                user: user.to_string(),
            });
            let stream = RecordBatchStreamAdapter::new(
                schema,
                futures::stream::iter(batches.into_iter().map(Ok)),
            );
            return self.append_stream(ident, Box::pin(stream), lineage).await;
        }
        // A replacement holds the table's slot: a block's COMMIT checks and
        // commits under it (see `block_commit`).
        let _slot = self.appends.lock_table(ident).await;
        let table = self.table_for_write(ident, mode).await?;
        let batches = if batches.is_empty() {
            vec![RecordBatch::new_empty(schema)]
        } else {
            batches
        };
        configure_write(table.write(batches), mode, lineage, user).await?;
        if mode != WriteMode::Append {
            self.evict(ident);
        }
        Ok(rows)
    }

    /// Streams the result of `plan` into the table as one commit.
    pub async fn write_plan(
        &self,
        ident: &TableIdent,
        plan: LogicalPlan,
        session: Arc<dyn Session>,
        mode: WriteMode,
        user: &str,
        lineage: Option<&Lineage>,
    ) -> Result<DeltaTable, CatalogError> {
        let _slot = match mode {
            WriteMode::Append => None,
            _ => Some(self.appends.lock_table(ident).await),
        };
        let table = self.table_for_write(ident, mode).await?;
        let builder = table
            .write(std::iter::empty())
            .with_input_plan(plan)
            .with_session_state(session);
        let table = configure_write(builder, mode, lineage, user).await?;
        if mode != WriteMode::Append {
            self.evict(ident);
        }
        Ok(table)
    }

    async fn table_for_write(
        &self,
        ident: &TableIdent,
        mode: WriteMode,
    ) -> Result<DeltaTable, CatalogError> {
        self.check_writable_ident(ident)?;
        let exists = self.table_exists(ident);
        match (mode, exists) {
            (WriteMode::Create, true) => {
                return Err(CatalogError::TableExists(ident.table.clone()));
            }
            (WriteMode::Append, false) => {
                return Err(CatalogError::TableNotFound(ident.table.clone()));
            }
            _ => {}
        }
        if !exists {
            // Leftovers of a write that crashed before its first commit are
            // invisible; clear them so the new table starts clean.
            let dir = self.dir.table_dir(&ident.schema, &ident.table);
            if dir.exists() {
                remove_dir_crash_safe(&dir)?;
            }
            std::fs::create_dir_all(&dir).map_err(|e| CatalogError::io(&dir, e))?;
        }
        if mode == WriteMode::Append {
            // An append needs the table's schema and place: the loaded
            // table will do (its commit refreshes to the latest version).
            if let Some(live) = self.provider(ident).await? {
                return Ok(live.loaded_table().await);
            }
        }
        let url = self.dir.table_url(&ident.schema, &ident.table)?;
        if exists {
            Ok(deltalake::open_table(url).await?)
        } else {
            // Not loaded: there is no log yet, the write creates it.
            Ok(deltalake::DeltaTableBuilder::from_url(url)?.build()?)
        }
    }

    fn check_writable_ident(&self, ident: &TableIdent) -> Result<(), CatalogError> {
        validate_name(&ident.schema)?;
        validate_name(&ident.table)?;
        if ident.schema == crate::SYSTEM_SCHEMA || ident.schema == "pg_catalog" {
            return Err(CatalogError::ReadOnly(ident.schema.clone()));
        }
        if !self.schema_exists(&ident.schema) {
            return Err(CatalogError::SchemaNotFound(ident.schema.clone()));
        }
        Ok(())
    }

    /// Drops a table. The directory is first renamed aside (atomic), so a crash
    /// mid-delete never leaves a half table visible.
    pub fn drop_table(&self, ident: &TableIdent) -> Result<(), CatalogError> {
        if !self.table_exists(ident) {
            return Err(CatalogError::TableNotFound(ident.table.clone()));
        }
        self.evict(ident);
        self.appends.forget(ident);
        remove_dir_crash_safe(&self.dir.table_dir(&ident.schema, &ident.table))
    }

    /// Every committed table, loaded at its latest version, in schema order.
    /// A table dropped while listing is skipped.
    pub async fn open_all(&self) -> Result<Vec<(TableIdent, DeltaTable)>, CatalogError> {
        let mut tables = Vec::new();
        for schema in self.schema_names() {
            for name in self.table_names(&schema) {
                let ident = TableIdent::new(&schema, name);
                if let Some(table) = self.open(&ident).await? {
                    tables.push((ident, table));
                }
            }
        }
        Ok(tables)
    }

    /// Size, row count, ownership and history of a table.
    pub async fn stats(&self, table: &DeltaTable) -> Result<TableStats, CatalogError> {
        let snapshot = table.snapshot()?;
        let mut stats = TableStats {
            version: snapshot.version() as i64,
            ..Default::default()
        };
        for file in snapshot.log_data().iter() {
            stats.files += 1;
            stats.bytes += file.size();
            stats.rows += file.num_records().unwrap_or(0) as i64;
        }
        stats.description = snapshot.metadata().description().map(str::to_string);
        let history: Vec<_> = table.history(None).try_collect().await?;
        // history() yields newest first.
        for (i, info) in history.iter().rev().enumerate() {
            let version = i as i64;
            let lineage = Lineage::from_commit_info(&info.info);
            if version == 0 {
                stats.created_ms = info.timestamp;
                // The role that created the table owns it.
                stats.owner = lineage.as_ref().map(|l| l.user.clone());
            }
            stats.updated_ms = info.timestamp.or(stats.updated_ms);
            if let Some(l) = lineage.filter(|l| l.source.is_some()) {
                stats.lineage.push((version, l));
            }
        }
        Ok(stats)
    }

    /// Whether a file with this SHA-256 was already ingested into the table.
    pub async fn contains_source_hash(
        &self,
        table: &DeltaTable,
        sha256: &str,
    ) -> Result<bool, CatalogError> {
        let history: Vec<_> = table.history(None).try_collect().await?;
        Ok(history.iter().any(|info| {
            Lineage::from_commit_info(&info.info)
                .is_some_and(|l| l.sha256.as_deref() == Some(sha256))
        }))
    }
}

/// Save mode, schema handling and commit metadata of one write.
pub(crate) fn configure_write(
    builder: WriteBuilder,
    mode: WriteMode,
    lineage: Option<&Lineage>,
    user: &str,
) -> WriteBuilder {
    let builder = builder
        .with_save_mode(save_mode(mode))
        .with_commit_properties(commit_properties(lineage, user));
    if mode == WriteMode::Replace {
        builder.with_schema_mode(SchemaMode::Overwrite)
    } else {
        builder
    }
}

fn save_mode(mode: WriteMode) -> SaveMode {
    match mode {
        WriteMode::Create => SaveMode::ErrorIfExists,
        WriteMode::Append => SaveMode::Append,
        WriteMode::Replace => SaveMode::Overwrite,
    }
}

/// Every commit records who made it; writes with a known source add lineage.
fn commit_properties(lineage: Option<&Lineage>, user: &str) -> CommitProperties {
    let lineage = lineage.cloned().unwrap_or_else(|| Lineage {
        operation: "write".into(),
        source: None,
        sha256: None,
        user: user.to_string(),
    });
    CommitProperties::default().with_metadata(lineage.to_commit_metadata())
}

/// A Delta log directory holds at least one commit or checkpoint.
/// The newest commit file of a Delta log (`<version>.json`) and its version.
fn latest_commit(log_dir: &std::path::Path) -> Option<(i64, std::path::PathBuf)> {
    std::fs::read_dir(log_dir)
        .ok()?
        .flatten()
        .filter_map(|e| {
            let version = e
                .file_name()
                .to_str()?
                .strip_suffix(".json")?
                .parse()
                .ok()?;
            Some((version, e.path()))
        })
        .max_by_key(|(version, _)| *version)
}

fn has_commit(log_dir: &std::path::Path) -> bool {
    std::fs::read_dir(log_dir).is_ok_and(|entries| {
        entries.flatten().any(|e| {
            let name = e.file_name();
            let name = name.to_string_lossy();
            name.ends_with(".json") || name.ends_with(".checkpoint.parquet")
        })
    })
}

fn list_dirs(dir: &std::path::Path, keep: impl Fn(&std::path::Path) -> bool) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                .filter(|e| keep(&e.path()))
                .filter_map(|e| e.file_name().into_string().ok())
                .filter(|n| !n.starts_with('.'))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// Renames `path` to a hidden sibling, then deletes it. After a crash the
/// hidden leftover is ignored by listings and removed by the next drop.
fn remove_dir_crash_safe(path: &std::path::Path) -> Result<(), CatalogError> {
    let Some(name) = path.file_name() else {
        return Ok(());
    };
    let trash = path.with_file_name(format!(
        ".dropped-{}-{}",
        name.to_string_lossy(),
        uuid::Uuid::new_v4()
    ));
    std::fs::rename(path, &trash).map_err(|e| CatalogError::io(path, e))?;
    std::fs::remove_dir_all(&trash).map_err(|e| CatalogError::io(&trash, e))
}

impl DeltaTableStore {
    /// Rows in the table's current snapshot (from file statistics).
    pub fn row_count(&self, table: &DeltaTable) -> Result<i64, CatalogError> {
        Ok(table
            .snapshot()?
            .log_data()
            .iter()
            .map(|f| f.num_records().unwrap_or(0) as i64)
            .sum())
    }
}

/// Brings `table` to its latest committed version. The next commit of a
/// Delta table is always the file of the next version, so when that file is
/// absent the table is current: one metadata lookup instead of a listing of
/// the whole log (every scan and every commit asks this).
pub(crate) async fn update_to_latest(table: &mut DeltaTable) -> Result<(), DeltaTableError> {
    if let Some(version) = table.version()
        && let Ok(false) = crate::delta_commit::has_log_entry(table, version + 1).await
    {
        return Ok(());
    }
    // A directory listing is not a snapshot: one that runs while writers
    // add log files can return version n+2 and miss n+1, created just
    // before it, and the kernel refuses the gap. The file is there by the
    // time the log is listed again.
    let mut attempts = 0;
    loop {
        match table.update_state().await {
            Err(e) if attempts < LISTING_RETRIES && e.to_string().contains("contiguous") => {
                attempts += 1;
                tokio::time::sleep(std::time::Duration::from_millis(2 * attempts)).await;
            }
            outcome => return outcome,
        }
    }
}

/// Listings of a table's log [`update_to_latest`] tries before giving up.
const LISTING_RETRIES: u64 = 5;
