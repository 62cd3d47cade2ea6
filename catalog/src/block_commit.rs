//! `BlockCommit`: the COMMIT of a transaction block that wrote several
//! tables makes all of them durable and visible, or none.
//!
//! Delta commits one table at a time: a block that wrote `a` and `b` ends in
//! two log entries, and a failure or a crash between them would leave `a`
//! committed without `b`. So the block's commit point is one record of its
//! own, `system/block_commits/<id>.json`, naming for each table the files
//! to add (already written, invisible until a log entry names them), the
//! files to remove (a block that truncated the table) and the version the
//! block read. The steps:
//!
//! 1. every table's rows go to new files; a failure removes them all;
//! 2. the block takes the commit slot of every table (in name order, so two
//!    blocks never wait on each other), checks that no table was dropped
//!    and that no one committed to a table it truncated (`40001`);
//! 3. the record is written and synced: from here the block is committed;
//! 4. each table gets its log entry, tagged with the block's id, as one
//!    publication ([`crate::plan_consistently`] plans a statement again if
//!    one happened while its scans took their snapshots, so no statement
//!    sees some of the block's tables and not the others);
//! 5. the record is removed.
//!
//! A crash or a storage failure after step 3 leaves the record: at start
//! ([`recover`]) every record left is finished, skipping each table whose log
//! already has the block's entry, before anything else reads the tables.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use datafusion::arrow::record_batch::RecordBatch;
use deltalake::DeltaTable;
use deltalake::kernel::{Action, Add, Remove};
use deltalake::protocol::{DeltaOperation, SaveMode};
use futures::TryStreamExt;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::data_dir::{DataDir, write_atomically};
use crate::delta_commit::{commit_to_log, has_log_entry};
use crate::group_commit::{CommitSlot, GroupCommitter, WrittenFiles};
use crate::table_store::update_to_latest;
use crate::{CatalogError, DeltaTableStore, Lineage, TableIdent};

/// Commit-info key holding the id of the block a log entry belongs to.
const BLOCK_KEY: &str = "lakehouse.block";

/// A table the block writes: its rows, and the version it truncated if it did.
pub(crate) struct BlockTable {
    pub ident: TableIdent,
    pub batches: Vec<RecordBatch>,
    pub truncated_at: Option<i64>,
}

/// What the commit record keeps of one table.
#[derive(Serialize, Deserialize)]
struct RecordedTable {
    schema: String,
    table: String,
    /// The Delta table id, so a table dropped and made again under the same
    /// name is never given another table's rows.
    table_id: String,
    /// The latest version when the block committed; its entry comes after.
    base_version: u64,
    adds: Vec<Add>,
    removes: Vec<Remove>,
}

/// The block's commit point (see the module docs).
#[derive(Serialize, Deserialize)]
struct CommitRecord {
    id: String,
    metadata: HashMap<String, Value>,
    tables: Vec<RecordedTable>,
}

/// Commits `tables` as one block; returns the rows committed.
/// `lock_timeout` bounds the wait for the tables' commit slots.
pub(crate) async fn commit(
    store: &DeltaTableStore,
    tables: Vec<BlockTable>,
    lineage: &Lineage,
    lock_timeout: Option<Duration>,
) -> Result<u64, CatalogError> {
    let prepared = prepare(store, tables, lineage, lock_timeout).await?;
    let rows = prepared.rows;
    prepared.publish(store).await;
    Ok(rows)
}

/// A block past its commit point (steps 1-3), holding its tables' slots.
struct Prepared {
    record: CommitRecord,
    path: PathBuf,
    tables: Vec<Option<DeltaTable>>,
    slots: Vec<CommitSlot>,
    rows: u64,
}

