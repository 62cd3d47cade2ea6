//! Writing one Delta log entry, and knowing where a table's log ends without
//! replaying it.
//!
//! delta-rs commits against an eager snapshot: every file of the table in
//! memory. Bringing that snapshot up to date after each commit replays every
//! file again (the kernel's log replay over the files already known), so a
//! table loaded by many small appends got slower to append to with each
//! commit (30 ms at 50 files, 220 ms at 400 in a debug build). A blind append
//! needs none of that: only the version it is written as and the table's
//! metadata and protocol. [`AppendBase`] is that: a loaded table plus the
//! versions this process has appended since, checked with one lookup of the
//! next log file. Checkpoints (which make opening the table cheap) are
//! written in the background every `checkpointInterval` versions.

use std::collections::{HashMap, HashSet};
use std::sync::{LazyLock, Mutex};

use deltalake::DeltaTable;
use deltalake::kernel::Action;
use deltalake::kernel::transaction::{CommitBuilder, TransactionError};
use deltalake::protocol::DeltaOperation;
use deltalake::table::config::TablePropertiesExt;
use object_store::ObjectStoreExt;

use crate::table_store::update_to_latest;

/// Attempts a commit makes against versions other writers took meanwhile.
const COMMIT_RETRIES: usize = 100;

/// What a blind append commits against: `table`, loaded at some version,
/// and `version`, the end of the log as this process last saw it. Every
/// version after `table`'s up to `version` was appended by this process and
/// changed neither metadata nor protocol, so `table`'s are the latest.
pub(crate) struct AppendBase {
    table: DeltaTable,
    version: u64,
}

impl AppendBase {
    /// A base at `table`'s own version.
    pub(crate) fn new(table: DeltaTable) -> Self {
        let version = table.version().unwrap_or(0);
        AppendBase { table, version }
    }

    /// The loaded table: its metadata, protocol and schema are the latest.
    pub(crate) fn table(&self) -> &DeltaTable {
        &self.table
    }

    /// The last version of the log as this process knows it.
    pub(crate) fn version(&self) -> u64 {
        self.version
    }

    /// Makes the base current: one lookup of the next log file when nobody
    /// else committed; a reload of the table (its metadata may have
    /// changed) when someone did.
    pub(crate) async fn catch_up(&mut self) -> Result<(), String> {
        // On a failed lookup, reload: that says what is there.
        match has_log_entry(&self.table, self.version + 1).await {
            Ok(false) => Ok(()),
            _ => {
                update_to_latest(&mut self.table)
                    .await
                    .map_err(|e| e.to_string())?;
                self.version = self.table.version().unwrap_or(self.version);
                Ok(())
            }
        }
    }

    /// Commits `actions` (adds only: a blind append) as the next version.
    pub(crate) async fn append(
        &mut self,
        actions: Vec<Action>,
        metadata: HashMap<String, serde_json::Value>,
        operation: DeltaOperation,
    ) -> Result<u64, String> {
        let version = commit_to_log(
            &self.table,
            Some(self.version + 1),
            actions,
            metadata,
            operation,
        )
        .await?;
        if version != self.version + 1 {
            // Others took versions meanwhile; delta-rs checked them for
            // conflicts (a metadata change fails the commit), but they may
            // have changed what a reload would show: start from them next.
            update_to_latest(&mut self.table)
                .await
                .map_err(|e| e.to_string())?;
        }
        self.version = version.max(self.table.version().unwrap_or(0));
        Ok(version)
    }

    /// Records that this process appended `version` right after the base's
    /// end (a block's COMMIT holding the table's slot).
    pub(crate) fn appended(&mut self, after: u64, version: u64) {
        if after == self.version && version == after + 1 {
            self.version = version;
        }
    }
}

/// Writes one log entry of `actions` on top of `table`'s snapshot and
/// returns its version. With `expected`, the caller knows the log ends just
/// before it with `table`'s metadata: the entry is written there at once,
/// with no listing or replay of the log. Otherwise (or if that version was
/// taken meanwhile) delta-rs checks the versions others took for conflicts
/// and retries.
pub(crate) async fn commit_to_log(
    table: &DeltaTable,
    expected: Option<u64>,
    actions: Vec<Action>,
    metadata: HashMap<String, serde_json::Value>,
    operation: DeltaOperation,
) -> Result<u64, String> {
    let snapshot = table.snapshot().map_err(|e| e.to_string())?;
    let operation_id = uuid::Uuid::new_v4();
    let log_store = table.log_store();
    let prepared = CommitBuilder::default()
        .with_actions(actions)
        .with_app_metadata(metadata)
        .with_max_retries(COMMIT_RETRIES)
        .with_operation_id(operation_id)
        .build(Some(snapshot), log_store.clone(), operation)
        .into_prepared_commit_future()
        .await
        .map_err(|e| e.to_string())?;
    let written = match expected {
        Some(version) => {
            let entry = prepared.commit_or_bytes().clone();
            match log_store
                .write_commit_entry(version, entry.clone(), operation_id)
                .await
            {
                Ok(()) => Some(version),
                Err(TransactionError::VersionAlreadyExists(_)) => None,
                Err(e) => {
                    if let Err(abort) = log_store
                        .abort_commit_entry(version, entry, operation_id)
                        .await
                    {
                        tracing::warn!("cannot abort the log entry for version {version}: {abort}");
                    }
                    return Err(e.to_string());
                }
            }
        }
        None => None,
    };
    let version = match written {
        Some(version) => version,
        // Past this await the log holds the commit (or nothing was written).
        None => prepared.await.map_err(|e| e.to_string())?.version,
    };
    let interval = snapshot.table_config().checkpoint_interval().get();
    if (version + 1).is_multiple_of(interval) {
        checkpoint_in_background(table.clone(), version);
    }
    Ok(version)
}

/// Tables (by location) a checkpoint is being written for.
static CHECKPOINTING: LazyLock<Mutex<HashSet<String>>> = LazyLock::new(Mutex::default);

/// Writes a checkpoint of `version` without holding up the commit that
/// made it due: it reads every file of the table once. One at a time per
/// table; one skipped because the last is still running is covered by the
/// next.
fn checkpoint_in_background(mut table: DeltaTable, version: u64) {
    let location = table.table_url().to_string();
    if !lock(&CHECKPOINTING).insert(location.clone()) {
        return;
    }
    tokio::spawn(async move {
        let outcome = async {
            table.update_incremental(Some(version)).await?;
            deltalake::checkpoints::create_checkpoint(&table, None).await
        }
        .await;
        if let Err(e) = outcome {
            // The commits are in the log all the same; readers replay it.
            tracing::warn!("checkpoint of {location} at version {version}: {e}");
        }
        lock(&CHECKPOINTING).remove(&location);
    });
}

/// Whether `table`'s log has entry `version`: one metadata lookup. The
/// next commit of a Delta table is always the file of the next version, so
/// a table at version n is current when entry n + 1 is absent.
pub(crate) async fn has_log_entry(
    table: &DeltaTable,
    version: u64,
) -> Result<bool, object_store::Error> {
    let path = object_store::path::Path::from(format!("_delta_log/{version:020}.json"));
    match table.object_store().head(&path).await {
        Ok(_) => Ok(true),
        Err(object_store::Error::NotFound { .. }) => Ok(false),
        Err(e) => Err(e),
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}
