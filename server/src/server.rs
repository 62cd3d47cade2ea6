//! The listener, and state shared by every connection.

use std::sync::{Arc, Mutex};

use datafusion::catalog::CatalogProvider;
use datafusion::catalog::information_schema::InformationSchemaProvider;
use datafusion::execution::context::SessionConfig;
use datafusion::prelude::SessionContext;
use datafusion_pg_catalog::pg_catalog::context::EmptyContextProvider;
use futures::FutureExt;
use lakehouse_catalog::information_schema::InformationSchemaOverlay;
use lakehouse_catalog::pg_catalog::{PgAnnotations, PgCatalogOverlay, SessionParameters};
use lakehouse_catalog::{DEFAULT_SCHEMA, LakehouseCatalog, RoleStore, UncommittedWrites};
use lakehouse_config::Config;
use lakehouse_udfs::{
    FunctionEnv, FunctionSignatures, ImportRoots, Models, SessionHandles, SessionNotices, TypeOids,
    VectorIndexBuilder,
};
use pgwire::api::cancel::DefaultCancelHandler;
use pgwire::api::{ConnectionManager, PgWireServerHandlers};
use tokio::net::TcpListener;
use tokio::runtime::Handle;

use crate::auth::ScramAuthenticator;
use crate::cancel::QueryCanceller;
use crate::client_socket::ClientSockets;
use crate::handler::LakehouseHandler;
use crate::query_runtime::{QueryRuntime, shared_runtime_env};
use crate::session::Session;
use crate::settings::{Settings, SharedSettings};

/// Errors that stop the server from starting.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Catalog(#[from] lakehouse_catalog::CatalogError),
    #[error("cannot set up pg_catalog: {0}")]
    PgCatalog(String),
    #[error("{0}")]
    Memory(String),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: String,
        source: std::io::Error,
    },
}

/// What all connections share: configuration, catalog, roles, and the
/// template every session context is cloned from.
pub struct ServerState {
    pub config: Config,
    pub catalog: Arc<LakehouseCatalog>,
    pub roles: Arc<RoleStore>,
    pub functions: FunctionEnv,
    /// Where every session's queries execute, under one memory budget.
    pub queries: QueryRuntime,
    template: SessionContext,
}

