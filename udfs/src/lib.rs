//! SQL functions, one module each, behind DataFusion's `ScalarUDFImpl` and
//! `TableFunctionImpl` traits.
//!
//! [`register_session_functions`] installs them into a connection's session;
//! functions that need the session's identity (the user) or its NOTICE queue
//! get them there.

/// `PartialEq` / `Eq` / `Hash` for a function whose state (catalog and session
/// handles) has no identity of its own: two instances are the same function.
macro_rules! same_function_identity {
    ($type:ty, $name:literal) => {
        impl PartialEq for $type {
            fn eq(&self, _other: &Self) -> bool {
                true
            }
        }
        impl Eq for $type {}
        impl std::hash::Hash for $type {
            fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
                $name.hash(state);
            }
        }
    };
}

mod age;
mod args;
mod builtin_coercion;
mod catalog_lookups;
mod column_names;
mod constant_text;
mod create_vector_index;
mod current_schema;
mod current_setting;
mod currval;
mod datetime_template;
pub mod datetime_text;
mod deferred;
mod embed;
mod error;
mod format;
mod function_signatures;
mod hnsw_apply;
mod hnsw_best;
mod hnsw_eval_autogen;
mod hnsw_trial;
mod import_roots;
mod in_array;
mod ingest_csv;
mod length;
mod models;
mod nextval;
mod notices;
mod oid_arg;
mod pg_expandarray;
mod pg_get_expr;
mod pg_get_serial_sequence;
mod pg_get_userbyid;
mod pg_is_visible;
mod pg_size_pretty;
mod pg_table_is_visible;
mod pg_typeof;
mod postgres_semantics;
mod rag;
mod regclass_name;
mod regtype_names;
mod retrieval;
pub mod search_path;
mod sequence_values;
mod session_settings;
mod session_user;
mod setval;
mod sum;
mod timezone;
mod to_char;
mod to_date;
mod to_regclass;
mod to_regtype;
mod to_timestamp;
mod value_size_limit;
mod var_pop;
mod vector_index_build;
mod vector_literal;
mod vector_search;
mod version;
mod wrapped_aggregate;

use std::sync::Arc;

use datafusion::prelude::SessionContext;
use lakehouse_catalog::vector_index::VectorIndexStore;
use lakehouse_catalog::{DeltaTableStore, JobStore, SequenceStore};

pub use embed::{Embed, embedding_type};
pub use error::UdfError;
pub use function_signatures::FunctionSignatures;
pub use import_roots::ImportRoots;
pub use ingest_csv::{IngestCsv, ingest_summary_schema};
pub use lakehouse_models::ModelError;
pub use models::Models;
pub use notices::{Notice, SessionNotices};
pub use postgres_semantics::use_postgres_semantics;
pub use sequence_values::SessionSequenceValues;
pub use session_settings::{SessionSettings, SettingError};
pub use to_regtype::TypeOids;
pub use value_size_limit::{MAX_VALUE_BYTES, limit_value_sizes};
pub use vector_index_build::VectorIndexBuilder;
pub use version::{PG_VERSION, PG_VERSION_NUM, version_string};

/// Server-wide state the functions share.
#[derive(Debug, Clone)]
pub struct FunctionEnv {
    pub store: DeltaTableStore,
    /// Sequences (`nextval`, serial and identity columns).
    pub sequences: SequenceStore,
    pub import_roots: Arc<ImportRoots>,
    pub ingest_batch_rows: usize,
    pub models: Arc<Models>,
    pub vectors: VectorIndexStore,
    pub jobs: JobStore,
    pub index_builder: VectorIndexBuilder,
    pub rag_max_tokens: usize,
    /// What pg_catalog scans last saw, for obj_description and friends.
    pub pg_annotations: lakehouse_catalog::pg_catalog::PgAnnotations,
    /// Login roles: `pg_get_userbyid` names owners from them.
    pub roles: Arc<lakehouse_catalog::RoleStore>,
    /// `pg_type` by name, for to_regtype.
    pub type_oids: Arc<TypeOids>,
    /// `pg_proc` signatures, for pg_get_function_result / _arguments.
    pub function_signatures: Arc<FunctionSignatures>,
}

/// What a session lends its functions: who it is, where its NOTICEs go, its
/// parameters.
#[derive(Debug, Clone)]
pub struct SessionHandles {
    pub user: String,
    pub notices: SessionNotices,
    pub settings: Arc<dyn SessionSettings>,
}

/// `sum` typed as PostgreSQL's (`sum(bigint)` is `numeric`), `var_pop` /
/// `stddev_pop` of one infinite value NaN, `length` / `octet_length`
/// taking `bytea`, and `pg_typeof`, in `ctx` and the sessions made from it.
/// Call after the pg_catalog setup, which rebuilds the function registry.
pub fn use_postgres_function_types(ctx: &SessionContext) {
    ctx.register_udaf(sum::sum());
    for udaf in var_pop::population_variances() {
        ctx.register_udaf(udaf);
    }
    ctx.register_udf(pg_typeof::pg_typeof());
    for udf in length::length_functions() {
        ctx.register_udf(udf);
    }
}

/// PostgreSQL's `to_char(date | timestamp, template)` and `to_date(text,
/// template)` and `to_timestamp(text, template)` in place of DataFusion's
/// chrono-format ones, and `age()`, in
/// `ctx` and the sessions made from it.
pub fn use_postgres_datetime_templates(ctx: &SessionContext) {
    ctx.register_udf(to_char::to_char());
    ctx.register_udf(age::age());
    ctx.register_udf(timezone::timezone());
    if let Ok(builtin) = datafusion::execution::FunctionRegistry::udf(ctx, "to_date") {
        ctx.register_udf(to_date::to_date(builtin));
    }
    if let Ok(builtin) = datafusion::execution::FunctionRegistry::udf(ctx, "to_timestamp") {
        ctx.register_udf(to_timestamp::to_timestamp(builtin));
    }
}

