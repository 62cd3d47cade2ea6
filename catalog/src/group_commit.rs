//! Group commit: concurrent appends to one table share one Delta commit.
//!
//! Each Delta commit is one new log file, and commits to one table are
//! serialised by the log: with many clients inserting single rows, each
//! writer raced the others for the next version, lost, re-read the log and
//! tried again, until its retries ran out (58030) — at a handful of commits
//! a second. Here every append first writes its Parquet files (in parallel,
//! no coordination), then queues its file actions on the table. Whoever
//! finds the table's commit slot free becomes the leader: it takes every
//! queued append and commits them all as one version; the others wait for
//! that result. Blind appends never conflict with each other, so the only
//! races left are with other writers (a truncate, a block's commit, another
//! process), which the commit retries against the log.
//!
//! What a client is told is what happened: an append is acknowledged only
//! after the commit that holds it is in the log; an append whose commit
//! failed has its files deleted, so nothing it wrote ever shows up later;
//! and a failure after the log entry is written (the checkpoint that may
//! follow) is logged, not reported, since the rows are committed.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use deltalake::DeltaTable;
use deltalake::kernel::{Action, Add};
use deltalake::protocol::{DeltaOperation, SaveMode};
use deltalake::writer::{DeltaWriter, RecordBatchWriter};
use futures::StreamExt;
use object_store::ObjectStoreExt;
use object_store::path::Path;
use tokio::sync::oneshot;

use crate::compaction::CompactionSchedule;
use crate::delta_commit::AppendBase;
use crate::lineage::Lineage;
use crate::{CatalogError, TableIdent};

/// Appends smaller than this (in memory) hand their rows to the group: the
/// leader writes one file for all of them, instead of one file per
/// statement (a table loaded by single-row INSERTs would otherwise be
/// thousands of one-row files, and every scan would open them all).
const SMALL_APPEND_BYTES: usize = 1 << 20;

/// What an append brings to the group.
enum Payload {
    /// Rows, already in the table's types, for the leader to write.
    Rows(Vec<RecordBatch>),
    /// Files the append wrote itself (large appends, a block's COMMIT).
    Files(Vec<Add>),
}

/// One append waiting for its commit.
struct Pending {
    payload: Payload,
    lineage: Lineage,
    done: oneshot::Sender<Result<u64, String>>,
}

/// The queue and commit slot of one table.
#[derive(Default)]
struct TableQueue {
    pending: Mutex<Vec<Pending>>,
    /// Held by whoever commits to the table from this process: a group's
    /// leader, a block's COMMIT (see [`crate::block_commit`]), a replacing
    /// write.
    slot: Arc<tokio::sync::Mutex<()>>,
    /// Where the last committer left the table's log, so the next one
    /// appends without replaying it (see [`AppendBase`]).
    base: Mutex<Option<AppendBase>>,
    /// Merges the small files the groups' commits leave behind.
    compaction: CompactionSchedule,
}

/// The right to commit to one table, held until dropped.
pub(crate) type CommitSlot = tokio::sync::OwnedMutexGuard<()>;

/// Group commits for every table of a store.
#[derive(Default, Clone)]
pub struct GroupCommitter {
    tables: Arc<Mutex<HashMap<TableIdent, Arc<TableQueue>>>>,
    /// Counts the publications of blocks that wrote several tables (see
    /// [`PublishEpoch`]).
    epoch: Arc<PublishEpoch>,
}

/// Lets a statement see a block that wrote several tables all at once or
/// not at all. A block's log entries go out between two increments of the
/// epoch (odd while they do); a statement plans (its scans take their
/// snapshots) between two readings of it, and plans again if a block was
/// published meanwhile. Statements never wait for each other, and a block
/// only for the one before it.
#[derive(Default)]
pub(crate) struct PublishEpoch {
    epoch: std::sync::atomic::AtomicU64,
    changed: tokio::sync::Notify,
    publishing: tokio::sync::Mutex<()>,
}

impl PublishEpoch {
    /// The epoch once no block is being published.
    pub(crate) async fn stable(&self) -> u64 {
        loop {
            let notified = self.changed.notified();
            let epoch = self.current();
            if epoch.is_multiple_of(2) {
                return epoch;
            }
            notified.await;
        }
    }

