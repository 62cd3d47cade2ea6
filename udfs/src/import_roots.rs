//! `ImportRoots`: the directories server-side file paths may resolve under.
//!
//! Paths are canonicalised (symlinks and `..` resolved) before the check, so
//! no spelling of a path escapes the roots.

use std::path::{Path, PathBuf};

use crate::UdfError;

#[derive(Debug, Clone)]
pub struct ImportRoots {
    roots: Vec<PathBuf>,
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
        ImportRoots { roots }
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
        Err(UdfError::FileNotFound(path.to_string()))
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
            Err(UdfError::FileNotFound(_))
        ));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
