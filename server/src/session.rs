//! One client session: its DataFusion context, settings, COPY-in buffer,
//! cursors, savepoints, uncommitted writes and prepared-statement names.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::prelude::SessionContext;
use lakehouse_catalog::{TableIdent, UncommittedWrites};
use lakehouse_ingest::pg_copy::CopyInFormat;
use lakehouse_udfs::SessionNotices;

use crate::cancel::CancelSignal;
use crate::cursors::Cursors;
use crate::prepared::PreparedNames;
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
}

impl Session {
    pub fn new(
        user: String,
        superuser: bool,
        ctx: SessionContext,
        notices: SessionNotices,
        settings: Arc<Mutex<Settings>>,
        writes: Arc<UncommittedWrites>,
    ) -> Session {
        Session {
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

    /// Runs `f` on the settings; a poisoned lock (a panic elsewhere) still
    /// yields the data, since settings have no invariants to break.
    pub fn with_settings<T>(&self, f: impl FnOnce(&mut Settings) -> T) -> T {
        let mut guard = self.settings.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut guard)
    }
}