    pub(crate) fn current(&self) -> u64 {
        self.epoch.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Runs `publish` (a block's log entries) as one step for planners.
    pub(crate) async fn publish<T>(&self, publish: impl std::future::Future<Output = T>) -> T {
        let _one_at_a_time = self.publishing.lock().await;
        self.epoch.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let out = publish.await;
        self.epoch.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.changed.notify_waiters();
        out
    }
}

impl std::fmt::Debug for GroupCommitter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("GroupCommitter")
    }
}

/// Files an append has written and not yet committed: invisible to every
/// reader until [`GroupCommitter::commit_written`], removed by
/// [`WrittenFiles::discard`] if they will never be.
pub struct WrittenFiles {
    pub(crate) ident: TableIdent,
    pub(crate) table: DeltaTable,
    pub(crate) adds: Vec<Add>,
    pub(crate) rows: u64,
}

impl WrittenFiles {
    /// Deletes the files: the append will not be committed.
    pub async fn discard(self) {
        delete_files(&self.table, &self.adds).await;
    }
}

impl GroupCommitter {
    /// Writes `batches` into new files of `table` and commits them together
    /// with whatever other appends to the same table are waiting. Returns
    /// the rows appended, once they are committed.
    pub async fn append(
        &self,
        ident: &TableIdent,
        table: &DeltaTable,
        mut batches: SendableRecordBatchStream,
        lineage: Lineage,
    ) -> Result<u64, CatalogError> {
        let target = RecordBatchWriter::for_table(table)?.arrow_schema();
        let mut held = Vec::new();
        let mut bytes = 0;
        while let Some(batch) = batches.next().await {
            let batch = conform(batch?, &target)?;
            bytes += batch.get_array_memory_size();
            held.push(batch);
            if bytes > SMALL_APPEND_BYTES {
                // A large append writes its own files as it streams.
                let schema = batches.schema();
                let rest = futures::stream::iter(held.into_iter().map(Ok)).chain(batches);
                let stream = RecordBatchStreamAdapter::new(schema, rest);
                let written = Self::write(ident, table, Box::pin(stream)).await?;
                return self.commit_written(written, lineage).await;
            }
        }
        let rows: u64 = held.iter().map(|b| b.num_rows() as u64).sum();
        if rows == 0 {
            return Ok(0);
        }
        self.commit(ident, table, Payload::Rows(held), lineage)
            .await
            .map(|_| rows)
            .map_err(|message| CatalogError::CommitFailed {
                table: ident.to_string(),
                conflict: is_conflict(&message),
                message,
            })
    }

    /// Writes `batches` into new files of `table` without committing them.
    /// On failure the files written so far are removed.
    pub async fn write(
        ident: &TableIdent,
        table: &DeltaTable,
        mut batches: SendableRecordBatchStream,
    ) -> Result<WrittenFiles, CatalogError> {
        let mut writer = RecordBatchWriter::for_table(table)?;
        let target = writer.arrow_schema();
        let mut rows = 0u64;
        let mut written = async {
            while let Some(batch) = batches.next().await {
                let batch = conform(batch?, &target)?;
                rows += batch.num_rows() as u64;
                if batch.num_rows() > 0 {
                    writer.write(batch).await?;
                }
            }
            Ok::<_, CatalogError>(())
        }
        .await;
        let adds = match writer.flush().await {
            Ok(adds) => adds,
            Err(e) => {
                written = written.and(Err(e.into()));
                Vec::new()
            }
        };
        if let Err(e) = written {
            delete_files(table, &adds).await;
            return Err(e);
        }
        Ok(WrittenFiles {
            ident: ident.clone(),
            table: table.clone(),
            adds,
            rows,
        })
    }

    /// Commits written files (with whatever other appends to the table are
    /// waiting); on failure they are removed. Returns their rows.
    pub async fn commit_written(
        &self,
        written: WrittenFiles,
        lineage: Lineage,
    ) -> Result<u64, CatalogError> {
        if written.adds.is_empty() {
            return Ok(0);
        }
        let outcome = self
            .commit(
                &written.ident,
                &written.table,
                Payload::Files(written.adds.clone()),
                lineage,
            )
            .await;
        match outcome {
            Ok(_) => Ok(written.rows),
            Err(message) => {
                let table = written.ident.to_string();
                written.discard().await;
                Err(CatalogError::CommitFailed {
                    table,
                    conflict: is_conflict(&message),
                    message,
                })
            }
        }
    }