/// Steps 1-3: on success the block is committed (recorded); on failure
/// nothing of it is left.
async fn prepare(
    store: &DeltaTableStore,
    tables: Vec<BlockTable>,
    lineage: &Lineage,
    lock_timeout: Option<Duration>,
) -> Result<Prepared, CatalogError> {
    // 1. Files first: nothing is visible yet, a failure commits nothing.
    let mut written: Vec<(WrittenFiles, Option<i64>)> = Vec::new();
    for table in tables {
        match store.write_files(&table.ident, table.batches).await {
            Ok(files) => written.push((files, table.truncated_at)),
            Err(e) => {
                discard(written).await;
                return Err(e);
            }
        }
    }
    // 2. The slots, in name order; then the checks against the latest logs.
    written.sort_by(|(a, _), (b, _)| {
        (&a.ident.schema, &a.ident.table).cmp(&(&b.ident.schema, &b.ident.table))
    });
    let mut slots: Vec<CommitSlot> = Vec::new();
    let deadline = lock_timeout.map(|t| tokio::time::Instant::now() + t);
    for (files, _) in &written {
        let slot = store.group_committer().lock_table(&files.ident);
        let slot = match deadline {
            None => slot.await,
            Some(deadline) => match tokio::time::timeout_at(deadline, slot).await {
                Ok(slot) => slot,
                Err(_) => {
                    let table = files.ident.to_string();
                    discard(written).await;
                    return Err(CatalogError::LockTimeout(table));
                }
            },
        };
        slots.push(slot);
    }
    let id = uuid::Uuid::new_v4().to_string();
    let mut metadata: HashMap<String, Value> = lineage.to_commit_metadata().into_iter().collect();
    metadata.insert(BLOCK_KEY.to_string(), Value::String(id.clone()));
    let mut record = CommitRecord {
        id,
        metadata,
        tables: Vec::new(),
    };
    let mut rows = 0;
    for (files, truncated_at) in &mut written {
        match recorded_table(store, files, *truncated_at).await {
            Ok(entry) => {
                rows += files.rows;
                record.tables.push(entry);
            }
            Err(e) => {
                discard(written).await;
                return Err(e);
            }
        }
    }
    // 3. The commit point.
    let path = record_path(store.data_dir(), &record.id);
    let bytes = serde_json::to_vec(&record).map_err(|e| CatalogError::Corrupt {
        path: path.display().to_string(),
        message: e.to_string(),
    })?;
    if let Err(e) = write_atomically(&path, &bytes) {
        discard(written).await;
        return Err(e);
    }
    Ok(Prepared {
        record,
        path,
        tables: written.into_iter().map(|(f, _)| Some(f.table)).collect(),
        slots,
        rows,
    })
}

impl Prepared {
    /// Steps 4-5. A failure here is not returned: the block is committed
    /// (recorded). The log entries left are retried in the background, and
    /// at the next start if they still fail.
    async fn publish(self, store: &DeltaTableStore) {
        let outcome = store
            .group_committer()
            .publish_epoch()
            .publish(apply(&self.record, &self.tables, store.group_committer()))
            .await;
        drop(self.slots);
        let Err(e) = outcome else {
            remove_record(&self.path);
            return;
        };
        tracing::error!(
            "block commit {} is recorded but not finished ({e}); retrying",
            self.record.id
        );
        let (store, record, tables, path) = (store.clone(), self.record, self.tables, self.path);
        tokio::spawn(async move {
            for _ in 0..RETRIES {
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                let epoch = store.group_committer().publish_epoch();
                if epoch
                    .publish(apply(&record, &tables, store.group_committer()))
                    .await
                    .is_ok()
                {
                    remove_record(&path);
                    tracing::info!("block commit {} finished", record.id);
                    return;
                }
            }
            tracing::error!(
                "block commit {} still not finished; the next start of the server completes it",
                record.id
            );
        });
    }
}

/// Background attempts at a recorded block's log entries (one a second).
const RETRIES: usize = 300;

