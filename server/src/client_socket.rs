//! A second handle on each client's TCP socket.
//!
//! pgwire's connection loop owns the socket and reads it only between
//! statements. Two things need it while that loop waits: noticing that the
//! client went away while its query runs (so the query stops instead of
//! burning CPU for nobody), and ending a connection left idle inside a
//! transaction block past `idle_in_transaction_session_timeout`. The handle
//! is a duplicate of the socket's descriptor: it only peeks (never consumes
//! a byte pgwire should read) and, to end a connection, writes one FATAL
//! message and shuts the socket down, which pgwire's loop then sees as the
//! end of the connection.

use std::collections::HashMap;
use std::io::Write;
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::{Arc, Mutex};

/// The duplicate handle of one client's socket (non-blocking).
#[derive(Debug)]
pub struct ClientSocket {
    stream: TcpStream,
}

impl ClientSocket {
    /// Whether the client has closed its end: a peek that reads end of file.
    /// Bytes waiting (a pipelined message) or nothing yet both mean "still
    /// there".
    pub fn peer_closed(&self) -> bool {
        let mut byte = [0u8; 1];
        matches!(self.stream.peek(&mut byte), Ok(0))
    }

    /// Ends the connection as PostgreSQL ends one it terminates: a FATAL
    /// ErrorResponse, then the socket closed in both directions.
    pub fn terminate(&self, sqlstate: &str, message: &str) {
        let mut fields = Vec::new();
        for (tag, value) in [
            (b'S', "FATAL"),
            (b'V', "FATAL"),
            (b'C', sqlstate),
            (b'M', message),
        ] {
            fields.push(tag);
            fields.extend_from_slice(value.as_bytes());
            fields.push(0);
        }
        fields.push(0);
        let mut frame = vec![b'E'];
        frame.extend_from_slice(&((fields.len() + 4) as u32).to_be_bytes());
        frame.extend_from_slice(&fields);
        // Best effort: a full send buffer only loses the message, not the close.
        let _ = (&self.stream).write_all(&frame);
        let _ = self.stream.shutdown(Shutdown::Both);
    }
}

/// Duplicate handles of connections between accept and authentication, by
/// peer address; the session takes its own once the client has logged in.
#[derive(Debug, Default)]
pub struct ClientSockets {
    pending: Mutex<HashMap<SocketAddr, Arc<ClientSocket>>>,
}

impl ClientSockets {
    /// Splits a second handle off an accepted socket, to be claimed by the
    /// session of `peer`.
    pub fn register(
        &self,
        socket: tokio::net::TcpStream,
        peer: SocketAddr,
    ) -> std::io::Result<tokio::net::TcpStream> {
        let std = socket.into_std()?;
        let duplicate = std.try_clone()?;
        self.lock()
            .insert(peer, Arc::new(ClientSocket { stream: duplicate }));
        tokio::net::TcpStream::from_std(std)
    }

    /// The handle of `peer`'s connection, for its session.
    pub fn claim(&self, peer: SocketAddr) -> Option<Arc<ClientSocket>> {
        self.lock().remove(&peer)
    }

    /// Forgets `peer` once its connection ended (claimed or not).
    pub fn forget(&self, peer: SocketAddr) {
        self.lock().remove(&peer);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<SocketAddr, Arc<ClientSocket>>> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }
}