/// The functions a column default may call beyond DataFusion's own: the
/// `nextval` of serial and identity columns (their names are qualified, so
/// it needs no session).
pub fn column_default_functions(
    env: &FunctionEnv,
) -> Vec<Arc<datafusion::logical_expr::ScalarUDF>> {
    vec![Arc::new(nextval::nextval(env.sequences.clone(), None))]
}

/// Registers every lakehouse function into `ctx` for one session.
pub fn register_session_functions(
    ctx: &SessionContext,
    env: &FunctionEnv,
    session: &SessionHandles,
) {
    let (user, notices) = (session.user.as_str(), &session.notices);
    ctx.register_udf(version::version());
    for udf in pg_is_visible::pg_is_visible_functions() {
        ctx.register_udf(udf);
    }
    ctx.register_udf(pg_size_pretty::pg_size_pretty());
    ctx.register_udf(format::format());
    ctx.register_udf(in_array::in_array());
    ctx.register_udf(pg_get_expr::pg_get_expr());
    ctx.register_udf(pg_get_userbyid::pg_get_userbyid(env.roles.clone()));
    ctx.register_udf(pg_expandarray::pg_expandarray());
    for udf in function_signatures::function_signature_functions(&env.function_signatures) {
        ctx.register_udf(udf);
    }
    ctx.register_udf(vector_literal::vector_literal());
    ctx.register_udf(to_regtype::to_regtype(env.type_oids.clone()));
    ctx.register_udf(regtype_names::regtype_names(env.type_oids.clone()));
    for udf in catalog_lookups::catalog_lookup_functions(&env.pg_annotations, &session.settings) {
        ctx.register_udf(udf);
    }
    ctx.register_udf(column_names::column_names(env.pg_annotations.clone()));
    ctx.register_udf(regclass_name::regclass_name(
        env.pg_annotations.clone(),
        session.settings.clone(),
    ));
    ctx.register_udf(pg_table_is_visible::pg_table_is_visible(
        env.pg_annotations.clone(),
        session.settings.clone(),
    ));
    ctx.register_udf(to_regclass::to_regclass(
        env.pg_annotations.clone(),
        session.settings.clone(),
    ));
    for udf in current_schema::current_schema_functions(&env.store, &session.settings) {
        ctx.register_udf(udf);
    }
    for udf in current_setting::setting_functions(session.settings.clone()) {
        ctx.register_udf(udf);
    }
    for udf in session_user::session_user(user) {
        ctx.register_udf(udf);
    }
    ctx.register_udf(nextval::nextval(
        env.sequences.clone(),
        Some(session.settings.clone()),
    ));
    ctx.register_udf(setval::setval(
        env.sequences.clone(),
        session.settings.clone(),
    ));
    ctx.register_udf(currval::currval(
        env.sequences.clone(),
        session.settings.clone(),
    ));
    ctx.register_udf(currval::lastval());
    ctx.register_udf(pg_get_serial_sequence::pg_get_serial_sequence(
        env.store.clone(),
        env.sequences.clone(),
        session.settings.clone(),
    ));
    ctx.register_udf(Embed::udf(env.models.clone()));
    ctx.register_udtf(
        "ingest_csv",
        Arc::new(IngestCsv::new(env.clone(), user.to_string())),
    );
    ctx.register_udtf(
        "create_vector_index",
        Arc::new(create_vector_index::CreateVectorIndex::new(
            env.clone(),
            user.to_string(),
            notices.clone(),
        )),
    );
    ctx.register_udtf(
        "vector_search",
        Arc::new(vector_search::VectorSearch::new(env.clone())),
    );
    ctx.register_udtf("rag", Arc::new(rag::Rag::new(env.clone(), notices.clone())));
    ctx.register_udtf(
        "hnsw_eval_autogen",
        Arc::new(hnsw_eval_autogen::HnswEvalAutogen::new(
            env.clone(),
            user.to_string(),
        )),
    );
    ctx.register_udtf(
        "hnsw_trial",
        Arc::new(hnsw_trial::HnswTrialFunction::new(
            env.clone(),
            user.to_string(),
        )),
    );
    ctx.register_udtf("hnsw_best", Arc::new(hnsw_best::HnswBest::new(env.clone())));
    ctx.register_udtf(
        "hnsw_apply",
        Arc::new(hnsw_apply::HnswApply::new(
            env.clone(),
            user.to_string(),
            notices.clone(),
        )),
    );
}

/// lakehouse's own SQL functions as `pg_proc` lists them (`\df embed`).
pub fn own_functions() -> Vec<lakehouse_catalog::pg_catalog::OwnFunction> {
    vec![
        create_vector_index::description(),
        embed::description(),
        hnsw_apply::description(),
        hnsw_best::description(),
        hnsw_eval_autogen::description(),
        hnsw_trial::description(),
        ingest_csv::description(),
        rag::description(),
        vector_search::description(),
    ]
}

/// Restarts the background jobs (index builds, generation swaps) that a stop
/// interrupted; builds continue from their last commit.
pub fn resume_background_jobs(
    env: &FunctionEnv,
    state: &datafusion::execution::context::SessionState,
) {
    env.index_builder.resume_unfinished(state);
    hnsw_apply::resume_unfinished(env);
}

/// Runs CPU-heavy or blocking work (model loading, inference) from inside a
/// query. On the server's multi-threaded runtime the worker hands its other
/// tasks away first, so other sessions keep being served.
pub(crate) fn run_blocking<T>(work: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(handle) if handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(work)
        }
        _ => work(),
    }
}