/// Finishes every block commit a crash or a storage failure left half done.
/// Run at start, before the tables are read or written.
pub async fn recover(store: &DeltaTableStore) -> Result<usize, CatalogError> {
    let dir = records_dir(store.data_dir());
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Ok(0);
    };
    let mut finished = 0;
    for entry in entries.filter_map(Result::ok) {
        let path = entry.path();
        if path.extension().is_none_or(|x| x != "json") {
            // A record whose write never completed: the block never committed.
            let _ = std::fs::remove_file(&path);
            continue;
        }
        let bytes = std::fs::read(&path).map_err(|e| CatalogError::io(&path, e))?;
        let record: CommitRecord =
            serde_json::from_slice(&bytes).map_err(|e| CatalogError::Corrupt {
                path: path.display().to_string(),
                message: e.to_string(),
            })?;
        let mut tables = Vec::new();
        for entry in &record.tables {
            let ident = TableIdent::new(&entry.schema, &entry.table);
            match store.open(&ident).await? {
                Some(table) if table_id(&table)? == entry.table_id => tables.push(Some(table)),
                _ => {
                    // Dropped after the block committed: nothing to finish.
                    tracing::warn!(
                        "block commit {}: table {ident} is gone; its part is skipped",
                        record.id
                    );
                    tables.push(None);
                }
            }
        }
        apply(&record, &tables, store.group_committer())
            .await
            .map_err(|message| CatalogError::CommitFailed {
                table: record
                    .tables
                    .iter()
                    .map(|t| format!("{}.{}", t.schema, t.table))
                    .collect::<Vec<_>>()
                    .join(", "),
                message,
                conflict: false,
            })?;
        remove_record(&path);
        tracing::info!("finished block commit {}", record.id);
        finished += 1;
    }
    Ok(finished)
}

/// The record's entry for one table, checked against the latest log under
/// the table's slot.
async fn recorded_table(
    store: &DeltaTableStore,
    files: &mut WrittenFiles,
    truncated_at: Option<i64>,
) -> Result<RecordedTable, CatalogError> {
    let ident = files.ident.clone();
    if !store.table_exists(&ident) {
        return Err(CatalogError::TableNotFound(ident.table.clone()));
    }
    let (base_version, removes) = match truncated_at {
        // An append needs only where the log ends and the latest metadata.
        None => {
            let appends = store.group_committer();
            let mut base = appends.take_base(&ident, &files.table);
            let caught_up = base.catch_up().await;
            files.table = base.table().clone();
            let version = base.version();
            appends.put_base(&ident, base);
            caught_up.map_err(|message| CatalogError::CommitFailed {
                table: ident.to_string(),
                conflict: false,
                message,
            })?;
            (version, Vec::new())
        }
        // A truncation removes every file of the version it read.
        Some(version) => {
            update_to_latest(&mut files.table).await?;
            let snapshot = files.table.snapshot()?;
            if u64::try_from(version).ok() != Some(snapshot.version()) {
                return Err(CatalogError::ConcurrentUpdate(ident.to_string()));
            }
            let removes = snapshot
                .log_data()
                .iter()
                .map(|file| file.remove_action(true))
                .collect();
            (snapshot.version(), removes)
        }
    };
    Ok(RecordedTable {
        schema: ident.schema,
        table: ident.table,
        table_id: table_id(&files.table)?,
        base_version,
        adds: files.adds.clone(),
        removes,
    })
}

/// Writes the log entry of each recorded table that does not have it yet.
async fn apply(
    record: &CommitRecord,
    tables: &[Option<DeltaTable>],
    appends: &GroupCommitter,
) -> Result<(), String> {
    for (entry, table) in record.tables.iter().zip(tables) {
        // None: dropped since (see `recover`).
        let Some(table) = table else { continue };
        // Nothing after the version the block read: its entry goes right
        // after, with no reload of the table. Else a crash or a failure may
        // have written it already, and others may have committed since.
        let mut after = entry.base_version;
        let mut table = table.clone();
        let mut removes = entry.removes.clone();
        if has_log_entry(&table, after + 1)
            .await
            .map_err(|e| e.to_string())?
        {
            update_to_latest(&mut table)
                .await
                .map_err(|e| e.to_string())?;
            if has_entry(&table, entry.base_version, &record.id).await? {
                continue;
            }
            after = table.version().unwrap_or(after);
            if !removes.is_empty() {
                // A truncation empties the table as it is now: a compaction
                // (no rows changed, and it does not wait for the table's
                // slot) may have replaced the files the block read by
                // others holding the same rows.
                removes = table
                    .snapshot()
                    .map_err(|e| e.to_string())?
                    .log_data()
                    .iter()
                    .map(|file| file.remove_action(true))
                    .collect();
            }
        }
        let mode = if entry.removes.is_empty() {
            SaveMode::Append
        } else {
            SaveMode::Overwrite
        };
        let actions: Vec<Action> = removes
            .into_iter()
            .map(Action::Remove)
            .chain(entry.adds.iter().cloned().map(Action::Add))
            .collect();
        if actions.is_empty() {
            continue;
        }
        let operation = DeltaOperation::Write {
            mode,
            partition_by: None,
            predicate: None,
        };
        let version = commit_to_log(
            &table,
            Some(after + 1),
            actions,
            record.metadata.clone(),
            operation,
        )
        .await?;
        if entry.removes.is_empty() {
            let ident = TableIdent::new(&entry.schema, &entry.table);
            appends.appended(&ident, after, version);
        }
    }
    Ok(())
}

