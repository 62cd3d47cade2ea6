//! `UncommittedWrites`: the rows a session's open transaction block has
//! written and not yet committed.
//!
//! Inside `BEGIN ... COMMIT`, `INSERT` and `COPY FROM STDIN` stage their rows
//! here instead of committing them; the session's own scans of a table see its
//! staged rows beside the committed ones, other sessions see nothing until
//! COMMIT turns each table's staged rows into one Delta commit. ROLLBACK drops
//! them, ROLLBACK TO SAVEPOINT drops what came after the savepoint's mark.
//! Tables the block created are listed too, so that a rollback (or the
//! session going away with the block open) drops them again, unless another
//! session has committed to one meanwhile.
//!
//! It rides in the session's DataFusion `SessionConfig` (an extension), so a
//! [`crate::DeltaSchemaProvider`] table, shared by every session, reaches the
//! staged rows of the session that plans the scan or the insert.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::catalog::Session;
use datafusion::error::DataFusionError;

use crate::block_commit::{self, BlockTable};
use crate::{CatalogError, DeltaTableStore, Lineage, TableIdent, WriteMode};

/// Most bytes of rows one block may stage (in memory until COMMIT); past it
/// the write fails with `54000` instead of exhausting the server's memory.
pub const MAX_UNCOMMITTED_BYTES: usize = 1 << 30;

/// A point in the staged writes to return to (`SAVEPOINT`): how many
/// batches were staged, tables created and tables reset.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriteMark(usize, usize, usize);

/// A table the open block created, at the version its creation committed.
type CreatedTable = (TableIdent, i64);

/// A table's rows staged before `from` (the length of `writes` then) are
/// gone: the table was truncated or dropped in the block. (Entries are never
/// removed from `writes`, so savepoint marks stay valid.)
#[derive(Debug, Clone)]
struct Reset {
    ident: TableIdent,
    from: usize,
    kind: ResetKind,
}

#[derive(Debug, Clone)]
enum ResetKind {
    /// `TRUNCATE`: the committed rows, as of `version`, are gone for this
    /// session; COMMIT replaces the table's rows with those staged after,
    /// if nobody committed to it meanwhile.
    Truncated { version: i64 },
    /// `DROP TABLE` (or `CREATE OR REPLACE`): rows staged after belong to
    /// the table made again under the name.
    Dropped,
}

#[derive(Debug, Default)]
struct Staged {
    /// A transaction block is open: writes stage instead of committing.
    open: bool,
    /// In the order written, each batch in its table's scan schema.
    writes: Vec<(TableIdent, RecordBatch)>,
    /// Memory the batches hold.
    bytes: usize,
    /// Tables created in the block, oldest first.
    created: Vec<CreatedTable>,
    /// Tables truncated or dropped in the block, oldest first.
    resets: Vec<Reset>,
}

impl Staged {
    /// The block's latest reset of `ident`.
    fn reset(&self, ident: &TableIdent) -> Option<&Reset> {
        self.resets.iter().rev().find(|r| r.ident == *ident)
    }

    /// The rows staged for `ident` since its latest reset.
    fn rows(&self, ident: &TableIdent) -> Vec<RecordBatch> {
        let from = self.reset(ident).map_or(0, |r| r.from);
        self.writes[from.min(self.writes.len())..]
            .iter()
            .filter(|(i, _)| i == ident)
            .map(|(_, b)| b.clone())
            .collect()
    }

    /// `ident`'s latest reset, if it is a TRUNCATE.
    fn truncation(&self, ident: &TableIdent) -> Option<i64> {
        match &self.reset(ident)?.kind {
            ResetKind::Truncated { version } => Some(*version),
            ResetKind::Dropped => None,
        }
    }

    fn push_reset(&mut self, ident: &TableIdent, kind: ResetKind) {
        let from = self.writes.len();
        self.resets.push(Reset {
            ident: ident.clone(),
            from,
            kind,
        });
    }
}

