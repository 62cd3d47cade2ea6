//! `AppendOnlyTable`: a system journal kept as a Delta table under
//! `<data_dir>/system/delta/<name>` (outside `tables/`, so no user statement can
//! write or drop it). Each append is one Delta commit: a crash leaves whole rows
//! or none. SQL reads it through the read-only `lakehouse` schema.

use std::path::PathBuf;
use std::sync::Arc;

use datafusion::arrow::compute::concat_batches;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::prelude::SessionConfig;
use deltalake::DeltaTableError;
use tokio::sync::{Mutex, MutexGuard};
use url::Url;

use crate::data_dir::DataDir;
use crate::table_store::{WriteMode, configure_write};
use crate::{CatalogError, Lineage};

#[derive(Debug, Clone)]
pub struct AppendOnlyTable {
    name: String,
    dir: PathBuf,
    schema: SchemaRef,
    /// Held by writers that derive a row from the rows before it (next id).
    writer: Arc<Mutex<()>>,
}

impl AppendOnlyTable {
    pub fn new(data_dir: &DataDir, name: &str, schema: SchemaRef) -> Self {
        AppendOnlyTable {
            name: name.to_string(),
            dir: data_dir.system().join("delta").join(name),
            schema,
            writer: Arc::default(),
        }
    }

    pub fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    /// Serializes writers: hold it across "read the rows, append one".
    pub async fn lock(&self) -> MutexGuard<'_, ()> {
        self.writer.lock().await
    }

    fn url(&self) -> Result<Url, CatalogError> {
        Url::from_directory_path(&self.dir).map_err(|_| CatalogError::Corrupt {
            path: self.dir.display().to_string(),
            message: "not an absolute path".into(),
        })
    }

    fn exists(&self) -> bool {
        std::fs::read_dir(self.dir.join("_delta_log"))
            .is_ok_and(|mut entries| entries.any(|e| e.is_ok()))
    }

    /// Appends `batch` as one commit, creating the table on first use.
    pub async fn append(&self, batch: RecordBatch, user: &str) -> Result<(), CatalogError> {
        let url = self.url()?;
        let (table, mode) = if self.exists() {
            (deltalake::open_table(url).await?, WriteMode::Append)
        } else {
            std::fs::create_dir_all(&self.dir).map_err(|e| CatalogError::io(&self.dir, e))?;
            let table = deltalake::DeltaTableBuilder::from_url(url)?.build()?;
            (table, WriteMode::Create)
        };
        let lineage = Lineage {
            operation: format!("append {}", self.name),
            source: None,
            sha256: None,
            user: user.to_string(),
        };
        configure_write(table.write(vec![batch]), mode, Some(&lineage), user).await?;
        Ok(())
    }

    /// Every row, in one batch (the journal's own schema; empty if none yet).
    pub async fn read(&self) -> Result<RecordBatch, CatalogError> {
        if !self.exists() {
            return Ok(RecordBatch::new_empty(self.schema.clone()));
        }
        let table = match deltalake::open_table(self.url()?).await {
            Ok(t) => t,
            Err(DeltaTableError::NotATable(_)) => {
                return Ok(RecordBatch::new_empty(self.schema.clone()));
            }
            Err(e) => return Err(e.into()),
        };
        let ctx = crate::new_session_context(SessionConfig::new());
        let df = ctx.read_table(table.table_provider().await?)?;
        let batches = df.collect().await?;
        // Delta reads strings back as views; give callers the declared types.
        let mut cast = Vec::with_capacity(batches.len());
        for batch in batches {
            let columns =
                self.schema
                    .fields()
                    .iter()
                    .map(|f| {
                        let column = batch.column_by_name(f.name()).ok_or_else(|| {
                            CatalogError::Corrupt {
                                path: self.dir.display().to_string(),
                                message: format!("column {} is missing", f.name()),
                            }
                        })?;
                        Ok(datafusion::arrow::compute::cast(column, f.data_type())?)
                    })
                    .collect::<Result<Vec<_>, CatalogError>>()?;
            cast.push(RecordBatch::try_new(self.schema.clone(), columns)?);
        }
        Ok(concat_batches(&self.schema, &cast)?)
    }
}