    /// Queues `adds` and waits until a commit holds them (made by this call
    /// as the leader, or by another).
    async fn commit(
        &self,
        ident: &TableIdent,
        table: &DeltaTable,
        payload: Payload,
        lineage: Lineage,
    ) -> Result<u64, String> {
        let queue = self.queue(ident);
        let (done, mut result) = oneshot::channel();
        lock(&queue.pending).push(Pending {
            payload,
            lineage,
            done,
        });
        let _slot = queue.slot.lock().await;
        // The previous leader may have committed this append already.
        if let Ok(outcome) = result.try_recv() {
            return outcome;
        }
        let group: Vec<Pending> = std::mem::take(&mut *lock(&queue.pending));
        // An append with a source (a file and its SHA-256) keeps a commit of
        // its own: ingest dedup and lineage read it back from the log.
        let (plain, sourced): (Vec<Pending>, Vec<Pending>) = group
            .into_iter()
            .partition(|p| p.lineage.source.is_none() && p.lineage.sha256.is_none());
        let mut commits: Vec<Vec<Pending>> = sourced.into_iter().map(|p| vec![p]).collect();
        if !plain.is_empty() {
            commits.insert(0, plain);
        }
        let mut base = queue.take_base(table);
        for group in commits {
            let outcome = commit_group(&mut base, &group).await;
            if outcome.is_ok() {
                queue.compaction.committed(base.table(), &queue.slot);
            }
            for pending in group {
                let _ = pending.done.send(outcome.clone());
            }
        }
        *lock(&queue.base) = Some(base);
        result
            .await
            .unwrap_or_else(|_| Err("the commit was abandoned".to_string()))
    }

    fn queue(&self, ident: &TableIdent) -> Arc<TableQueue> {
        lock(&self.tables).entry(ident.clone()).or_default().clone()
    }

    /// Waits for the right to commit to `ident`: no group of appends commits
    /// to it until the slot is dropped.
    pub(crate) async fn lock_table(&self, ident: &TableIdent) -> CommitSlot {
        self.queue(ident).slot.clone().lock_owned().await
    }

    /// Where the last commit to `ident` left its log (see [`AppendBase`]),
    /// or `loaded` if that is newer. For the holder of the table's slot,
    /// who gives it back with [`Self::put_base`].
    pub(crate) fn take_base(&self, ident: &TableIdent, loaded: &DeltaTable) -> AppendBase {
        self.queue(ident).take_base(loaded)
    }

    /// Leaves `base` for the next commit to `ident`.
    pub(crate) fn put_base(&self, ident: &TableIdent, base: AppendBase) {
        *lock(&self.queue(ident).base) = Some(base);
    }

    /// Records that the holder of `ident`'s slot appended `version` to a
    /// log that ended at `after`, so the next group need not reload the
    /// table to find it.
    pub(crate) fn appended(&self, ident: &TableIdent, after: u64, version: u64) {
        if let Some(base) = lock(&self.queue(ident).base).as_mut() {
            base.appended(after, version);
        }
    }

    /// When blocks that wrote several tables become visible.
    pub(crate) fn publish_epoch(&self) -> &PublishEpoch {
        &self.epoch
    }

    /// Forgets a dropped table's queue.
    pub fn forget(&self, ident: &TableIdent) {
        lock(&self.tables).remove(ident);
    }
}

impl TableQueue {
    /// The base the last committer left, or `table` if that is newer.
    fn take_base(&self, table: &DeltaTable) -> AppendBase {
        match lock(&self.base).take() {
            Some(base) if Some(base.version()) >= table.version() => base,
            _ => AppendBase::new(table.clone()),
        }
    }
}

