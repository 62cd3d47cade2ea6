//! Lineage: where a commit's rows came from, stored in the Delta commit itself.
//!
//! Each ingest commit carries `lakehouse.*` keys in its commitInfo, so the log
//! is the single record of provenance: dedup by content hash and the
//! `lineage` column of `lakehouse.datasets` both read it back from history.

use serde_json::{Value, json};

/// Commit-info key prefix for lineage fields.
const PREFIX: &str = "lakehouse.";

/// Provenance of one commit.
#[derive(Debug, Clone, PartialEq)]
pub struct Lineage {
    /// The operation, e.g. `ingest_csv`, `copy`, `create_table_as`.
    pub operation: String,
    /// Source path or DSN (passwords already redacted by the caller).
    pub source: Option<String>,
    /// Lower-case hex SHA-256 of the source bytes, when it is a file.
    pub sha256: Option<String>,
    /// The role that ran the statement.
    pub user: String,
}

impl Lineage {
    pub(crate) fn to_commit_metadata(&self) -> Vec<(String, Value)> {
        let mut entries = vec![
            (format!("{PREFIX}operation"), json!(self.operation)),
            (format!("{PREFIX}user"), json!(self.user)),
        ];
        if let Some(s) = &self.source {
            entries.push((format!("{PREFIX}source"), json!(s)));
        }
        if let Some(h) = &self.sha256 {
            entries.push((format!("{PREFIX}sha256"), json!(h)));
        }
        entries
    }

    /// Reads lineage back from a commit's extra fields; `None` if it has none.
    pub(crate) fn from_commit_info(
        info: &std::collections::HashMap<String, Value>,
    ) -> Option<Lineage> {
        let get = |k: &str| {
            info.get(&format!("{PREFIX}{k}"))
                .and_then(Value::as_str)
                .map(str::to_string)
        };
        Some(Lineage {
            operation: get("operation")?,
            source: get("source"),
            sha256: get("sha256"),
            user: get("user").unwrap_or_default(),
        })
    }
}
