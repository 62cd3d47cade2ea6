//! `ViewStore`: view definitions persisted as SQL, restored at start.
//!
//! DataFusion plans a view once (`ViewTable`); we keep its `CREATE VIEW` text
//! on disk so it can be planned again after a restart.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use datafusion::catalog::TableProvider;
use datafusion::prelude::SessionContext;
use serde::{Deserialize, Serialize};

use crate::CatalogError;
use crate::data_dir::{DataDir, validate_name, write_atomically};

#[derive(Debug, Serialize, Deserialize)]
struct ViewFile {
    definition: String,
    created_ms: i64,
}

type ViewKey = (String, String);

/// Persisted views and the providers planned from them.
#[derive(Debug, Clone)]
pub struct ViewStore {
    dir: PathBuf,
    live: Arc<RwLock<BTreeMap<ViewKey, Arc<dyn TableProvider>>>>,
}

impl ViewStore {
    pub fn new(data_dir: &DataDir) -> Self {
        ViewStore {
            dir: data_dir.views(),
            live: Arc::default(),
        }
    }

    fn path(&self, schema: &str, name: &str) -> PathBuf {
        self.dir.join(schema).join(format!("{name}.json"))
    }

    pub fn names(&self, schema: &str) -> Vec<String> {
        self.live
            .read()
            .map(|m| {
                m.keys()
                    .filter(|(s, _)| s == schema)
                    .map(|(_, n)| n.clone())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Every view as (schema, name), in order (from memory, no I/O).
    pub fn all_names(&self) -> Vec<(String, String)> {
        self.live
            .read()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default()
    }

    pub fn get(&self, schema: &str, name: &str) -> Option<Arc<dyn TableProvider>> {
        self.live
            .read()
            .ok()?
            .get(&(schema.to_string(), name.to_string()))
            .cloned()
    }

    pub(crate) fn put(
        &self,
        schema: &str,
        name: &str,
        definition: &str,
        provider: Arc<dyn TableProvider>,
    ) -> Result<(), CatalogError> {
        validate_name(schema)?;
        validate_name(name)?;
        let path = self.path(schema, name);
        let created_ms = chrono::Utc::now().timestamp_millis();
        let file = ViewFile {
            definition: definition.to_string(),
            created_ms,
        };
        let bytes = serde_json::to_vec_pretty(&file).map_err(|e| CatalogError::Corrupt {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        write_atomically(&path, &bytes)?;
        if let Ok(mut m) = self.live.write() {
            m.insert((schema.to_string(), name.to_string()), provider);
        }
        Ok(())
    }

    pub(crate) fn remove(&self, schema: &str, name: &str) -> Result<(), CatalogError> {
        let path = self.path(schema, name);
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(CatalogError::io(&path, e)),
        }
        if let Ok(mut m) = self.live.write() {
            m.remove(&(schema.to_string(), name.to_string()));
        }
        Ok(())
    }

    /// Plans every stored view again, oldest first (a view may use an older
    /// one). A view that no longer plans is logged and skipped, not fatal.
    pub async fn restore(&self, ctx: &SessionContext) -> Result<usize, CatalogError> {
        let mut files: Vec<(i64, String, PathBuf)> = Vec::new();
        let schemas = std::fs::read_dir(&self.dir).map_err(|e| CatalogError::io(&self.dir, e))?;
        for schema in schemas.flatten() {
            let Ok(entries) = std::fs::read_dir(schema.path()) else {
                continue;
            };
            for entry in entries.flatten() {
                let path = entry.path();
                if path.extension().is_none_or(|e| e != "json") {
                    continue;
                }
                let text =
                    std::fs::read_to_string(&path).map_err(|e| CatalogError::io(&path, e))?;
                let file: ViewFile =
                    serde_json::from_str(&text).map_err(|e| CatalogError::Corrupt {
                        path: path.display().to_string(),
                        message: e.to_string(),
                    })?;
                files.push((file.created_ms, file.definition, path));
            }
        }
        files.sort();
        let mut restored = 0;
        for (_, definition, path) in files {
            match ctx.sql(&definition).await {
                Ok(_) => restored += 1,
                Err(e) => tracing::warn!("view {} not restored: {e}", path.display()),
            }
        }
        Ok(restored)
    }
}
