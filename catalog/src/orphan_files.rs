//! Removes data files no commit refers to.
//!
//! A write puts its Parquet files in the table directory first and commits
//! them to the Delta log second. When the commit never happens (it failed,
//! or the process died in between), the files stay: invisible to readers,
//! but taking disk space forever. Appends remove their own files when their
//! commit fails; this sweep, run at start, removes what a crash or another
//! write path left. A file is removed only if no commit in the table's log
//! (current or historical, so time travel keeps its files) names it and it
//! is older than [`MIN_AGE`] (no write still in flight owns it).

use std::collections::HashSet;
use std::path::Path;
use std::time::{Duration, SystemTime};

use crate::data_dir::DataDir;

/// Files younger than this are never removed.
const MIN_AGE: Duration = Duration::from_secs(600);

/// Sweeps every table of `dir`; returns how many files were removed.
pub fn sweep(dir: &DataDir) -> usize {
    let mut removed = 0;
    for schema in subdirectories(&dir.tables()) {
        for table in subdirectories(&schema) {
            removed += sweep_table(&table);
        }
    }
    removed
}

/// Sweeps one table directory. A log whose first commits were cleaned up
/// (only a checkpoint knows their files) is left alone.
fn sweep_table(table: &Path) -> usize {
    let log = table.join("_delta_log");
    if !log.join(format!("{:020}.json", 0)).exists() {
        return 0;
    }
    let Some(referenced) = referenced_files(&log) else {
        return 0;
    };
    let now = SystemTime::now();
    let mut removed = 0;
    for file in data_files(table) {
        let Ok(relative) = file.strip_prefix(table) else {
            continue;
        };
        let relative = relative.to_string_lossy().replace('\\', "/");
        let old_enough = std::fs::metadata(&file)
            .and_then(|m| m.modified())
            .is_ok_and(|t| now.duration_since(t).unwrap_or_default() >= MIN_AGE);
        if old_enough && !referenced.contains(&relative) && std::fs::remove_file(&file).is_ok() {
            tracing::info!("removed uncommitted data file {}", file.display());
            removed += 1;
        }
    }
    removed
}

/// Every path an `add` or `remove` action of the log names (decoded), or
/// `None` if a commit cannot be read (then nothing is removed).
fn referenced_files(log: &Path) -> Option<HashSet<String>> {
    let mut paths = HashSet::new();
    for entry in std::fs::read_dir(log).ok()?.flatten() {
        let name = entry.file_name();
        if !name.to_string_lossy().ends_with(".json") {
            continue;
        }
        let text = std::fs::read_to_string(entry.path()).ok()?;
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let action: serde_json::Value = serde_json::from_str(line).ok()?;
            for kind in ["add", "remove"] {
                if let Some(path) = action
                    .get(kind)
                    .and_then(|a| a.get("path"))
                    .and_then(|p| p.as_str())
                {
                    let decoded = percent_decode(path);
                    paths.insert(decoded);
                    paths.insert(path.to_string());
                }
            }
        }
    }
    Some(paths)
}

/// Parquet files under a table directory, outside its log.
fn data_files(table: &Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    let mut pending = vec![table.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().to_string();
            match entry.file_type() {
                Ok(t) if t.is_dir() && name != "_delta_log" && !name.starts_with('.') => {
                    pending.push(path)
                }
                Ok(t) if t.is_file() && name.ends_with(".parquet") => files.push(path),
                _ => {}
            }
        }
    }
    files
}

fn subdirectories(dir: &Path) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
                .map(|e| e.path())
                .collect()
        })
        .unwrap_or_default()
}

/// `%XX` escapes of a log path decoded (partition values are escaped).
fn percent_decode(path: &str) -> String {
    let bytes = path.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(hex) = path.get(i + 1..i + 3)
            && let Ok(b) = u8::from_str_radix(hex, 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_old_unreferenced_data_files_go() {
        let temp = tempfile::tempdir().unwrap();
        let dir = DataDir::open(temp.path()).unwrap();
        let table = dir.table_dir("public", "t");
        std::fs::create_dir_all(table.join("_delta_log")).unwrap();
        std::fs::write(
            table.join("_delta_log/00000000000000000000.json"),
            "{\"add\":{\"path\":\"kept.parquet\"}}\n{\"remove\":{\"path\":\"old%20one.parquet\"}}\n",
        )
        .unwrap();
        for name in [
            "kept.parquet",
            "old one.parquet",
            "orphan.parquet",
            "young.parquet",
        ] {
            std::fs::write(table.join(name), b"x").unwrap();
        }
        let old = SystemTime::now() - Duration::from_secs(3600);
        for name in ["kept.parquet", "old one.parquet", "orphan.parquet"] {
            let f = std::fs::File::options()
                .write(true)
                .open(table.join(name))
                .unwrap();
            f.set_modified(old).unwrap();
        }
        assert_eq!(sweep(&dir), 1);
        assert!(!table.join("orphan.parquet").exists());
        assert!(table.join("kept.parquet").exists());
        assert!(table.join("old one.parquet").exists());
        assert!(table.join("young.parquet").exists());
    }
}
