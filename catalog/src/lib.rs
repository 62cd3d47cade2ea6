//! Everything lakehouse keeps on disk, and the DataFusion catalog over it.
//!
//! Layout of a data directory (see [`DataDir`]):
//! ```text
//! <data_dir>/tables/<schema>/<table>/   one Delta Lake table each (_delta_log + parquet)
//! <data_dir>/views/<schema>/<view>.json view definitions (SQL text)
//! <data_dir>/system/roles.json          roles with SCRAM-SHA-256 verifiers
//! <data_dir>/system/sequences/<schema>/<name>.json  sequences (serial and identity columns)
//! <data_dir>/system/jobs/<id>.json      background jobs and their progress
//! <data_dir>/system/vector_indexes/     vector index definitions (see [`vector_index`])
//! <data_dir>/vectors/<index>/           HNSW graph files (serving generation, trials)
//! <data_dir>/system/block_commits/     commit records of blocks that wrote several tables
//! <data_dir>/system/delta/<journal>/    append-only Delta journals (hnsw_evals, hnsw_trials)
//! <data_dir>/import/                    default import root for server-side files
//! ```
//! Every user-visible change to a table is one Delta commit, so a crash
//! (`kill -9`) leaves each table at its last committed version; lineage rides
//! in the commit metadata, so `lakehouse.datasets` is computed from the logs.

mod append_only_table;
pub mod block_commit;
mod catalog_provider;
mod compaction;
mod data_dir;
mod delta_commit;
mod error;
mod group_commit;
pub mod information_schema;
mod jobs;
mod lineage;
pub mod orphan_files;
pub mod pg_catalog;
pub mod pg_types;
mod roles;
mod schema_provider;
mod sequences;
pub mod system;
mod table_constraints;
mod table_statistics;
mod table_store;
mod uncommitted_writes;
pub mod vector_index;
mod views;

pub use append_only_table::AppendOnlyTable;
pub use catalog_provider::LakehouseCatalog;
pub use data_dir::DataDir;
pub use error::CatalogError;
pub use jobs::{Job, JobState, JobStore};
pub use lineage::Lineage;
pub use roles::{Role, RoleStore, ScramVerifier};
pub use schema_provider::DeltaSchemaProvider;
pub use sequences::{OwnedBy, SequenceDefinition, SequenceInfo, SequenceStore};
pub use table_constraints::{
    CONSTRAINTS_PROPERTY, ColumnDefault, DeclaredLength, ForeignKey, IdentityKind, KeyConstraint,
    TableConstraints, default_constraint_name,
};
pub use table_store::{
    COLUMN_COMMENT_KEY, DeltaTableStore, TableDefinition, TableIdent, TableStats, WriteMode,
};
pub use uncommitted_writes::{StagedTable, UncommittedWrites, WriteMark};
pub use views::ViewStore;

use std::sync::Arc;

use datafusion::execution::runtime_env::RuntimeEnv;

/// The schema new tables land in when none is named.
pub const DEFAULT_SCHEMA: &str = "public";
/// The read-only system schema.
pub const SYSTEM_SCHEMA: &str = "lakehouse";

/// Errors of the Delta storage layer, for callers that classify errors.
pub use deltalake::DeltaTableError as StorageError;

/// A DataFusion context able to plan Delta writes (the Delta extension
/// planner is installed); every lakehouse session derives from one.
pub fn new_session_context(
    config: datafusion::execution::context::SessionConfig,
) -> datafusion::prelude::SessionContext {
    new_session_context_with_runtime(config, Arc::new(RuntimeEnv::default()))
}

/// [`new_session_context`] over a shared runtime: its memory pool and spill
/// directory are the server's budget for every query of every session.
pub fn new_session_context_with_runtime(
    config: datafusion::execution::context::SessionConfig,
    runtime: Arc<RuntimeEnv>,
) -> datafusion::prelude::SessionContext {
    let state = datafusion::execution::session_state::SessionStateBuilder::new()
        .with_default_features()
        .with_config(config)
        .with_runtime_env(runtime)
        .with_query_planner(deltalake::delta_datafusion::planner::DeltaPlanner::new())
        .build();
    datafusion::prelude::SessionContext::new_with_state(state)
}

/// Plans `plan` so that its scans see a transaction block that wrote
/// several tables all at once or not at all (see [`block_commit`]): if such
/// a block became visible while the scans took their snapshots, it plans
/// again.
pub async fn plan_consistently(
    state: &datafusion::execution::session_state::SessionState,
    plan: &datafusion::logical_expr::LogicalPlan,
) -> datafusion::error::Result<Arc<dyn datafusion::physical_plan::ExecutionPlan>> {
    let Some(writes) = UncommittedWrites::of(state) else {
        return state.create_physical_plan(plan).await;
    };
    let epoch = writes.store().group_committer().publish_epoch();
    loop {
        let before = epoch.stable().await;
        let physical = state.create_physical_plan(plan).await?;
        if epoch.current() == before {
            return Ok(physical);
        }
    }
}
