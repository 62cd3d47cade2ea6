//! `SessionNotices`: NOTICE and WARNING messages for one session, queued by
//! functions, background jobs and the session itself, sent by the server
//! before the session's next response.
//!
//! A job outlives the statement that started it, and the wire only lets the
//! server speak while it answers a query, so progress of a background build
//! reaches its session as NOTICEs attached to whatever that session runs next.

use std::sync::{Arc, Mutex};

/// Most queued messages kept; older progress notices are dropped first.
const CAPACITY: usize = 256;

/// One queued message: its severity (`NOTICE`, `WARNING`), SQLSTATE and text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub severity: &'static str,
    pub sqlstate: &'static str,
    pub message: String,
}

#[derive(Debug, Clone, Default)]
pub struct SessionNotices(Arc<Mutex<Vec<Notice>>>);

impl SessionNotices {
    /// Queues a NOTICE (SQLSTATE 00000).
    pub fn push(&self, message: impl Into<String>) {
        self.queue(Notice {
            severity: "NOTICE",
            sqlstate: "00000",
            message: message.into(),
        });
    }

    /// Queues a WARNING with its SQLSTATE (`BEGIN` inside a block: 25001).
    pub fn warn(&self, sqlstate: &'static str, message: impl Into<String>) {
        self.queue(Notice {
            severity: "WARNING",
            sqlstate,
            message: message.into(),
        });
    }

    fn queue(&self, notice: Notice) {
        let mut queue = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if queue.len() >= CAPACITY {
            queue.remove(0);
        }
        queue.push(notice);
    }

    /// Takes every queued message, oldest first.
    pub fn drain(&self) -> Vec<Notice> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|p| p.into_inner()))
    }
}