impl Staged {
    /// After `writes` lost some batches.
    fn recount(&mut self) {
        self.bytes = self.writes.iter().map(|(_, b)| bytes_of(b)).sum();
    }
}

fn bytes_of(batch: &RecordBatch) -> usize {
    batch.get_array_memory_size()
}

/// A table as the block left it for its own session's scans.
#[derive(Debug, Default)]
pub struct StagedTable {
    /// The block truncated it: its committed rows are gone for the session.
    pub truncated: bool,
    /// Rows staged since it was last truncated or dropped, oldest first.
    pub rows: Vec<RecordBatch>,
}

/// One session's staged writes (see the module docs).
#[derive(Debug)]
pub struct UncommittedWrites {
    store: DeltaTableStore,
    /// The session's role, named in the commits' lineage.
    user: String,
    staged: Mutex<Staged>,
    /// Most bytes staged at once.
    limit: usize,
}

/// A session that goes away with its block open (a lost connection) rolls
/// it back.
impl Drop for UncommittedWrites {
    fn drop(&mut self) {
        if self.is_open() {
            for warning in self.discard() {
                tracing::warn!("abandoned transaction block: {warning}");
            }
        }
    }
}

impl UncommittedWrites {
    /// The store the session writes to.
    pub(crate) fn store(&self) -> &DeltaTableStore {
        &self.store
    }

    /// The session's role.
    pub fn user(&self) -> &str {
        &self.user
    }

    /// The staged writes of `user`'s session, for the tables of `store`.
    pub fn new(store: DeltaTableStore, user: &str) -> Self {
        UncommittedWrites::with_limit(store, user, MAX_UNCOMMITTED_BYTES)
    }

    /// Staged writes that may hold at most `limit` bytes.
    pub fn with_limit(store: DeltaTableStore, user: &str, limit: usize) -> Self {
        UncommittedWrites {
            store,
            user: user.to_string(),
            staged: Mutex::default(),
            limit,
        }
    }

    /// The staged writes of the session planning with `state`, if it has any
    /// machinery for them (background jobs and system sessions do not).
    pub fn of(state: &dyn Session) -> Option<Arc<UncommittedWrites>> {
        state.config().get_extension::<UncommittedWrites>()
    }

    /// `BEGIN`: from now on writes stage.
    pub fn begin(&self) {
        let mut staged = self.lock();
        staged.open = true;
        staged.writes.clear();
        staged.bytes = 0;
        staged.created.clear();
        staged.resets.clear();
    }

    /// Whether writes stage now (a block is open).
    pub fn is_open(&self) -> bool {
        self.lock().open
    }

    /// Stages `batches` for `ident`, cast to `schema` (the table's scan
    /// schema, so every batch of a table has one shape). Fails if no block
    /// is open: the caller should have committed instead.
    pub fn stage(
        &self,
        ident: &TableIdent,
        schema: &SchemaRef,
        batches: Vec<RecordBatch>,
    ) -> Result<u64, CatalogError> {
        let mut cast_batches = Vec::with_capacity(batches.len());
        let mut rows = 0;
        for batch in batches {
            rows += batch.num_rows() as u64;
            if batch.num_rows() > 0 {
                cast_batches.push(cast_to(ident, &batch, schema)?);
            }
        }
        let mut staged = self.lock();
        if !staged.open {
            return Err(CatalogError::DataFusion(DataFusionError::Internal(
                "rows staged outside a transaction block".into(),
            )));
        }
        let adding: usize = cast_batches.iter().map(bytes_of).sum();
        if staged.bytes + adding > self.limit {
            return Err(CatalogError::UncommittedTooLarge { limit: self.limit });
        }
        staged.bytes += adding;
        staged
            .writes
            .extend(cast_batches.into_iter().map(|b| (ident.clone(), b)));
        Ok(rows)
    }

