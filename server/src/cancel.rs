//! Query cancellation beyond what pgwire covers.
//!
//! pgwire cancels a statement while it is being planned and until its first
//! batch; rows streamed after that are sent by pgwire itself, so each session
//! also has a [`CancelSignal`] that its result streams watch.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};

use async_trait::async_trait;
use std::time::Duration;

use futures::future::{BoxFuture, Either, FutureExt, Shared};
use futures::{Stream, StreamExt, stream};
use pgwire::api::cancel::{CancelHandler, DefaultCancelHandler};
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use pgwire::messages::cancel::CancelRequest;
use tokio::sync::Notify;

use crate::client_socket::ClientSocket;

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

/// Why a running statement must stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interrupt {
    /// A cancel request for the session arrived.
    UserRequest,
    /// The session's `statement_timeout` passed.
    StatementTimeout,
}

impl Interrupt {
    /// PostgreSQL's wording (both are 57014).
    pub fn message(self) -> &'static str {
        match self {
            Interrupt::UserRequest => "canceling statement due to user request",
            Interrupt::StatementTimeout => "canceling statement due to statement timeout",
        }
    }

    /// The error that ends the statement.
    pub fn error(self) -> PgWireError {
        PgWireError::UserError(Box::new(ErrorInfo::new(
            "ERROR".to_string(),
            "57014".to_string(),
            self.message().to_string(),
        )))
    }
}

/// Resolves when the running statement must stop; cloned into every place
/// that waits on the statement (its first batch, its row stream).
pub type Interrupted = Shared<BoxFuture<'static, Interrupt>>;

/// How often a running statement checks that its client is still there.
const CLIENT_CHECK_INTERVAL: Duration = Duration::from_millis(500);

/// A statement's interrupt: a cancel request that arrives after now,
/// `timeout` (the session's `statement_timeout`) passing, or the client
/// closing its connection (seen through `socket`).
pub fn interrupted(
    signal: &Arc<CancelSignal>,
    timeout: Option<Duration>,
    socket: Option<Arc<ClientSocket>>,
) -> Interrupted {
    let cancelled = signal.clone().cancelled_after(signal.generation());
    let interrupt: BoxFuture<'static, Interrupt> = Box::pin(async move {
        let expired = async {
            match timeout {
                Some(t) => tokio::time::sleep(t).await,
                None => std::future::pending().await,
            }
        };
        let gone = async {
            let Some(socket) = socket else {
                return std::future::pending().await;
            };
            loop {
                tokio::time::sleep(CLIENT_CHECK_INTERVAL).await;
                if socket.peer_closed() {
                    return;
                }
            }
        };
        tokio::select! {
            _ = cancelled => Interrupt::UserRequest,
            _ = expired => Interrupt::StatementTimeout,
            // Nobody reads the answer: stop, as a cancel does.
            _ = gone => Interrupt::UserRequest,
        }
    });
    interrupt.shared()
}

/// Ends `items` with the interrupt's 57014 error as soon as it resolves.
pub fn cancellable<T: Send + 'static>(
    items: impl Stream<Item = PgWireResult<T>> + Send + 'static,
    interrupted: Interrupted,
) -> impl Stream<Item = PgWireResult<T>> + Send + 'static {
    let items = items.boxed();
    stream::unfold(Some((items, interrupted)), |state| async move {
        let (items, interrupted) = state?;
        // The interrupt is polled first: rows that are always ready (a
        // buffered channel) must not starve it.
        match futures::future::select(interrupted, items.into_future()).await {
            Either::Right(((Some(item), items), interrupted)) => {
                Some((item, Some((items, interrupted))))
            }
            Either::Right(((None, _), _)) => None,
            Either::Left((interrupt, _)) => Some((Err(interrupt.error()), None)),
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
