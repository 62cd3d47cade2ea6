//! SQL functions, one module each, behind DataFusion's `ScalarUDFImpl` and
//! `TableFunctionImpl` traits.
//!
//! [`register_session_functions`] installs them into a connection's session;
//! functions that need the session's identity (the user) get it there.

mod constant_text;
mod error;
mod import_roots;
mod ingest_csv;
mod session_user;
mod version;

use std::sync::Arc;

use datafusion::prelude::SessionContext;
use lakehouse_catalog::DeltaTableStore;

pub use error::UdfError;
pub use import_roots::ImportRoots;
pub use ingest_csv::{IngestCsv, ingest_summary_schema};
pub use version::{PG_VERSION, PG_VERSION_NUM, version_string};

/// Server-wide state the functions share.
#[derive(Debug, Clone)]
pub struct FunctionEnv {
    pub store: DeltaTableStore,
    pub import_roots: Arc<ImportRoots>,
    pub ingest_batch_rows: usize,
}

/// Registers every lakehouse function into `ctx` for a session of `user`.
pub fn register_session_functions(ctx: &SessionContext, env: &FunctionEnv, user: &str) {
    ctx.register_udf(version::version());
    for udf in session_user::session_user(user) {
        ctx.register_udf(udf);
    }
    ctx.register_udtf(
        "ingest_csv",
        Arc::new(IngestCsv::new(env.clone(), user.to_string())),
    );
}