    /// What the block did to `ident`, as its scans see it.
    pub fn staged(&self, ident: &TableIdent) -> StagedTable {
        let staged = self.lock();
        StagedTable {
            truncated: staged.truncation(ident).is_some(),
            rows: staged.rows(ident),
        }
    }

    /// `TRUNCATE`: inside a block, stages the table's emptying (`schema`:
    /// its scan schema); outside one, empties it now in one commit.
    pub async fn truncate(
        &self,
        ident: &TableIdent,
        schema: &SchemaRef,
    ) -> Result<(), CatalogError> {
        let version = self
            .store
            .latest_version(ident)
            .ok_or_else(|| CatalogError::TableNotFound(ident.table.clone()))?;
        {
            let mut staged = self.lock();
            if staged.open {
                staged.push_reset(ident, ResetKind::Truncated { version });
                return Ok(());
            }
        }
        self.store
            .write_batches(
                ident,
                schema.clone(),
                Vec::new(),
                WriteMode::Replace,
                &self.user,
                Some(&self.lineage("truncate")),
            )
            .await?;
        Ok(())
    }

    /// `CREATE TABLE` made `ident`: inside a block, a rollback drops it again.
    pub fn created(&self, ident: &TableIdent) {
        let Some(version) = self.store.latest_version(ident) else {
            return;
        };
        let mut staged = self.lock();
        if staged.open {
            staged.created.push((ident.clone(), version));
        }
    }

    /// `SAVEPOINT`: where ROLLBACK TO returns.
    pub fn mark(&self) -> WriteMark {
        let staged = self.lock();
        WriteMark(
            staged.writes.len(),
            staged.created.len(),
            staged.resets.len(),
        )
    }

    /// `ROLLBACK TO SAVEPOINT`: drops what was staged and the tables
    /// created after `mark`. Returns a WARNING for each table kept.
    pub fn rollback_to(&self, mark: WriteMark) -> Vec<String> {
        let undone = {
            let mut staged = self.lock();
            staged.writes.truncate(mark.0);
            staged.resets.truncate(mark.2);
            staged.recount();
            let keep = mark.1.min(staged.created.len());
            staged.created.split_off(keep)
        };
        self.drop_created(undone)
    }

    /// The table was dropped or replaced in this block: its staged rows go
    /// with it (they stay in memory until the block ends).
    pub fn forget(&self, ident: &TableIdent) {
        let mut staged = self.lock();
        if staged.open {
            staged.push_reset(ident, ResetKind::Dropped);
        }
    }

    /// `ROLLBACK` (or a block that ends any other way than COMMIT): drops
    /// the staged rows and the tables the block created. Returns a WARNING
    /// for each table kept.
    pub fn discard(&self) -> Vec<String> {
        let undone = {
            let mut staged = self.lock();
            staged.open = false;
            staged.writes.clear();
            staged.bytes = 0;
            staged.resets.clear();
            std::mem::take(&mut staged.created)
        };
        self.drop_created(undone)
    }

    /// Drops tables created in the block, newest first (a table referencing
    /// an earlier one goes before it), unless another session has committed
    /// to one since: its rows are not ours to drop.
    fn drop_created(&self, created: Vec<CreatedTable>) -> Vec<String> {
        let mut warnings = Vec::new();
        for (ident, version) in created.into_iter().rev() {
            // Dropped already (in the block, or as a newer creation's undo).
            if !self.store.table_exists(&ident) {
                continue;
            }
            match self.store.drop_if_unchanged(&ident, version) {
                Ok(true) => {}
                Ok(false) => warnings.push(format!(
                    "table {ident} created in the rolled-back block is kept: another session wrote to it"
                )),
                Err(e) => warnings.push(format!(
                    "table {ident} created in the rolled-back block could not be dropped: {e}"
                )),
            }
        }
        warnings
    }

