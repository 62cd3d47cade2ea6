//! The lakehouse server: Postgres wire protocol, sessions, statement execution.
//!
//! `server/` knows the wire and sessions; storage is reached only through
//! `lakehouse_catalog`, functions through `lakehouse_udfs`.

mod auth;
mod cancel;
mod client_socket;
mod column_defaults;
mod compat_rewrite;
mod copy_out;
mod cursors;
mod declared_constraints;
mod encode;
mod engine;
mod engine_settings;
mod error;
mod execute_portal;
mod expression_depth;
mod fetch_syntax;
mod handler;
mod login_guard;
mod panic_boundary;
mod params;
mod path_lookup;
mod pg_text;
mod prepared;
mod query_runtime;
mod sequence_ddl;
mod server;
mod session;
mod settings;
mod statement;
mod transaction;
mod unimplemented_clauses;

pub use error::{ServerError, ServerResult};
pub use server::{ServerState, StartError, bind, serve};
