//! The lakehouse server: Postgres wire protocol, sessions, statement execution.
//!
//! `server/` knows the wire and sessions; storage is reached only through
//! `lakehouse_catalog`, functions through `lakehouse_udfs`.

mod auth;
mod cancel;
mod compat_rewrite;
mod copy_out;
mod cursors;
mod declared_constraints;
mod encode;
mod engine;
mod error;
mod fetch_syntax;
mod handler;
mod params;
mod path_lookup;
mod pg_text;
mod prepared;
mod server;
mod session;
mod settings;
mod statement;
mod transaction;

pub use error::{ServerError, ServerResult};
pub use server::{ServerState, StartError, bind, serve};