/// Whether a version after `base` carries block `id`'s entry.
async fn has_entry(table: &DeltaTable, base: u64, id: &str) -> Result<bool, String> {
    let newer = table.version().unwrap_or(base).saturating_sub(base);
    if newer == 0 {
        return Ok(false);
    }
    let history: Vec<_> = table
        .history(Some(newer as usize))
        .try_collect()
        .await
        .map_err(|e| e.to_string())?;
    Ok(history
        .iter()
        .any(|commit| commit.info.get(BLOCK_KEY).and_then(Value::as_str) == Some(id)))
}

fn table_id(table: &DeltaTable) -> Result<String, CatalogError> {
    Ok(table.snapshot()?.metadata().id().to_string())
}

/// Removes every written file: the block will not commit.
async fn discard(written: Vec<(WrittenFiles, Option<i64>)>) {
    for (files, _) in written {
        files.discard().await;
    }
}

fn records_dir(dir: &DataDir) -> PathBuf {
    dir.system().join("block_commits")
}

fn record_path(dir: &DataDir, id: &str) -> PathBuf {
    records_dir(dir).join(format!("{id}.json"))
}

fn remove_record(path: &Path) {
    if let Err(e) = std::fs::remove_file(path) {
        tracing::warn!("cannot remove block commit record {}: {e}", path.display());
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::array::Int64Array;
    use datafusion::arrow::datatypes::{DataType, Field, Schema};

    use super::*;
    use crate::{TableConstraints, WriteMode};

    fn batch(ids: &[i64]) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![Field::new("id", DataType::Int64, true)]));
        RecordBatch::try_new(schema, vec![Arc::new(Int64Array::from(ids.to_vec()))]).unwrap()
    }

    fn lineage() -> Lineage {
        Lineage {
            operation: "transaction".into(),
            source: None,
            sha256: None,
            user: "u".into(),
        }
    }

    /// A store with tables `a` and `b` holding one row each.
    async fn store_with_two_tables(dir: &Path) -> (DeltaTableStore, TableIdent, TableIdent) {
        let store = DeltaTableStore::new(DataDir::open(dir).unwrap());
        store.create_schema("public", true).unwrap();
        let (a, b) = (
            TableIdent::new("public", "a"),
            TableIdent::new("public", "b"),
        );
        for ident in [&a, &b] {
            store
                .create_table(
                    ident,
                    batch(&[]).schema(),
                    "u",
                    &TableConstraints::default(),
                )
                .await
                .unwrap();
            store
                .write_batches(
                    ident,
                    batch(&[]).schema(),
                    vec![batch(&[0])],
                    WriteMode::Append,
                    "u",
                    None,
                )
                .await
                .unwrap();
        }
        (store, a, b)
    }

    async fn rows(store: &DeltaTableStore, ident: &TableIdent) -> i64 {
        let table = store.open(ident).await.unwrap().unwrap();
        store.row_count(&table).unwrap()
    }

    fn block(a: &TableIdent, b: &TableIdent, truncated_b: Option<i64>) -> Vec<BlockTable> {
        vec![
            BlockTable {
                ident: a.clone(),
                batches: vec![batch(&[1, 2])],
                truncated_at: None,
            },
            BlockTable {
                ident: b.clone(),
                batches: vec![batch(&[3])],
                truncated_at: truncated_b,
            },
        ]
    }

    fn records(store: &DeltaTableStore) -> usize {
        std::fs::read_dir(records_dir(store.data_dir()))
            .map(|d| d.count())
            .unwrap_or(0)
    }

    #[tokio::test]
    async fn a_block_commits_every_table_and_leaves_no_record() {
        let dir = tempfile::tempdir().unwrap();
        let (store, a, b) = store_with_two_tables(dir.path()).await;
        let truncated_b = store.latest_version(&b);
        let committed = commit(&store, block(&a, &b, truncated_b), &lineage(), None)
            .await
            .unwrap();
        assert_eq!(committed, 3);
        assert_eq!(rows(&store, &a).await, 3);
        assert_eq!(
            rows(&store, &b).await,
            1,
            "b was truncated, then given 1 row"
        );
        assert_eq!(records(&store), 0);
    }

    #[tokio::test]
    async fn a_truncation_that_lost_a_race_commits_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let (store, a, b) = store_with_two_tables(dir.path()).await;
        // The block truncated b at an older version than its latest.
        let stale = store.latest_version(&b).map(|v| v - 1);
        let err = commit(&store, block(&a, &b, stale), &lineage(), None)
            .await
            .unwrap_err();
        assert!(matches!(err, CatalogError::ConcurrentUpdate(_)), "{err}");
        assert_eq!((rows(&store, &a).await, rows(&store, &b).await), (1, 1));
        assert_eq!(records(&store), 0);
    }

    #[tokio::test]
    async fn lock_timeout_bounds_the_wait_for_a_busy_table() {
        let dir = tempfile::tempdir().unwrap();
        let (store, a, b) = store_with_two_tables(dir.path()).await;
        // Another writer is committing to b (a replacing write holds its slot).
        let busy = store.group_committer().lock_table(&b).await;
        let timeout = Some(std::time::Duration::from_millis(50));
        let err = commit(&store, block(&a, &b, None), &lineage(), timeout)
            .await
            .unwrap_err();
        assert!(
            matches!(err, CatalogError::LockTimeout(ref t) if t == "public.b"),
            "{err}"
        );
        assert_eq!((rows(&store, &a).await, rows(&store, &b).await), (1, 1));
        drop(busy);
        let committed = commit(&store, block(&a, &b, None), &lineage(), timeout)
            .await
            .unwrap();
        assert_eq!(committed, 3);
    }

    #[tokio::test]
    async fn a_crash_after_the_commit_point_is_finished_at_start() {
        let dir = tempfile::tempdir().unwrap();
        let (store, a, b) = store_with_two_tables(dir.path()).await;
        let truncated_b = store.latest_version(&b);
        let prepared = prepare(&store, block(&a, &b, truncated_b), &lineage(), None)
            .await
            .unwrap();
        // The process dies after a's log entry and before b's.
        let only_a = vec![prepared.tables[0].clone(), None];
        apply(&prepared.record, &only_a, store.group_committer())
            .await
            .unwrap();
        drop(prepared);
        assert_eq!((rows(&store, &a).await, rows(&store, &b).await), (3, 1));
        // The next start finishes b, and does not add a's rows twice.
        let restarted = DeltaTableStore::new(DataDir::open(dir.path()).unwrap());
        assert_eq!(recover(&restarted).await.unwrap(), 1);
        assert_eq!(rows(&restarted, &a).await, 3);
        assert_eq!(rows(&restarted, &b).await, 1);
        assert_eq!(records(&restarted), 0);
        assert_eq!(recover(&restarted).await.unwrap(), 0);
    }

    #[tokio::test]
    async fn a_crash_before_the_commit_point_commits_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let (store, a, b) = store_with_two_tables(dir.path()).await;
        let prepared = prepare(&store, block(&a, &b, None), &lineage(), None)
            .await
            .unwrap();
        // The record was being written when the process died.
        let torn = prepared.path.with_extension("tmp-1");
        std::fs::rename(&prepared.path, &torn).unwrap();
        drop(prepared);
        let restarted = DeltaTableStore::new(DataDir::open(dir.path()).unwrap());
        assert_eq!(recover(&restarted).await.unwrap(), 0);
        assert_eq!(
            (rows(&restarted, &a).await, rows(&restarted, &b).await),
            (1, 1)
        );
        assert_eq!(records(&restarted), 0);
    }
}