/// One Delta commit of every queued append, as the next version: the rows
/// of small appends go to one new file, written here; the files of large
/// ones are added as they are. If the commit fails, the file written here
/// is removed (the others by their appends).
async fn commit_group(base: &mut AppendBase, group: &[Pending]) -> Result<u64, String> {
    base.catch_up().await?;
    let table = base.table();
    let mut written = Vec::new();
    let rows: Vec<&RecordBatch> = group
        .iter()
        .filter_map(|p| match &p.payload {
            Payload::Rows(batches) => Some(batches.iter()),
            Payload::Files(_) => None,
        })
        .flatten()
        .collect();
    if !rows.is_empty() {
        let mut writer = RecordBatchWriter::for_table(table).map_err(|e| e.to_string())?;
        let mut outcome = Ok(());
        for batch in rows {
            outcome = writer.write(batch.clone()).await;
            if outcome.is_err() {
                break;
            }
        }
        match writer.flush().await {
            Ok(adds) => written = adds,
            Err(e) => outcome = outcome.and(Err(e)),
        }
        if let Err(e) = outcome {
            delete_files(table, &written).await;
            return Err(e.to_string());
        }
    }
    let outcome = commit_actions(base, group, &written).await;
    if outcome.is_err() {
        delete_files(base.table(), &written).await;
    }
    outcome
}

/// The commit itself: `written` plus the files of the group's large appends.
async fn commit_actions(
    base: &mut AppendBase,
    group: &[Pending],
    written: &[Add],
) -> Result<u64, String> {
    let actions: Vec<Action> = group
        .iter()
        .filter_map(|p| match &p.payload {
            Payload::Files(adds) => Some(adds.iter()),
            Payload::Rows(_) => None,
        })
        .flatten()
        .chain(written)
        .cloned()
        .map(Action::Add)
        .collect();
    let operation = DeltaOperation::Write {
        mode: SaveMode::Append,
        partition_by: None,
        predicate: None,
    };
    base.append(actions, group_metadata(group), operation).await
}

/// The commit's lineage: the appends' own when there is one, else the
/// operation with every user that took part.
fn group_metadata(group: &[Pending]) -> HashMap<String, serde_json::Value> {
    let mut lineage = group[0].lineage.clone();
    let mut users: Vec<&str> = group.iter().map(|p| p.lineage.user.as_str()).collect();
    users.sort_unstable();
    users.dedup();
    if group.len() > 1 {
        lineage.source = None;
        lineage.sha256 = None;
        lineage.user = users.join(",");
    }
    let mut metadata: HashMap<String, serde_json::Value> =
        lineage.to_commit_metadata().into_iter().collect();
    metadata.insert(
        "lakehouse.statements".to_string(),
        serde_json::json!(group.len()),
    );
    metadata
}

/// A batch in the table's own column order and types (the scan's string
/// views become strings), its nullability checked against the table's.
/// Columns are matched by name; a batch without names (positional) maps in
/// order.
fn conform(batch: RecordBatch, target: &SchemaRef) -> Result<RecordBatch, CatalogError> {
    let mismatch = |message: String| CatalogError::SchemaMismatch {
        table: String::new(),
        message,
    };
    if batch.num_columns() != target.fields().len() {
        return Err(mismatch(format!(
            "{} columns given for a table of {}",
            batch.num_columns(),
            target.fields().len()
        )));
    }
    let schema = batch.schema();
    let columns = target
        .fields()
        .iter()
        .enumerate()
        .map(|(i, field)| {
            let column = match schema.index_of(field.name()) {
                Ok(j) => batch.column(j),
                Err(_) => batch.column(i),
            };
            if column.data_type() == field.data_type() {
                Ok(column.clone())
            } else {
                cast(column, field.data_type())
                    .map_err(|e| mismatch(format!("column \"{}\": {e}", field.name())))
            }
        })
        .collect::<Result<Vec<_>, _>>()?;
    RecordBatch::try_new(target.clone(), columns).map_err(|e| CatalogError::DataFusion(e.into()))
}

/// Whether delta-rs's commit error is a lost race (the statement may be
/// retried) rather than a storage failure.
fn is_conflict(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    m.contains("concurrent")
        || m.contains("already exists")
        || m.contains("max commit attempts")
        || m.contains("retries")
}

/// Removes files an append wrote but never committed.
async fn delete_files(table: &DeltaTable, adds: &[Add]) {
    let store = table.object_store();
    for add in adds {
        let path = Path::parse(&add.path).unwrap_or_else(|_| Path::from(add.path.as_str()));
        if let Err(e) = store.delete(&path).await {
            tracing::warn!("cannot remove uncommitted file {}: {e}", add.path);
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}
