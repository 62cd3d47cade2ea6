//! CSV: options, a strict RFC 4180 tokenizer, type inference and batch building.
//!
//! Reading is two passes over the file. [`profile`] validates every record,
//! hashes the bytes and infers the schema; only a file that passed is then read
//! again by [`CsvBatches`], so a malformed file is rejected before anything is
//! written anywhere.

mod batches;
mod infer;
mod options;
mod tokenizer;

pub use batches::CsvBatches;
pub use infer::{CsvProfile, profile};
pub use options::{CsvOptions, WriteMode};
pub use tokenizer::{Record, Tokenizer};
