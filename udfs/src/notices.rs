//! `SessionNotices`: NOTICE messages for one session, queued by functions and
//! background jobs, sent by the server before the session's next response.
//!
//! A job outlives the statement that started it, and the wire only lets the
//! server speak while it answers a query, so progress of a background build
//! reaches its session as NOTICEs attached to whatever that session runs next.

use std::sync::{Arc, Mutex};

/// Most queued messages kept; older progress notices are dropped first.
const CAPACITY: usize = 256;

#[derive(Debug, Clone, Default)]
pub struct SessionNotices(Arc<Mutex<Vec<String>>>);

impl SessionNotices {
    pub fn push(&self, message: impl Into<String>) {
        let mut queue = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if queue.len() >= CAPACITY {
            queue.remove(0);
        }
        queue.push(message.into());
    }

    /// Takes every queued message, oldest first.
    pub fn drain(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|p| p.into_inner()))
    }
}
