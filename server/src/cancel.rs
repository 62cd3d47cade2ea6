//! Query cancellation beyond what pgwire covers.
//!
//! pgwire cancels a statement while it is being planned and until its first
//! batch; rows streamed after that are sent by pgwire itself, so each session
//! also has a [`CancelSignal`] that its result streams watch.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};

use async_trait::async_trait;
use futures::future::{BoxFuture, Either};
use futures::{Stream, StreamExt, stream};
use pgwire::api::cancel::{CancelHandler, DefaultCancelHandler};
use pgwire::error::{PgWireError, PgWireResult};
use pgwire::messages::cancel::CancelRequest;
use tokio::sync::Notify;

/// Raised on a session's streams when a cancel request arrives for it.
#[derive(Debug, Default)]
pub struct CancelSignal {
    generation: AtomicU64,
    notify: Notify,
}

impl CancelSignal {
    /// The current generation: a stream started now is cancelled by any
    /// request that arrives later, never by an earlier one.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    fn cancel(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.notify.notify_waiters();
    }

    /// Resolves once a cancel request arrives after `generation`.
    pub fn cancelled_after(self: Arc<Self>, generation: u64) -> BoxFuture<'static, ()> {
        Box::pin(async move {
            loop {
                let notified = self.notify.notified();
                futures::pin_mut!(notified);
                notified.as_mut().enable();
                if self.generation() > generation {
                    return;
                }
                notified.await;
            }
        })
    }
}

/// Ends `items` with a 57014 error as soon as `cancelled` resolves.
pub fn cancellable<T: Send + 'static>(
    items: impl Stream<Item = PgWireResult<T>> + Send + 'static,
    cancelled: BoxFuture<'static, ()>,
) -> impl Stream<Item = PgWireResult<T>> + Send + 'static {
    let items = items.boxed();
    stream::unfold(Some((items, cancelled)), |state| async move {
        let (items, cancelled) = state?;
        match futures::future::select(items.into_future(), cancelled).await {
            Either::Left(((Some(item), items), cancelled)) => {
                Some((item, Some((items, cancelled))))
            }
            Either::Left(((None, _), _)) => None,
            Either::Right(_) => Some((Err(PgWireError::QueryCanceled), None)),
        }
    })
}

type BackendKey = (i32, Vec<u8>);

/// Cancel signals by backend key, and the cancel handler that fires them.
#[derive(Debug)]
pub struct QueryCanceller {
    pgwire: DefaultCancelHandler,
    signals: Mutex<HashMap<BackendKey, Weak<CancelSignal>>>,
}

impl QueryCanceller {
    pub fn new(pgwire: DefaultCancelHandler) -> Self {
        QueryCanceller {
            pgwire,
            signals: Mutex::default(),
        }
    }

    /// Registers a session's signal under its backend key; entries of closed
    /// sessions are dropped on the way.
    pub fn register(&self, pid: i32, secret: Vec<u8>, signal: &Arc<CancelSignal>) {
        let mut signals = self.signals.lock().unwrap_or_else(|p| p.into_inner());
        signals.retain(|_, s| s.strong_count() > 0);
        signals.insert((pid, secret), Arc::downgrade(signal));
    }
}

#[async_trait]
impl CancelHandler for QueryCanceller {
    async fn on_cancel_request(&self, request: CancelRequest) {
        let key = (request.pid, request.secret_key.to_bytes().to_vec());
        let signal = self
            .signals
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
            .and_then(Weak::upgrade);
        if let Some(signal) = signal {
            signal.cancel();
        }
        self.pgwire.on_cancel_request(request).await;
    }
}
