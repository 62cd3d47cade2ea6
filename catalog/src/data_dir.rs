//! Paths inside the data directory, and crash-safe small-file writes.

use std::io::Write;
use std::path::{Path, PathBuf};

use url::Url;

use crate::CatalogError;

/// The data directory and every path lakehouse derives from it.
#[derive(Debug, Clone)]
pub struct DataDir {
    root: PathBuf,
}

impl DataDir {
    /// Creates the directory tree if missing; `root` is made absolute.
    pub fn open(root: &Path) -> Result<DataDir, CatalogError> {
        std::fs::create_dir_all(root).map_err(|e| CatalogError::io(root, e))?;
        let root = root.canonicalize().map_err(|e| CatalogError::io(root, e))?;
        // Only the server's user may enter it, whatever modes files inside
        // were created with (older releases made them 0644).
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o700))
                .map_err(|e| CatalogError::io(&root, e))?;
        }
        let dir = DataDir { root };
        for sub in [dir.tables(), dir.views(), dir.system(), dir.import()] {
            std::fs::create_dir_all(&sub).map_err(|e| CatalogError::io(&sub, e))?;
        }
        Ok(dir)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn tables(&self) -> PathBuf {
        self.root.join("tables")
    }

    pub fn views(&self) -> PathBuf {
        self.root.join("views")
    }

    pub fn system(&self) -> PathBuf {
        self.root.join("system")
    }

    pub fn import(&self) -> PathBuf {
        self.root.join("import")
    }

    /// Where queries spill sorts, joins and aggregates that outgrow their
    /// memory share; emptied at every start (nothing in it outlives a query).
    pub fn spill(&self) -> PathBuf {
        self.root.join("tmp")
    }

    pub fn schema_dir(&self, schema: &str) -> PathBuf {
        self.tables().join(schema)
    }

    pub fn table_dir(&self, schema: &str, table: &str) -> PathBuf {
        self.schema_dir(schema).join(table)
    }

    /// `file://` URL of a table directory, with a trailing slash as Delta expects.
    pub fn table_url(&self, schema: &str, table: &str) -> Result<Url, CatalogError> {
        let dir = self.table_dir(schema, table);
        Url::from_directory_path(&dir).map_err(|_| CatalogError::Corrupt {
            path: dir.display().to_string(),
            message: "not an absolute path".into(),
        })
    }
}

/// Writes `bytes` to `path` atomically: temp file, fsync, rename, fsync dir.
/// A crash leaves either the old file or the new one, never a torn one.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), CatalogError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| CatalogError::io(dir, e))?;
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    result.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        CatalogError::io(path, e)
    })
}

/// Checks a schema or table name can be a single path component.
pub(crate) fn validate_name(name: &str) -> Result<(), CatalogError> {
    let bad = |why: &str| Err(CatalogError::InvalidName(name.to_string(), why.to_string()));
    if name.is_empty() {
        return bad("empty");
    }
    if name.len() > 63 {
        return bad("longer than 63 bytes");
    }
    if name.starts_with('.') || name.starts_with('_') && name.starts_with("_delta") {
        return bad("reserved prefix");
    }
    if name.contains(['/', '\\', '\0']) {
        return bad("contains a path separator or NUL");
    }
    Ok(())
}