impl ServerState {
    /// Opens the data directory and builds the session template; queries
    /// will execute on `query_runtime`.
    pub async fn open(config: Config, query_runtime: Handle) -> Result<ServerState, StartError> {
        let catalog = Arc::new(LakehouseCatalog::open(
            &config.data_dir,
            config.vector_search_threads,
        )?);
        let memory_limit = config
            .memory_limit_bytes()
            .map_err(|message| StartError::Memory(format!("memory_limit: {message}")))?;
        let spill_dir = catalog.store().data_dir().spill();
        let runtime_env = shared_runtime_env(memory_limit, &spill_dir).map_err(|e| {
            StartError::Memory(format!("cannot set up {}: {e}", spill_dir.display()))
        })?;
        let roles = Arc::new(RoleStore::open(catalog.store().data_dir())?);
        let mut session_config = SessionConfig::new()
            .with_default_catalog_and_schema(&config.database, DEFAULT_SCHEMA)
            .with_create_default_catalog_and_schema(false)
            // information_schema is registered below, PostgreSQL's shape.
            .with_information_schema(false);
        // Sessions run in UTC (SHOW TimeZone), so `timestamptz` is a zoned type.
        session_config.options_mut().execution.time_zone = Some("UTC".to_string());
        let template =
            lakehouse_catalog::new_session_context_with_runtime(session_config, runtime_env);
        template.register_catalog(&config.database, catalog.clone());
        // repeat(), lpad(), array_repeat(), range() ... refuse results past 1 GB.
        lakehouse_udfs::limit_value_sizes(&template);
        // Integer +, -, * fail on overflow (22003) instead of wrapping;
        // float-to-integer casts round; text-to-bytea casts decode.
        lakehouse_udfs::use_postgres_semantics(&template);
        datafusion_pg_catalog::setup_pg_catalog(&template, &config.database, EmptyContextProvider)
            .map_err(|e| StartError::PgCatalog(e.to_string()))?;
        // After the pg_catalog setup, which rebuilds the session state from
        // its functions: DataFusion's to_char, still listed under its alias
        // `date_format`, could take the name back in that rebuild.
        lakehouse_udfs::use_postgres_datetime_templates(&template);
        // sum(bigint) is numeric; length(bytea) counts bytes.
        lakehouse_udfs::use_postgres_function_types(&template);
        let catalogs = template.state().catalog_list().clone();
        catalog
            .register_schema(
                "information_schema",
                Arc::new(InformationSchemaOverlay::new(
                    Arc::new(InformationSchemaProvider::new(catalogs.clone())),
                    catalogs,
                    catalog.store().clone(),
                    &config.database,
                )),
            )
            .map_err(|e| StartError::PgCatalog(e.to_string()))?;
        // pg_constraint and pg_description come from the Delta tables.
        let pg_annotations = PgAnnotations::default();
        let pg_catalog = catalog
            .schema("pg_catalog")
            .ok_or_else(|| StartError::PgCatalog("pg_catalog was not registered".into()))?;
        catalog
            .register_schema(
                "pg_catalog",
                Arc::new(
                    PgCatalogOverlay::new(
                        pg_catalog,
                        catalog.store().clone(),
                        catalog.views().clone(),
                        pg_annotations.clone(),
                        roles.clone(),
                    )
                    .with_own_functions(lakehouse_udfs::own_functions()),
                ),
            )
            .map_err(|e| StartError::PgCatalog(e.to_string()))?;
        let type_oids = template
            .sql("SELECT typname, oid, typarray FROM pg_catalog.pg_type")
            .await
            .map_err(|e| StartError::PgCatalog(e.to_string()))?
            .collect()
            .await
            .and_then(|batches| TypeOids::from_pg_type(&batches))
            .map_err(|e| StartError::PgCatalog(e.to_string()))?;
        let function_signatures = template
            .sql(
                "SELECT oid, prorettype, proretset, proargmodes, proallargtypes, proargnames, \
                 proargtypes, proargdefaults FROM pg_catalog.pg_proc",
            )
            .await
            .map_err(|e| StartError::PgCatalog(e.to_string()))?
            .collect()
            .await
            .and_then(|batches| FunctionSignatures::from_pg_proc(&batches, &type_oids))
            .map_err(|e| StartError::PgCatalog(e.to_string()))?;
        let mut roots = config.effective_import_roots();
        roots.retain(|r| !r.as_os_str().is_empty());
        let models = Arc::new(Models::new(
            config.embedding_model_path(),
            config.generation_model_path(),
            config.embed_batch_size,
        ));
        let vectors = catalog.vector_indexes().clone();
        let jobs = catalog.jobs().clone();
        let functions = FunctionEnv {
            store: catalog.store().clone(),
            sequences: catalog.sequences().clone(),
            import_roots: Arc::new(ImportRoots::new(&roots).excluding_data_dir(
                catalog.store().data_dir().root(),
                &catalog.store().data_dir().import(),
            )),
            ingest_batch_rows: config.ingest_batch_rows,
            index_builder: VectorIndexBuilder::new(vectors.clone(), jobs.clone(), models.clone()),
            models,
            vectors,
            jobs,
            rag_max_tokens: config.rag_max_tokens,
            pg_annotations,
            roles: roles.clone(),
            type_oids: Arc::new(type_oids),
            function_signatures: Arc::new(function_signatures),
        };
        catalog
            .store()
            .set_default_functions(lakehouse_udfs::column_default_functions(&functions));
        let state = ServerState {
            config,
            catalog,
            roles,
            functions,
            queries: QueryRuntime::new(query_runtime, memory_limit),
            template,
        };
        // A block's COMMIT that a crash interrupted after its commit point
        // is finished before anything reads the tables.
        let finished = lakehouse_catalog::block_commit::recover(state.catalog.store()).await?;
        if finished > 0 {
            tracing::info!("finished {finished} interrupted block commits");
        }
        // Views are planned against a session that has every function.
        let restorer = state.new_session("lakehouse", true);
        let restored = state.catalog.views().restore(&restorer.ctx).await?;
        if restored > 0 {
            tracing::info!("restored {restored} views");
        }
        // Data files a failed or interrupted write left behind go, in the
        // background (a listing of every table).
        let data_dir = state.catalog.store().data_dir().clone();
        tokio::task::spawn_blocking(move || {
            let removed = lakehouse_catalog::orphan_files::sweep(&data_dir);
            if removed > 0 {
                tracing::info!("removed {removed} uncommitted data files");
            }
        });
        // Jobs a crash or restart interrupted start again (builds continue
        // from their last commit).
        lakehouse_udfs::resume_background_jobs(&state.functions, &restorer.ctx.state());
        Ok(state)
    }

