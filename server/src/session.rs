//! One client session: its DataFusion context, settings, COPY-in buffer,
//! cursors, savepoints, uncommitted writes and prepared-statement names.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::config::ConfigOptions;
use datafusion::prelude::SessionContext;
use lakehouse_catalog::{TableIdent, UncommittedWrites};
use lakehouse_ingest::pg_copy::CopyInFormat;
use lakehouse_udfs::SessionNotices;

use crate::cancel::CancelSignal;
use crate::client_socket::ClientSocket;
use crate::cursors::Cursors;
use crate::prepared::PreparedNames;
use crate::query_runtime::QueryRuntime;
use crate::settings::Settings;
use crate::transaction::Savepoints;

/// A `COPY ... FROM STDIN` in progress.
#[derive(Debug)]
pub struct CopyIn {
    pub target: TableIdent,
    /// The table's full schema.
    pub table_schema: SchemaRef,
    /// The columns the client sends, in its order.
    pub copy_schema: SchemaRef,
    /// The defaults of the table's columns the client does not send.
    pub defaults: std::collections::HashMap<String, datafusion::logical_expr::Expr>,
    pub format: CopyInFormat,
    pub data: Vec<u8>,
}

/// Per-connection state, created once the client has authenticated.
pub struct Session {
    pub user: String,
    pub superuser: bool,
    /// Built from the server's template: shared catalog and functions,
    /// session-local configuration.
    pub ctx: SessionContext,
    pub settings: Arc<Mutex<Settings>>,
    pub copy_in: tokio::sync::Mutex<Option<CopyIn>>,
    /// Raised by cancel requests for this session's backend key.
    pub cancel: Arc<CancelSignal>,
    /// Open SQL cursors (DECLARE / FETCH / CLOSE).
    pub cursors: Cursors,
    /// Savepoints of the open transaction block.
    pub savepoints: Savepoints,
    /// Rows the open transaction block wrote, committed at COMMIT (also a
    /// DataFusion config extension of `ctx`, where scans and inserts find it).
    pub writes: Arc<UncommittedWrites>,
    /// Names of prepared statements (Parse and SQL PREPARE).
    pub prepared: PreparedNames,
    /// The next statement is the COMMIT of an open block whose wire status
    /// was set idle ahead of it (see `handler::idle_before_commit`).
    committing: AtomicBool,
    /// NOTICEs raised by functions and this session's background jobs, sent
    /// before the next response.
    pub notices: SessionNotices,
    /// Where this session's queries execute (apart from the wire).
    pub queries: QueryRuntime,
    /// The engine options the session started with, which `RESET` restores.
    pub engine_defaults: ConfigOptions,
    /// A second handle on the client's socket (see [`ClientSocket`]).
    pub socket: OnceLock<Arc<ClientSocket>>,
    /// Counts messages that start work; the idle-in-transaction timer
    /// fires only if it has not moved.
    activity: AtomicU64,
}

impl Session {
    pub fn new(
        user: String,
        superuser: bool,
        ctx: SessionContext,
        notices: SessionNotices,
        settings: Arc<Mutex<Settings>>,
        writes: Arc<UncommittedWrites>,
        queries: QueryRuntime,
    ) -> Session {
        let engine_defaults = ctx.state().config_options().as_ref().clone();
        Session {
            engine_defaults,
            socket: OnceLock::new(),
            activity: AtomicU64::new(0),
            settings,
            user,
            superuser,
            ctx,
            copy_in: tokio::sync::Mutex::new(None),
            cancel: Arc::default(),
            cursors: Cursors::default(),
            savepoints: Savepoints::default(),
            writes,
            prepared: PreparedNames::default(),
            committing: AtomicBool::new(false),
            notices,
            queries,
        }
    }

    /// The next statement ends an open block with COMMIT.
    pub fn set_committing(&self) {
        self.committing.store(true, Ordering::SeqCst);
    }

    /// Whether this statement is that COMMIT (asked once per statement).
    pub fn take_committing(&self) -> bool {
        self.committing.swap(false, Ordering::SeqCst)
    }

    /// The client sent something that starts work.
    pub fn touch(&self) {
        self.activity.fetch_add(1, Ordering::SeqCst);
    }

    /// Called when a statement leaves the session inside a transaction
    /// block: ends the connection (FATAL 25P03, as PostgreSQL) if the client
    /// sends nothing within `idle_in_transaction_session_timeout`. The
    /// connection's end rolls the block back.
    pub fn watch_idle_in_transaction(self: &Arc<Self>) {
        let Some(timeout) =
            self.with_settings(|s| s.timeout("idle_in_transaction_session_timeout"))
        else {
            return;
        };
        let Some(socket) = self.socket.get().cloned() else {
            return;
        };
        let seen = self.activity.load(Ordering::SeqCst);
        let session = Arc::downgrade(self);
        tokio::spawn(async move {
            tokio::time::sleep(timeout).await;
            let idle = session
                .upgrade()
                .is_some_and(|s| s.activity.load(Ordering::SeqCst) == seen);
            if idle {
                socket.terminate(
                    "25P03",
                    "terminating connection due to idle-in-transaction timeout",
                );
            }
        });
    }

    /// The `statement_timeout` in force, if any.
    pub fn statement_timeout(&self) -> Option<std::time::Duration> {
        self.with_settings(|s| s.timeout("statement_timeout"))
    }

    /// The `lock_timeout` in force, if any.
    pub fn lock_timeout(&self) -> Option<std::time::Duration> {
        self.with_settings(|s| s.timeout("lock_timeout"))
    }

    /// Runs `f` on the settings; a poisoned lock (a panic elsewhere) still
    /// yields the data, since settings have no invariants to break.
    pub fn with_settings<T>(&self, f: impl FnOnce(&mut Settings) -> T) -> T {
        let mut guard = self.settings.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut guard)
    }
}
