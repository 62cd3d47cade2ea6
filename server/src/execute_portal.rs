//! The extended protocol's Execute, with rows streamed to the client.
//!
//! pgwire 0.42's own Execute (`_on_execute`) fetches a portal's rows into a
//! `Vec::with_capacity(max_rows)` before sending any: pgjdbc's
//! `setMaxRows(Integer.MAX_VALUE)` asks for 2^31-1 rows and the process
//! aborts on the allocation, and an Execute without a limit buffers the whole
//! result. This is the same state machine with one change: rows go to the
//! client as they are produced, up to `max_rows`, and nothing is sized by
//! what the client asked for.

use std::fmt::Debug;
use std::sync::Arc;

use futures::future::{Either, select};
use futures::{Sink, SinkExt};
use pgwire::api::portal::PortalExecutionState;
use pgwire::api::query::{
    ExtendedQueryHandler, send_execution_response, send_partial_query_response,
};
use pgwire::api::results::{Response, Tag};
use pgwire::api::store::{Entry, PortalStore};
use pgwire::api::{
    ClientInfo, ClientPortalStore, ConnectionHandle, DEFAULT_NAME, PgWireConnectionState, copy,
};
use pgwire::error::{PgWireError, PgWireResult};
use pgwire::messages::PgWireBackendMessage;
use pgwire::messages::extendedquery::Execute;
use pgwire::messages::response::EmptyQueryResponse;

use crate::handler::{LakehouseHandler, PreparedStatement};

/// The row limit of an Execute message: zero or negative means no limit, as
/// in PostgreSQL.
fn row_limit(max_rows: i32) -> usize {
    usize::try_from(max_rows).unwrap_or(0)
}

impl LakehouseHandler {
    /// Runs the portal named by `message` (first Execute) or sends its next
    /// rows (later ones), as PostgreSQL does.
    pub(crate) async fn execute_portal<C>(
        &self,
        client: &mut C,
        message: Execute,
    ) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = PreparedStatement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        if !matches!(client.state(), PgWireConnectionState::ReadyForQuery) {
            return Err(PgWireError::NotReadyForQuery);
        }
        let mut transaction_status = client.transaction_status();
        client.set_state(PgWireConnectionState::QueryInProgress);
        let portal_name = message.name.as_deref().unwrap_or(DEFAULT_NAME);
        let max_rows = row_limit(message.max_rows);
        let portal = match client.portal_store().get_portal(portal_name) {
            Some(Entry::Value(portal)) => portal,
            Some(Entry::Empty) => {
                // An empty query string: valid for repeated Executes.
                client
                    .feed(PgWireBackendMessage::EmptyQueryResponse(
                        EmptyQueryResponse::new(),
                    ))
                    .await?;
                client.set_state(PgWireConnectionState::ReadyForQuery);
                return Ok(());
            }
            None => return Err(PgWireError::PortalNotFound(portal_name.to_owned())),
        };
        let execution = portal.state();
        let started = !matches!(*execution.lock().await, PortalExecutionState::Initial);
        let sends_rows = if started {
            true
        } else {
            let cancel = match client.session_extensions().get::<Arc<ConnectionHandle>>() {
                Some(handle) => Some(handle.start_query().await),
                None => None,
            };
            let response = match cancel {
                Some(cancel) => {
                    match select(self.do_query(client, &portal, max_rows), cancel).await {
                        Either::Left((result, _)) => result,
                        Either::Right(_) => Err(PgWireError::QueryCanceled),
                    }
                }
                None => self.do_query(client, &portal, max_rows).await,
            }?;
            match response {
                Response::Query(rows) => {
                    *execution.lock().await = PortalExecutionState::Suspended(rows);
                    true
                }
                Response::EmptyQuery => {
                    client
                        .feed(PgWireBackendMessage::EmptyQueryResponse(
                            EmptyQueryResponse::new(),
                        ))
                        .await?;
                    false
                }
                Response::Execution(tag) => {
                    send_execution_response(client, tag).await?;
                    false
                }
                Response::TransactionStart(tag) => {
                    send_execution_response(client, tag).await?;
                    transaction_status = transaction_status.to_in_transaction_state();
                    false
                }
                Response::TransactionEnd(tag) => {
                    send_execution_response(client, tag).await?;
                    transaction_status = transaction_status.to_idle_state();
                    client.portal_store().rm_portal(DEFAULT_NAME);
                    false
                }
                Response::Error(err) => {
                    client
                        .send(PgWireBackendMessage::ErrorResponse((*err).into()))
                        .await?;
                    transaction_status = transaction_status.to_error_state();
                    false
                }
                Response::CopyIn(copy) => {
                    client.set_state(PgWireConnectionState::CopyInProgress(true));
                    copy::send_copy_in_response(client, copy).await?;
                    false
                }
                Response::CopyOut(copy) => {
                    copy::send_copy_out_response(client, copy).await?;
                    false
                }
                Response::CopyBoth(copy) => {
                    client.set_state(PgWireConnectionState::CopyInProgress(true));
                    copy::send_copy_both_response(client, copy).await?;
                    false
                }
            }
        };
        if sends_rows {
            let mut state = execution.lock().await;
            match &mut *state {
                PortalExecutionState::Suspended(rows) => {
                    // Streams each row as it comes; PortalSuspended if rows remain.
                    if !send_partial_query_response(client, rows, max_rows).await? {
                        *state = PortalExecutionState::Finished;
                    }
                }
                PortalExecutionState::Finished => {
                    let tag = Tag::new("SELECT").with_rows(0);
                    client
                        .send(PgWireBackendMessage::CommandComplete(tag.into()))
                        .await?;
                }
                PortalExecutionState::Initial => return Err(PgWireError::PortalNotStarted),
            }
        }
        if !matches!(client.state(), PgWireConnectionState::CopyInProgress(_)) {
            client.set_state(PgWireConnectionState::ReadyForQuery);
            client.set_transaction_status(transaction_status);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::row_limit;

    #[test]
    fn a_row_limit_never_sizes_anything_by_itself() {
        assert_eq!(row_limit(0), 0);
        assert_eq!(row_limit(-1), 0);
        assert_eq!(row_limit(i32::MIN), 0);
        assert_eq!(row_limit(10), 10);
        assert_eq!(row_limit(i32::MAX), i32::MAX as usize);
    }
}
