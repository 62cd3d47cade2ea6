//! The statement boundary for panics.
//!
//! No panic should be reachable from a client, but one that happens anyway
//! (a dependency's bug, an unchecked index on a path nobody foresaw) must
//! fail only its own statement: it is caught where the statement runs, logged
//! with the statement, counted, and reported to the client as `XX000`. The
//! session and every other connection go on.

use std::any::Any;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, Ordering};

use futures::{FutureExt, Stream, StreamExt, stream};
use pgwire::error::PgWireResult;

use crate::error::{ServerError, ServerResult};

/// Panics caught since the server started.
static CAUGHT: AtomicU64 = AtomicU64::new(0);

/// How many statements have panicked since the server started (each panic's
/// log line carries the count too).
#[cfg(test)]
fn caught_panics() -> u64 {
    CAUGHT.load(Ordering::Relaxed)
}

/// The text a panic was raised with.
fn panic_text(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic with a non-text payload".to_string()
    }
}

/// Logs and counts a caught panic; the error the client sees.
pub fn panic_error(payload: &(dyn Any + Send), statement: &str) -> ServerError {
    let count = CAUGHT.fetch_add(1, Ordering::Relaxed) + 1;
    let text = panic_text(payload);
    // Long statements (generated SQL, big literals) are cut for the log.
    let shown: String = statement.chars().take(2000).collect();
    tracing::error!(panics = count, statement = %shown, "statement panicked: {text}");
    ServerError::sql("XX000", format!("internal error: {text}"))
}

/// Runs `work`; a panic inside it becomes the statement's error.
pub async fn guard<T>(
    work: impl Future<Output = ServerResult<T>>,
    statement: &str,
) -> ServerResult<T> {
    match AssertUnwindSafe(work).catch_unwind().await {
        Ok(result) => result,
        Err(payload) => Err(panic_error(payload.as_ref(), statement)),
    }
}

/// Passes `items` on; a panic while producing one ends the stream with the
/// statement's error instead of unwinding into the connection.
pub fn guard_stream<T: Send + 'static>(
    items: impl Stream<Item = PgWireResult<T>> + Send + 'static,
    statement: String,
) -> impl Stream<Item = PgWireResult<T>> + Send + 'static {
    let items = items.boxed();
    stream::unfold(Some(items), move |state| {
        let statement = statement.clone();
        async move {
            let mut items = state?;
            match AssertUnwindSafe(items.next()).catch_unwind().await {
                Ok(Some(item)) => Some((item, Some(items))),
                Ok(None) => None,
                Err(payload) => Some((Err(panic_error(payload.as_ref(), &statement).into()), None)),
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panic_fails_only_its_statement() {
        let before = caught_panics();
        let result: ServerResult<()> = guard(async { panic!("boom") }, "SELECT boom()").await;
        let err = result.unwrap_err();
        assert_eq!(err.sqlstate(), "XX000");
        assert!(err.message().contains("boom"), "{}", err.message());
        assert!(caught_panics() > before);
    }

    #[tokio::test]
    async fn a_panicking_stream_ends_with_an_error() {
        let items = stream::iter(0..3).map(|i| {
            if i == 1 {
                panic!("row {i}");
            }
            Ok(i)
        });
        let out: Vec<PgWireResult<i32>> = guard_stream(items, "SELECT".into()).collect().await;
        assert_eq!(out.len(), 2);
        assert!(matches!(out[0], Ok(0)));
        assert!(out[1].is_err());
    }
}