    /// A fresh session for `user`: shares catalog and functions with the
    /// template, owns its configuration.
    pub fn new_session(&self, user: &str, superuser: bool) -> Session {
        let ctx = SessionContext::new_with_state(self.template.state());
        let settings = Arc::new(Mutex::new(Settings::new(user, superuser)));
        // pg_catalog.pg_settings shows this session's parameters.
        let shown = settings.clone();
        ctx.state_ref()
            .write()
            .config_mut()
            .set_extension(Arc::new(SessionParameters(Arc::new(move || {
                shown.lock().map(|s| s.described()).unwrap_or_default()
            }))));
        // nextval records the values it hands out for currval and lastval.
        ctx.state_ref()
            .write()
            .config_mut()
            .options_mut()
            .extensions
            .insert(lakehouse_udfs::SessionSequenceValues::default());
        // Inserts and scans planned by this session find its block's writes.
        let writes = Arc::new(UncommittedWrites::new(self.catalog.store().clone(), user));
        ctx.state_ref()
            .write()
            .config_mut()
            .set_extension(writes.clone());
        let notices = SessionNotices::default();
        let handles = SessionHandles {
            user: user.to_string(),
            notices: notices.clone(),
            settings: Arc::new(SharedSettings(settings.clone())),
        };
        lakehouse_udfs::register_session_functions(&ctx, &self.functions, &handles);
        Session::new(
            user.to_string(),
            superuser,
            ctx,
            notices,
            settings,
            writes,
            self.queries.clone(),
        )
    }
}

/// Handler set for pgwire: one instance shared by all connections.
struct Handlers {
    handler: Arc<LakehouseHandler>,
    startup: Arc<ScramAuthenticator>,
    cancel: Arc<QueryCanceller>,
}

impl PgWireServerHandlers for Handlers {
    fn simple_query_handler(&self) -> Arc<impl pgwire::api::query::SimpleQueryHandler> {
        self.handler.clone()
    }

    fn extended_query_handler(&self) -> Arc<impl pgwire::api::query::ExtendedQueryHandler> {
        self.handler.clone()
    }

    fn startup_handler(&self) -> Arc<impl pgwire::api::auth::StartupHandler> {
        self.startup.clone()
    }

    fn copy_handler(&self) -> Arc<impl pgwire::api::copy::CopyHandler> {
        self.handler.clone()
    }

    fn cancel_handler(&self) -> Arc<impl pgwire::api::cancel::CancelHandler> {
        self.cancel.clone()
    }
}

/// Binds the listener; call [`serve`] to accept connections.
pub async fn bind(state: &ServerState) -> Result<TcpListener, StartError> {
    let addr = state.config.listen_addr();
    TcpListener::bind(addr)
        .await
        .map_err(|source| StartError::Listen {
            addr: addr.to_string(),
            source,
        })
}

/// Accepts connections until `shutdown` resolves.
pub async fn serve(
    state: Arc<ServerState>,
    listener: TcpListener,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let connections = Arc::new(ConnectionManager::new());
    let sockets = Arc::new(ClientSockets::default());
    let canceller = Arc::new(QueryCanceller::new(DefaultCancelHandler::new(
        connections.clone(),
    )));
    let handlers = Arc::new(Handlers {
        handler: Arc::new(LakehouseHandler::new(state.clone())),
        startup: Arc::new(ScramAuthenticator::new(
            state.clone(),
            connections,
            canceller.clone(),
            sockets.clone(),
        )),
        cancel: canceller,
    });
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((socket, peer)) => {
                    let _ = socket.set_nodelay(true);
                    let socket = match sockets.register(socket, peer) {
                        Ok(s) => s,
                        Err(e) => {
                            tracing::warn!("cannot set up the connection from {peer}: {e}");
                            continue;
                        }
                    };
                    let handlers = handlers.clone();
                    let sockets = sockets.clone();
                    tokio::spawn(async move {
                        // pgwire decodes the client's messages; a panic in
                        // there ends this connection only.
                        let connection = std::panic::AssertUnwindSafe(
                            pgwire::tokio::process_socket(socket, None, handlers),
                        );
                        match connection.catch_unwind().await {
                            Ok(Ok(())) => {}
                            Ok(Err(e)) => tracing::debug!("connection from {peer} ended: {e}"),
                            Err(_) => tracing::warn!(
                                "connection from {peer} closed: the protocol layer panicked on its input"
                            ),
                        }
                        sockets.forget(peer);
                    });
                }
                Err(e) => {
                    // Out of file descriptors and the like: back off, keep serving.
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            },
            _ = &mut shutdown => break,
        }
    }
}