    /// `COMMIT`: each table the block wrote becomes one Delta commit: its
    /// staged rows appended, or, if the block truncated it, replacing its
    /// rows. Returns the rows committed. The block is over either way. A
    /// block that wrote several tables (or truncated one) commits them all
    /// or none, crash included (see [`crate::block_commit`]); a table
    /// dropped meanwhile, or truncated here and committed to by another
    /// session since, fails it before anything commits.
    /// `lock_timeout` bounds the wait for tables other writers are
    /// committing to (`55P03` past it; nothing commits).
    pub async fn commit(&self, lock_timeout: Option<Duration>) -> Result<u64, CatalogError> {
        let tables = {
            let mut staged = self.lock();
            let mut idents: Vec<TableIdent> = Vec::new();
            let touched = staged
                .writes
                .iter()
                .map(|(i, _)| i)
                .chain(staged.resets.iter().map(|r| &r.ident));
            for ident in touched {
                if !idents.contains(ident) {
                    idents.push(ident.clone());
                }
            }
            let tables: Vec<_> = idents
                .into_iter()
                .map(|ident| {
                    let rows = staged.rows(&ident);
                    let truncation = staged.truncation(&ident);
                    (ident, rows, truncation)
                })
                .filter(|(_, rows, truncation)| !rows.is_empty() || truncation.is_some())
                .collect();
            staged.open = false;
            staged.bytes = 0;
            staged.created.clear();
            staged.resets.clear();
            staged.writes.clear();
            tables
        };
        // A table dropped meanwhile, or truncated here and committed to since,
        // is found by the commit itself (under the table's slot).
        let lineage = self.lineage("transaction");
        match tables.as_slice() {
            [] => Ok(0),
            // Appends to one table: one Delta commit is atomic by itself,
            // and may share it with other sessions' appends.
            [(_, _, None)] => {
                let Some((ident, batches, _)) = tables.into_iter().next() else {
                    return Ok(0);
                };
                let files = self.store.write_files(&ident, batches).await?;
                self.store.commit_files(files, lineage).await
            }
            // Several: all or none, crash included (see `block_commit`).
            _ => {
                let tables = tables
                    .into_iter()
                    .map(|(ident, batches, truncated_at)| BlockTable {
                        ident,
                        batches,
                        truncated_at,
                    })
                    .collect();
                block_commit::commit(&self.store, tables, &lineage, lock_timeout).await
            }
        }
    }

    fn lineage(&self, operation: &str) -> Lineage {
        Lineage {
            operation: operation.into(),
            source: None,
            sha256: None,
            user: self.user.clone(),
        }
    }

