//! Where queries execute: a tokio runtime of their own and one memory budget.
//!
//! The wire runtime reads messages, authenticates and answers cancel
//! requests. If DataFusion ran there, one CPU-bound query would stall every
//! login and cancel. So a statement is planned on the wire side and its
//! physical plan runs on the query runtime; the connection receives batches
//! through a small channel. Dropping the receiving stream (the client
//! cancelled, disconnected or timed out) aborts the task, and with it
//! DataFusion's own tasks. A panic inside a query is caught there and becomes
//! that statement's error.
//!
//! All queries of all sessions share one memory pool (`memory_limit`): sorts,
//! joins, aggregates and windows spill to `<data_dir>/tmp` past their fair
//! share, and a query that still cannot fit fails with 53200.

use std::num::NonZeroUsize;
use std::panic::AssertUnwindSafe;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use datafusion::arrow::record_batch::RecordBatch;
use datafusion::error::{DataFusionError, Result as DFResult};
use datafusion::execution::SendableRecordBatchStream;
use datafusion::execution::disk_manager::{DiskManagerBuilder, DiskManagerMode};
use datafusion::execution::memory_pool::{
    FairSpillPool, MemoryConsumer, MemoryLimit, MemoryPool, MemoryReservation, TrackConsumersPool,
};
use datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};
use datafusion::physical_plan::execute_stream;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::prelude::DataFrame;
use futures::{FutureExt, StreamExt};
use tokio::runtime::Handle;
use tokio::sync::{Notify, mpsc};

use crate::error::{ServerError, ServerResult};
use crate::panic_boundary::panic_error;

/// Batches buffered between the query task and the connection: enough to
/// overlap encoding with execution, small enough to bound memory.
const CHANNEL_BATCHES: usize = 2;

/// The memory pool and spill directory every session's queries share.
pub fn shared_runtime_env(limit_bytes: usize, spill_dir: &Path) -> DFResult<Arc<RuntimeEnv>> {
    // Spill files of an earlier run (a crash, kill -9) are garbage now.
    if spill_dir.exists() {
        let _ = std::fs::remove_dir_all(spill_dir);
    }
    std::fs::create_dir_all(spill_dir)?;
    // The five largest consumers are named when a query runs out.
    let top = NonZeroUsize::new(5).unwrap_or(NonZeroUsize::MIN);
    let pool = TrackConsumersPool::new(FairSpillPool::new(limit_bytes), top);
    RuntimeEnvBuilder::new()
        .with_memory_pool(Arc::new(pool))
        .with_disk_manager_builder(
            DiskManagerBuilder::default()
                .with_mode(DiskManagerMode::Directories(vec![spill_dir.to_path_buf()])),
        )
        .build_arc()
}

/// What the query task sends the connection.
enum Item {
    Batch(DFResult<RecordBatch>),
    /// The stream ended normally; a channel closed without it means the
    /// task died, which must never look like a complete result.
    End,
}

/// Handle to the runtime that executes physical plans.
#[derive(Clone, Debug)]
pub struct QueryRuntime {
    handle: Handle,
    /// `memory_limit` in bytes, for the 53200 message.
    memory_limit: usize,
}

impl QueryRuntime {
    pub fn new(handle: Handle, memory_limit: usize) -> Self {
        QueryRuntime {
            handle,
            memory_limit,
        }
    }

    /// Executes `df` on the query runtime and streams its batches back.
    /// Errors (planning the physical plan included) arrive in the stream.
    pub fn stream(&self, df: DataFrame, statement: String) -> SendableRecordBatchStream {
        let schema = Arc::new(df.schema().as_arrow().clone());
        let (tx, rx) = mpsc::channel::<Item>(CHANNEL_BATCHES);
        let task = self.handle.spawn(async move {
            let produced = AssertUnwindSafe(pump(df, &tx)).catch_unwind().await;
            let last = match produced {
                Ok(()) => Item::End,
                Err(payload) => Item::Batch(Err(DataFusionError::External(Box::new(panic_error(
                    payload.as_ref(),
                    &statement,
                ))))),
            };
            let _ = tx.send(last).await;
        });
        let abort = AbortOnDrop(task.abort_handle());
        let memory_limit = self.memory_limit;
        let batches = futures::stream::unfold(Some((rx, abort)), move |state| async move {
            let (mut rx, abort) = state?;
            match rx.recv().await {
                Some(Item::Batch(Ok(batch))) => Some((Ok(batch), Some((rx, abort)))),
                Some(Item::Batch(Err(e))) => Some((Err(out_of_memory(e, memory_limit)), None)),
                Some(Item::End) => None,
                None => Some((
                    Err(DataFusionError::Execution(
                        "the query stopped without finishing".into(),
                    )),
                    None,
                )),
            }
        });
        Box::pin(RecordBatchStreamAdapter::new(schema, batches))
    }

