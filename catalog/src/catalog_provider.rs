//! `LakehouseCatalog`: the one DataFusion catalog, named after the database.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use datafusion::catalog::{CatalogProvider, SchemaProvider};
use datafusion::error::{DataFusionError, Result};

use crate::system::SystemSchema;
use crate::vector_index::VectorIndexStore;
use crate::{
    CatalogError, DEFAULT_SCHEMA, DataDir, DeltaSchemaProvider, DeltaTableStore, JobStore,
    SYSTEM_SCHEMA, SequenceStore, ViewStore,
};

/// User schemas come from the data directory; `lakehouse` is the system
/// schema; schemas registered in memory (pg_catalog) sit beside them.
#[derive(Debug)]
pub struct LakehouseCatalog {
    store: DeltaTableStore,
    views: ViewStore,
    jobs: JobStore,
    vectors: VectorIndexStore,
    sequences: SequenceStore,
    system: Arc<SystemSchema>,
    in_memory: RwLock<BTreeMap<String, Arc<dyn SchemaProvider>>>,
}

impl LakehouseCatalog {
    /// Opens the data directory, creating it and the `public` schema if missing.
    /// `search_threads`: concurrent searches each vector index serves.
    pub fn open(
        data_dir: &std::path::Path,
        search_threads: usize,
    ) -> Result<LakehouseCatalog, CatalogError> {
        let dir = DataDir::open(data_dir)?;
        let store = DeltaTableStore::new(dir.clone());
        store.create_schema(DEFAULT_SCHEMA, true)?;
        let views = ViewStore::new(&dir);
        let jobs = JobStore::open(&dir)?;
        let vectors = VectorIndexStore::new(store.clone(), search_threads);
        let sequences = SequenceStore::open(&dir)?;
        Ok(LakehouseCatalog {
            system: Arc::new(SystemSchema::new(
                store.clone(),
                jobs.clone(),
                vectors.clone(),
            )),
            store,
            views,
            jobs,
            vectors,
            sequences,
            in_memory: RwLock::default(),
        })
    }

    pub fn sequences(&self) -> &SequenceStore {
        &self.sequences
    }

    pub fn jobs(&self) -> &JobStore {
        &self.jobs
    }

    pub fn vector_indexes(&self) -> &VectorIndexStore {
        &self.vectors
    }

    pub fn store(&self) -> &DeltaTableStore {
        &self.store
    }

    pub fn views(&self) -> &ViewStore {
        &self.views
    }
}

impl CatalogProvider for LakehouseCatalog {
    fn schema_names(&self) -> Vec<String> {
        let mut names = self.store.schema_names();
        names.push(SYSTEM_SCHEMA.to_string());
        if let Ok(m) = self.in_memory.read() {
            names.extend(m.keys().cloned());
        }
        names.sort();
        names.dedup();
        names
    }

    fn schema(&self, name: &str) -> Option<Arc<dyn SchemaProvider>> {
        if name == SYSTEM_SCHEMA {
            return Some(self.system.clone());
        }
        if let Some(s) = self.in_memory.read().ok()?.get(name) {
            return Some(s.clone());
        }
        if self.store.schema_exists(name) {
            return Some(Arc::new(DeltaSchemaProvider::new(
                name,
                self.store.clone(),
                self.views.clone(),
            )));
        }
        None
    }

    /// `pg_catalog` and friends are kept in memory; any other name is a
    /// `CREATE SCHEMA` and becomes a directory.
    fn register_schema(
        &self,
        name: &str,
        schema: Arc<dyn SchemaProvider>,
    ) -> Result<Option<Arc<dyn SchemaProvider>>> {
        if name == "pg_catalog" || name == "information_schema" {
            let mut m = self
                .in_memory
                .write()
                .map_err(|_| DataFusionError::Internal("catalog lock poisoned".into()))?;
            return Ok(m.insert(name.to_string(), schema));
        }
        if name == SYSTEM_SCHEMA {
            return Err(CatalogError::ReadOnly(name.to_string()).into());
        }
        self.store.create_schema(name, false)?;
        Ok(None)
    }

    fn deregister_schema(
        &self,
        name: &str,
        cascade: bool,
    ) -> Result<Option<Arc<dyn SchemaProvider>>> {
        if name == SYSTEM_SCHEMA || name == DEFAULT_SCHEMA || name == "pg_catalog" {
            return Err(CatalogError::ReadOnly(name.to_string()).into());
        }
        let Some(provider) = self.schema(name) else {
            return Ok(None);
        };
        for view in self.views.names(name) {
            if !cascade {
                return Err(CatalogError::SchemaNotEmpty(name.to_string()).into());
            }
            self.views.remove(name, &view)?;
        }
        self.store.drop_schema(name, cascade)?;
        Ok(Some(provider))
    }
}