    /// A poisoned lock still yields the rows: staging is one push or truncate.
    fn lock(&self) -> MutexGuard<'_, Staged> {
        self.staged.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// `batch` with `schema`'s columns, by name (COPY brings the table's declared
/// types, the scan reads strings as views).
fn cast_to(
    ident: &TableIdent,
    batch: &RecordBatch,
    schema: &SchemaRef,
) -> Result<RecordBatch, CatalogError> {
    let columns = schema
        .fields()
        .iter()
        .map(|field| {
            let column =
                batch
                    .column_by_name(field.name())
                    .ok_or_else(|| CatalogError::SchemaMismatch {
                        table: ident.to_string(),
                        message: format!("no column \"{}\" in the rows written", field.name()),
                    })?;
            Ok(cast(column, field.data_type())?)
        })
        .collect::<Result<Vec<_>, CatalogError>>()?;
    Ok(RecordBatch::try_new(schema.clone(), columns)?)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::array::{Array, Int64Array, StringArray};
    use datafusion::arrow::datatypes::{DataType, Field, Schema};

    use super::*;
    use crate::{DataDir, TableConstraints};

    fn batch(ids: &[i64]) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![Field::new("id", DataType::Int64, true)]));
        RecordBatch::try_new(schema, vec![Arc::new(Int64Array::from(ids.to_vec()))]).unwrap()
    }

    /// A store in a fresh directory, removed when the returned guard drops.
    fn store() -> (tempfile::TempDir, DeltaTableStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = DeltaTableStore::new(DataDir::open(dir.path()).unwrap());
        store.create_schema("public", true).unwrap();
        (dir, store)
    }

    fn ids(writes: &UncommittedWrites, ident: &TableIdent) -> Vec<i64> {
        writes
            .staged(ident)
            .rows
            .iter()
            .flat_map(|b| {
                let ids = b.column(0).as_any().downcast_ref::<Int64Array>().unwrap();
                ids.iter().flatten().collect::<Vec<_>>()
            })
            .collect()
    }

    #[test]
    fn savepoint_marks_forget_and_discard() {
        let (_dir, store) = store();
        let writes = UncommittedWrites::new(store, "u");
        let t = TableIdent::new("public", "t");
        let u = TableIdent::new("public", "u");
        let schema = batch(&[]).schema();
        // Nothing stages outside a block.
        assert!(writes.stage(&t, &schema, vec![batch(&[1])]).is_err());
        writes.begin();
        assert_eq!(writes.stage(&t, &schema, vec![batch(&[1, 2])]).unwrap(), 2);
        let mark = writes.mark();
        writes.stage(&u, &schema, vec![batch(&[3])]).unwrap();
        writes.stage(&t, &schema, vec![batch(&[4])]).unwrap();
        assert_eq!(ids(&writes, &t), vec![1, 2, 4]);
        assert!(writes.rollback_to(mark).is_empty());
        assert_eq!(ids(&writes, &t), vec![1, 2]);
        assert!(ids(&writes, &u).is_empty());
        writes.stage(&u, &schema, vec![batch(&[5])]).unwrap();
        writes.forget(&t);
        assert!(ids(&writes, &t).is_empty());
        assert_eq!(ids(&writes, &u), vec![5]);
        assert!(writes.discard().is_empty());
        assert!(!writes.is_open());
        assert!(ids(&writes, &u).is_empty());
    }

    #[tokio::test]
    async fn rollbacks_drop_the_tables_the_block_created_and_commit_keeps_them() {
        let (_dir, store) = store();
        let writes = UncommittedWrites::new(store.clone(), "u");
        let schema = batch(&[]).schema();
        let create = |name: &str| {
            let store = store.clone();
            let schema = schema.clone();
            let ident = TableIdent::new("public", name);
            async move {
                let constraints = TableConstraints::default();
                store
                    .create_table(&ident, schema, "u", &constraints)
                    .await
                    .unwrap();
                ident
            }
        };
        // Outside a block a creation is nobody's to undo.
        let before = create("before").await;
        writes.created(&before);
        writes.begin();
        let t = create("t").await;
        writes.created(&t);
        let mark = writes.mark();
        let u = create("u").await;
        writes.created(&u);
        assert!(writes.rollback_to(mark).is_empty());
        assert!(!store.table_exists(&u) && store.table_exists(&t));
        // A table another session committed to stays, with a warning.
        let shared = create("shared").await;
        writes.created(&shared);
        store
            .write_batches(
                &shared,
                schema.clone(),
                vec![batch(&[1])],
                WriteMode::Append,
                "other",
                None,
            )
            .await
            .unwrap();
        let warnings = writes.discard();
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(store.table_exists(&shared) && store.table_exists(&before));
        assert!(!store.table_exists(&t));
        // COMMIT keeps the block's tables and writes its rows.
        writes.begin();
        let kept = create("kept").await;
        writes.created(&kept);
        writes.stage(&kept, &schema, vec![batch(&[7, 8])]).unwrap();
        assert_eq!(writes.commit(None).await.unwrap(), 2);
        assert!(writes.discard().is_empty());
        assert!(store.table_exists(&kept));
        let table = store.open(&kept).await.unwrap().unwrap();
        assert_eq!(store.row_count(&table).unwrap(), 2);
    }

    #[tokio::test]
    async fn truncate_and_drop_hide_earlier_rows_and_savepoints_restore_them() {
        let (_dir, store) = store();
        let writes = UncommittedWrites::new(store.clone(), "u");
        let schema = batch(&[]).schema();
        let t = TableIdent::new("public", "t");
        store
            .create_table(&t, schema.clone(), "u", &TableConstraints::default())
            .await
            .unwrap();
        writes.begin();
        writes.stage(&t, &schema, vec![batch(&[1])]).unwrap();
        let mark = writes.mark();
        writes.truncate(&t, &schema).await.unwrap();
        assert!(writes.staged(&t).truncated);
        assert!(ids(&writes, &t).is_empty());
        writes.stage(&t, &schema, vec![batch(&[2])]).unwrap();
        assert_eq!(ids(&writes, &t), vec![2]);
        writes.rollback_to(mark);
        assert!(!writes.staged(&t).truncated);
        assert_eq!(ids(&writes, &t), vec![1]);
        writes.truncate(&t, &schema).await.unwrap();
        writes.stage(&t, &schema, vec![batch(&[3, 4])]).unwrap();
        // COMMIT replaces the table's rows with those staged after TRUNCATE.
        assert_eq!(writes.commit(None).await.unwrap(), 2);
        let table = store.open(&t).await.unwrap().unwrap();
        assert_eq!(store.row_count(&table).unwrap(), 2);
        // DROP in a block: the rows staged before it are gone; a mark taken
        // before the DROP still restores them.
        writes.begin();
        writes.stage(&t, &schema, vec![batch(&[5])]).unwrap();
        let mark = writes.mark();
        writes.forget(&t);
        assert!(ids(&writes, &t).is_empty());
        writes.rollback_to(mark);
        assert_eq!(ids(&writes, &t), vec![5]);
        writes.discard();
    }

    #[test]
    fn a_block_holds_at_most_its_limit() {
        let one = bytes_of(&batch(&[1, 2, 3]));
        let (_dir, store) = store();
        let writes = UncommittedWrites::with_limit(store, "u", 2 * one);
        let t = TableIdent::new("public", "t");
        let schema = batch(&[]).schema();
        writes.begin();
        writes.stage(&t, &schema, vec![batch(&[1, 2, 3])]).unwrap();
        writes.stage(&t, &schema, vec![batch(&[4, 5, 6])]).unwrap();
        let err = writes
            .stage(&t, &schema, vec![batch(&[7, 8, 9])])
            .unwrap_err();
        assert!(
            matches!(err, CatalogError::UncommittedTooLarge { .. }),
            "{err}"
        );
        // The refused rows were not staged; rolling back frees room.
        assert_eq!(ids(&writes, &t), vec![1, 2, 3, 4, 5, 6]);
        writes.rollback_to(WriteMark(1, 0, 0));
        writes.stage(&t, &schema, vec![batch(&[7, 8, 9])]).unwrap();
        assert_eq!(ids(&writes, &t), vec![1, 2, 3, 7, 8, 9]);
    }

    #[test]
    fn staged_rows_take_the_table_schema() {
        let (_dir, store) = store();
        let writes = UncommittedWrites::new(store, "u");
        let t = TableIdent::new("public", "t");
        writes.begin();
        let scan = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, true),
            Field::new("name", DataType::Utf8View, true),
        ]));
        let copied = RecordBatch::try_new(
            Arc::new(Schema::new(vec![
                Field::new("name", DataType::Utf8, true),
                Field::new("id", DataType::Int64, true),
            ])),
            vec![
                Arc::new(StringArray::from(vec!["a"])),
                Arc::new(Int64Array::from(vec![7])),
            ],
        )
        .unwrap();
        writes.stage(&t, &scan, vec![copied]).unwrap();
        let staged = writes.staged(&t).rows;
        assert_eq!(staged[0].schema(), scan);
        assert_eq!(staged[0].column(1).len(), 1);
        // A batch without a column of the table is refused.
        assert!(writes.stage(&t, &scan, vec![batch(&[1])]).is_err());
    }
}