    /// Executes `df` on the query runtime and gathers every batch (DML and
    /// DDL, whose output is a count or nothing).
    pub async fn collect(
        &self,
        df: DataFrame,
        statement: String,
    ) -> ServerResult<Vec<RecordBatch>> {
        let mut stream = self.stream(df, statement);
        let mut batches = Vec::new();
        while let Some(batch) = stream.next().await {
            batches.push(batch.map_err(ServerError::from)?);
        }
        Ok(batches)
    }
}

/// Runs the plan and sends each batch until the stream ends or the
/// connection stops listening. Before the last item goes out, the query's
/// memory is given back: a failed query's partitions may still be running
/// for a moment after the error, and the client's next statement must not
/// find the budget taken by them.
async fn pump(df: DataFrame, tx: &mpsc::Sender<Item>) {
    let memory = Arc::new(QueryMemory::new(df.task_ctx().memory_pool().clone()));
    let failure = match execute(df, memory.clone()).await {
        Ok(mut stream) => loop {
            let next = tokio::select! {
                // The receiver went away: stop working for nobody.
                _ = tx.closed() => return,
                next = stream.next() => next,
            };
            match next {
                Some(Ok(batch)) => {
                    if tx.send(Item::Batch(Ok(batch))).await.is_err() {
                        return;
                    }
                }
                Some(Err(e)) => break Some(e),
                None => break None,
            }
        },
        Err(e) => Some(e),
    };
    memory.released(RELEASE_WAIT).await;
    if let Some(e) = failure {
        let _ = tx.send(Item::Batch(Err(e))).await;
    }
}

/// The longest a finished query waits for its partitions to let go of
/// their memory.
const RELEASE_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// Plans and starts `df` with a runtime whose memory pool counts this
/// query's reservations (on top of the shared pool).
async fn execute(df: DataFrame, memory: Arc<QueryMemory>) -> DFResult<SendableRecordBatchStream> {
    let task = df.task_ctx();
    let shared = task.runtime_env();
    let runtime = Arc::new(RuntimeEnv {
        memory_pool: memory,
        disk_manager: shared.disk_manager.clone(),
        cache_manager: shared.cache_manager.clone(),
        object_store_registry: shared.object_store_registry.clone(),
    });
    let (state, plan) = df.into_parts();
    let plan = lakehouse_catalog::plan_consistently(&state, &plan).await?;
    execute_stream(plan, Arc::new(task.with_runtime(runtime)))
}

/// One query's view of the shared pool: every reservation goes to the
/// shared pool, and this counts what the query holds, so the query can wait
/// until all of it is back.
#[derive(Debug)]
struct QueryMemory {
    shared: Arc<dyn MemoryPool>,
    held: AtomicUsize,
    changed: Notify,
}

impl QueryMemory {
    fn new(shared: Arc<dyn MemoryPool>) -> Self {
        QueryMemory {
            shared,
            held: AtomicUsize::new(0),
            changed: Notify::new(),
        }
    }

    /// Waits (at most `limit`) until the query holds no memory.
    async fn released(&self, limit: std::time::Duration) {
        let _ = tokio::time::timeout(limit, async {
            loop {
                let notified = self.changed.notified();
                if self.held.load(Ordering::SeqCst) == 0 {
                    return;
                }
                notified.await;
            }
        })
        .await;
    }
}

impl std::fmt::Display for QueryMemory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "query share of {}", self.shared)
    }
}

impl MemoryPool for QueryMemory {
    fn name(&self) -> &str {
        "query"
    }

    fn register(&self, consumer: &MemoryConsumer) {
        self.shared.register(consumer)
    }

    fn unregister(&self, consumer: &MemoryConsumer) {
        self.shared.unregister(consumer)
    }

    fn grow(&self, reservation: &MemoryReservation, additional: usize) {
        self.shared.grow(reservation, additional);
        self.held.fetch_add(additional, Ordering::SeqCst);
    }

    fn shrink(&self, reservation: &MemoryReservation, shrink: usize) {
        self.shared.shrink(reservation, shrink);
        let before = self
            .held
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |h| {
                Some(h.saturating_sub(shrink))
            })
            .unwrap_or(0);
        if before <= shrink {
            self.changed.notify_waiters();
        }
    }

    fn try_grow(&self, reservation: &MemoryReservation, additional: usize) -> DFResult<()> {
        self.shared.try_grow(reservation, additional)?;
        self.held.fetch_add(additional, Ordering::SeqCst);
        Ok(())
    }

    fn reserved(&self) -> usize {
        self.shared.reserved()
    }

    fn memory_limit(&self) -> MemoryLimit {
        self.shared.memory_limit()
    }
}

/// Aborts the query task when the connection drops its stream.
struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// DataFusion's "resources exhausted" says which operator failed; the client
/// is also told the budget it ran into and what to do.
fn out_of_memory(e: DataFusionError, memory_limit: usize) -> DataFusionError {
    if !matches!(e.find_root(), DataFusionError::ResourcesExhausted(_)) {
        return e;
    }
    DataFusionError::ResourcesExhausted(format!(
        "out of memory: the query needs more than its share of the server's memory_limit ({} MB) \
         even after spilling to disk; add filters or a LIMIT, or raise memory_limit. {}",
        memory_limit >> 20,
        e.find_root()
    ))
}
