//! Readers that turn files into Arrow record batches.
//!
//! This crate knows file formats and nothing about tables or SQL: it validates,
//! infers a schema and yields batches. Where the batches go (a Delta table, a
//! COPY stream) is the caller's business.

pub mod chunker;
pub mod csv;
mod error;
pub mod pg_array;
pub mod pg_copy;
pub mod pg_copy_binary;

pub use error::IngestError;
