//! `ImportRoots`: the directories server-side file paths may resolve under.
//!
//! Paths are canonicalised (symlinks and `..` resolved) before the check, so
//! no spelling of a path escapes the roots.

use std::path::{Path, PathBuf};

use crate::UdfError;

#[derive(Debug, Clone)]
pub struct ImportRoots {
    roots: Vec<PathBuf>,
    /// The data directory and the one folder inside it imports may read:
    /// the default roots (the working directory) contain the data directory,
    /// whose role store and table files must never load into a table.
    private: Option<(PathBuf, PathBuf)>,
}

impl ImportRoots {
    /// Roots that do not exist (yet) are kept in their absolute form.
    pub fn new(roots: &[PathBuf]) -> Self {
        let roots = roots
            .iter()
            .map(|r| {
                r.canonicalize()
                    .unwrap_or_else(|_| std::path::absolute(r).unwrap_or_else(|_| r.to_path_buf()))
            })
            .collect();
        ImportRoots {
            roots,
            private: None,
        }
    }

    /// Refuses every path inside `data_dir` but those under `import_dir`.
    pub fn excluding_data_dir(mut self, data_dir: &Path, import_dir: &Path) -> Self {
        let absolute = |p: &Path| {
            p.canonicalize()
                .unwrap_or_else(|_| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf()))
        };
        self.private = Some((absolute(data_dir), absolute(import_dir)));
        self
    }

    /// Whether a canonical path lies in the data directory outside its import folder.
    fn is_private(&self, real: &Path) -> bool {
        self.private
            .as_ref()
            .is_some_and(|(data, import)| real.starts_with(data) && !real.starts_with(import))
    }

    pub fn roots(&self) -> &[PathBuf] {
        &self.roots
    }

    fn describe(&self) -> String {
        self.roots
            .iter()
            .map(|r| r.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Resolves `path` (relative paths against each root in order) to an
    /// existing file or directory under a root.
    pub fn resolve(&self, path: &str) -> Result<PathBuf, UdfError> {
        let given = Path::new(path);
        let candidates: Vec<PathBuf> = if given.is_absolute() {
            vec![given.to_path_buf()]
        } else {
            self.roots.iter().map(|r| r.join(given)).collect()
        };
        // A path that escapes every root by spelling (`..`) is refused whether
        // or not it exists, so probing for files outside says nothing.
        let mut outside = !candidates.iter().any(|c| {
            self.roots
                .iter()
                .any(|r| lexical_normalize(c).starts_with(r))
        });
        if outside {
            return Err(UdfError::PathOutsideRoots {
                path: path.to_string(),
                roots: self.describe(),
            });
        }
        for candidate in candidates {
            let Ok(real) = candidate.canonicalize() else {
                continue;
            };
            if self.is_private(&real) {
                return Err(UdfError::PathInDataDir {
                    path: path.to_string(),
                    data_dir: self
                        .private
                        .as_ref()
                        .map(|(d, _)| d.display().to_string())
                        .unwrap_or_default(),
                });
            }
            if self.roots.iter().any(|root| real.starts_with(root)) {
                return Ok(real);
            }
            outside = true;
        }
        if outside {
            return Err(UdfError::PathOutsideRoots {
                path: path.to_string(),
                roots: self.describe(),
            });
        }
        Err(UdfError::FileNotFound {
            path: path.to_string(),
            roots: self.describe(),
        })
    }
}

/// Resolves `.` and `..` without touching the file system.
fn lexical_normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_escapes() {
        let dir = std::env::temp_dir().join(format!("lh-roots-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("in")).unwrap();
        std::fs::write(dir.join("in/a.csv"), "x\n1\n").unwrap();
        std::fs::write(dir.join("secret.csv"), "x\n1\n").unwrap();
        let roots = ImportRoots::new(&[dir.join("in")]);
        assert!(roots.resolve("a.csv").is_ok());
        assert!(matches!(
            roots.resolve("../secret.csv"),
            Err(UdfError::PathOutsideRoots { .. })
        ));
        let abs = dir.join("secret.csv").display().to_string();
        assert!(matches!(
            roots.resolve(&abs),
            Err(UdfError::PathOutsideRoots { .. })
        ));
        assert!(matches!(
            roots.resolve("/etc/passwd"),
            Err(UdfError::PathOutsideRoots { .. })
        ));
        assert!(matches!(
            roots.resolve("missing.csv"),
            Err(UdfError::FileNotFound { .. })
        ));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_data_directory_is_private_but_its_import_folder() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        std::fs::create_dir_all(data.join("system")).unwrap();
        std::fs::create_dir_all(data.join("import")).unwrap();
        std::fs::write(data.join("system/roles.json"), "{}").unwrap();
        std::fs::write(data.join("import/a.csv"), "x\n1\n").unwrap();
        std::fs::write(dir.path().join("b.csv"), "x\n1\n").unwrap();
        let roots = ImportRoots::new(&[dir.path().to_path_buf(), data.join("import")])
            .excluding_data_dir(&data, &data.join("import"));
        assert!(matches!(
            roots.resolve("data/system/roles.json"),
            Err(UdfError::PathInDataDir { .. })
        ));
        assert!(matches!(
            roots.resolve("data/system/../system/roles.json"),
            Err(UdfError::PathInDataDir { .. })
        ));
        assert!(roots.resolve("data/import/a.csv").is_ok());
        assert!(roots.resolve("a.csv").is_ok());
        assert!(roots.resolve("b.csv").is_ok());
    }
}
