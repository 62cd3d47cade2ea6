//! Background compaction: a table loaded by many small appends gets its
//! small files merged, so reads do not open one file per commit.
//!
//! Each group commit adds one file. A table fed by single-row INSERTs had
//! hundreds of files of a few rows after a minute, and every scan opened
//! all of them (`count(*)` over 400 files took 115 ms of CPU), which made a
//! mixed read/write load crawl. Every [`COMPACT_EVERY`] commits this process
//! makes to a table, delta-rs's OPTIMIZE (bin-packing, `dataChange = false`)
//! rewrites the table's small files into few, as one more commit, in the
//! background. It changes no rows: a reader sees the same rows before and
//! after. It holds the table's commit slot while it runs, so this
//! process's appends queue up (and then commit as one group) instead of
//! racing it for versions: under 64 inserting clients, OPTIMIZE's commit
//! lost that race 15 times in a row (its fixed retry count) and gave up.
//! The replaced files stay on disk for older versions (time travel) until a
//! vacuum removes them.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use deltalake::DeltaTable;

use crate::table_store::update_to_latest;

/// Commits to a table between two compactions.
pub(crate) const COMPACT_EVERY: u64 = 64;

/// When a table's next compaction is due, and whether one is running.
#[derive(Default)]
pub(crate) struct CompactionSchedule {
    commits: AtomicU64,
    running: Arc<AtomicBool>,
}

impl CompactionSchedule {
    /// Counts one commit; every [`COMPACT_EVERY`] commits (none running)
    /// starts a compaction of `table` (any version of it: it reloads) that
    /// takes the table's commit `slot` first.
    pub(crate) fn committed(&self, table: &DeltaTable, slot: &Arc<tokio::sync::Mutex<()>>) {
        let commits = self.commits.fetch_add(1, Ordering::Relaxed) + 1;
        if !commits.is_multiple_of(COMPACT_EVERY) {
            return;
        }
        if self.running.swap(true, Ordering::AcqRel) {
            return;
        }
        let running = self.running.clone();
        let table = table.clone();
        let slot = slot.clone();
        tokio::spawn(async move {
            let _slot = slot.lock_owned().await;
            if let Err(e) = compact(table).await {
                // Nothing changed: the next one tries again.
                tracing::warn!("compaction: {e}");
            }
            running.store(false, Ordering::Release);
        });
    }
}

/// Merges the small files of the latest version of `table`.
async fn compact(mut table: DeltaTable) -> Result<(), deltalake::DeltaTableError> {
    update_to_latest(&mut table).await?;
    let location = table.table_url().to_string();
    // Other processes' writers may still take versions meanwhile: the
    // commit checks each against what it read (an append never conflicts)
    // and tries the next version, 15 times (delta-rs fixes that number for
    // OPTIMIZE); past them it fails and the next compaction tries again.
    let (_, metrics) = table.optimize().await?;
    if metrics.num_files_removed > 0 {
        tracing::info!(
            "compacted {location}: {} files into {}",
            metrics.num_files_removed,
            metrics.num_files_added
        );
    }
    Ok(())
}
