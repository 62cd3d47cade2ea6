//! Sequences: the counters behind `CREATE SEQUENCE`, `serial` columns and
//! identity columns, one small file each under
//! `<data_dir>/system/sequences/<schema>/<name>.json`.
//!
//! A value `nextval` handed out is never handed out again, crash included.
//! Like PostgreSQL, a sequence logs ahead: before it returns a value past
//! the one its file records, it records (and fsyncs) a value [`LOG_AHEAD`]
//! steps further. A crash skips the values recorded but not handed out
//! (PostgreSQL does the same: sequences have gaps); it never repeats one.
//! Sequences are not transactional, in PostgreSQL either: a rolled-back
//! INSERT still used its value.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use serde::{Deserialize, Serialize};

use crate::data_dir::{DataDir, validate_name, write_atomically};
use crate::{CatalogError, TableIdent};

/// Steps a sequence records past the last value handed out.
const LOG_AHEAD: i64 = 32;

/// What `CREATE SEQUENCE` (or a serial / identity column) declared.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SequenceDefinition {
    /// `smallint`, `integer` or `bigint`: bounds the default limits.
    pub data_type: String,
    pub increment: i64,
    pub min_value: i64,
    pub max_value: i64,
    pub start: i64,
    pub cache: i64,
    pub cycle: bool,
    /// The column a serial or identity column's sequence belongs to: it is
    /// dropped with the table.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owned_by: Option<OwnedBy>,
}

/// `OWNED BY table.column`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OwnedBy {
    pub schema: String,
    pub table: String,
    pub column: String,
}

impl SequenceDefinition {
    /// PostgreSQL's defaults for a sequence of `data_type` counting by
    /// `increment`: ascending from 1 to the type's maximum, or descending
    /// from -1 to its minimum.
    pub fn with_defaults(data_type: &str, increment: i64) -> Result<Self, String> {
        let (type_min, type_max) = match data_type {
            "smallint" => (i16::MIN as i64, i16::MAX as i64),
            "integer" => (i32::MIN as i64, i32::MAX as i64),
            "bigint" => (i64::MIN, i64::MAX),
            other => {
                return Err(format!(
                    "sequence type must be smallint, integer, or bigint, not {other}"
                ));
            }
        };
        if increment == 0 {
            return Err("INCREMENT must not be zero".into());
        }
        let (min_value, max_value) = if increment > 0 {
            (1, type_max)
        } else {
            (type_min, -1)
        };
        Ok(SequenceDefinition {
            data_type: data_type.to_string(),
            increment,
            min_value,
            max_value,
            start: if increment > 0 { min_value } else { max_value },
            cache: 1,
            cycle: false,
            owned_by: None,
        })
    }

    /// The checks PostgreSQL makes of `CREATE SEQUENCE`'s options.
    pub fn validate(&self) -> Result<(), String> {
        let (type_min, type_max) = match self.data_type.as_str() {
            "smallint" => (i16::MIN as i64, i16::MAX as i64),
            "integer" => (i32::MIN as i64, i32::MAX as i64),
            _ => (i64::MIN, i64::MAX),
        };
        if self.increment == 0 {
            return Err("INCREMENT must not be zero".into());
        }
        if self.min_value < type_min || self.max_value > type_max {
            return Err(format!(
                "MINVALUE ({}) and MAXVALUE ({}) must be within the range of type {}",
                self.min_value, self.max_value, self.data_type
            ));
        }
        if self.min_value >= self.max_value {
            return Err(format!(
                "MINVALUE ({}) must be less than MAXVALUE ({})",
                self.min_value, self.max_value
            ));
        }
        if self.start < self.min_value {
            return Err(format!(
                "START value ({}) cannot be less than MINVALUE ({})",
                self.start, self.min_value
            ));
        }
        if self.start > self.max_value {
            return Err(format!(
                "START value ({}) cannot be greater than MAXVALUE ({})",
                self.start, self.max_value
            ));
        }
        if self.cache < 1 {
            return Err(format!("CACHE ({}) must be greater than zero", self.cache));
        }
        Ok(())
    }
}

/// A sequence's file: its definition and the last value recorded.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct SequenceFile {
    definition: SequenceDefinition,
    /// Past every value handed out (or equal to the last one).
    last_value: i64,
    /// Whether `last_value` itself was handed out (false right after
    /// creation or `setval(..., false)`: the next call returns it).
    is_called: bool,
}

/// One sequence in memory.
#[derive(Debug)]
struct Sequence {
    definition: SequenceDefinition,
    last_value: i64,
    is_called: bool,
    /// The `last_value` its file records.
    logged: i64,
}

/// A sequence as `pg_sequences` / `information_schema.sequences` show it.
#[derive(Debug, Clone)]
pub struct SequenceInfo {
    pub ident: TableIdent,
    pub definition: SequenceDefinition,
    /// The last value handed out, if any.
    pub last_value: Option<i64>,
}

/// Every sequence of the data directory.
#[derive(Debug, Clone)]
pub struct SequenceStore {
    dir: PathBuf,
    sequences: Arc<Mutex<BTreeMap<TableIdent, Sequence>>>,
}

impl SequenceStore {
    /// Loads every sequence file.
    pub fn open(data_dir: &DataDir) -> Result<SequenceStore, CatalogError> {
        let dir = data_dir.system().join("sequences");
        let mut sequences = BTreeMap::new();
        if dir.exists() {
            for schema in read_dir(&dir)? {
                let Some(schema_name) = file_name(&schema) else {
                    continue;
                };
                for file in read_dir(&schema)? {
                    let Some(name) =
                        file_name(&file).and_then(|n| n.strip_suffix(".json").map(str::to_string))
                    else {
                        continue;
                    };
                    let bytes = std::fs::read(&file).map_err(|e| CatalogError::io(&file, e))?;
                    let parsed: SequenceFile =
                        serde_json::from_slice(&bytes).map_err(|e| CatalogError::Corrupt {
                            path: file.display().to_string(),
                            message: e.to_string(),
                        })?;
                    sequences.insert(
                        TableIdent::new(&schema_name, &name),
                        Sequence {
                            definition: parsed.definition,
                            last_value: parsed.last_value,
                            is_called: parsed.is_called,
                            logged: parsed.last_value,
                        },
                    );
                }
            }
        }
        Ok(SequenceStore {
            dir,
            sequences: Arc::new(Mutex::new(sequences)),
        })
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<TableIdent, Sequence>> {
        // A panic while holding it cannot leave a half-written sequence: the
        // map is changed only after its file was written.
        self.sequences
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn path(&self, ident: &TableIdent) -> PathBuf {
        self.dir
            .join(&ident.schema)
            .join(format!("{}.json", ident.table))
    }

    fn write(
        &self,
        ident: &TableIdent,
        sequence: &Sequence,
        logged: i64,
    ) -> Result<(), CatalogError> {
        let file = SequenceFile {
            definition: sequence.definition.clone(),
            last_value: logged,
            is_called: sequence.is_called || logged != sequence.last_value,
        };
        let bytes = serde_json::to_vec_pretty(&file).map_err(|e| CatalogError::Corrupt {
            path: self.path(ident).display().to_string(),
            message: e.to_string(),
        })?;
        write_atomically(&self.path(ident), &bytes)
    }

    pub fn exists(&self, ident: &TableIdent) -> bool {
        self.lock().contains_key(ident)
    }

    /// Creates a sequence; `false` if it existed and `if_not_exists` was set.
    pub fn create(
        &self,
        ident: &TableIdent,
        definition: SequenceDefinition,
        if_not_exists: bool,
    ) -> Result<bool, CatalogError> {
        validate_name(&ident.table)?;
        definition
            .validate()
            .map_err(|message| CatalogError::InvalidSequence { message })?;
        let mut sequences = self.lock();
        if sequences.contains_key(ident) {
            return if if_not_exists {
                Ok(false)
            } else {
                Err(CatalogError::TableExists(ident.table.clone()))
            };
        }
        let sequence = Sequence {
            last_value: definition.start,
            is_called: false,
            logged: definition.start,
            definition,
        };
        self.write(ident, &sequence, sequence.last_value)?;
        sequences.insert(ident.clone(), sequence);
        Ok(true)
    }

    /// Drops a sequence; `false` if it did not exist.
    pub fn drop_sequence(&self, ident: &TableIdent) -> Result<bool, CatalogError> {
        let mut sequences = self.lock();
        if sequences.remove(ident).is_none() {
            return Ok(false);
        }
        let path = self.path(ident);
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(true),
            Err(e) => Err(CatalogError::io(&path, e)),
        }
    }

    /// The sequences owned by a column of `table` (serial and identity
    /// columns): they go with the table.
    pub fn owned_by_table(&self, table: &TableIdent) -> Vec<TableIdent> {
        self.lock()
            .iter()
            .filter(|(_, s)| {
                s.definition
                    .owned_by
                    .as_ref()
                    .is_some_and(|o| o.schema == table.schema && o.table == table.table)
            })
            .map(|(ident, _)| ident.clone())
            .collect()
    }

    /// The column a sequence belongs to (`OWNED BY`), if any.
    pub fn owner(&self, ident: &TableIdent) -> Option<OwnedBy> {
        self.lock().get(ident)?.definition.owned_by.clone()
    }

    /// The sequence owned by `table.column`, if any (`pg_get_serial_sequence`).
    pub fn owned_by_column(&self, table: &TableIdent, column: &str) -> Option<TableIdent> {
        self.lock()
            .iter()
            .find(|(_, s)| {
                s.definition.owned_by.as_ref().is_some_and(|o| {
                    o.schema == table.schema && o.table == table.table && o.column == column
                })
            })
            .map(|(ident, _)| ident.clone())
    }

    /// Every sequence, for the catalog views.
    pub fn all(&self) -> Vec<SequenceInfo> {
        self.lock()
            .iter()
            .map(|(ident, s)| SequenceInfo {
                ident: ident.clone(),
                definition: s.definition.clone(),
                last_value: s.is_called.then_some(s.last_value),
            })
            .collect()
    }

    /// `nextval`: advances the sequence and returns its new value.
    pub fn next_value(&self, ident: &TableIdent) -> Result<i64, CatalogError> {
        let mut sequences = self.lock();
        let sequence = sequences
            .get_mut(ident)
            .ok_or_else(|| CatalogError::TableNotFound(ident.to_string()))?;
        let def = &sequence.definition;
        let next = if !sequence.is_called {
            sequence.last_value
        } else {
            match sequence.last_value.checked_add(def.increment) {
                Some(v) if v >= def.min_value && v <= def.max_value => v,
                _ if def.cycle => {
                    if def.increment > 0 {
                        def.min_value
                    } else {
                        def.max_value
                    }
                }
                _ => {
                    let (which, limit) = if def.increment > 0 {
                        ("maximum", def.max_value)
                    } else {
                        ("minimum", def.min_value)
                    };
                    return Err(CatalogError::SequenceLimit(format!(
                        "nextval: reached {which} value of sequence \"{}\" ({limit})",
                        ident.table
                    )));
                }
            }
        };
        let beyond_log = if def.increment > 0 {
            next > sequence.logged || next < sequence.last_value
        } else {
            next < sequence.logged || next > sequence.last_value
        };
        if beyond_log || !sequence.is_called && next == sequence.logged {
            let ahead = def.increment.saturating_mul(LOG_AHEAD);
            let logged = next
                .saturating_add(ahead)
                .clamp(def.min_value, def.max_value);
            let staged = Sequence {
                definition: def.clone(),
                last_value: next,
                is_called: true,
                logged,
            };
            self.write(ident, &staged, logged)?;
            sequence.logged = logged;
        }
        sequence.last_value = next;
        sequence.is_called = true;
        Ok(next)
    }

    /// `setval`: the next `nextval` returns `value + increment` (or `value`
    /// itself when `is_called` is false).
    pub fn set_value(
        &self,
        ident: &TableIdent,
        value: i64,
        is_called: bool,
    ) -> Result<i64, CatalogError> {
        let mut sequences = self.lock();
        let sequence = sequences
            .get_mut(ident)
            .ok_or_else(|| CatalogError::TableNotFound(ident.to_string()))?;
        let def = &sequence.definition;
        if value < def.min_value || value > def.max_value {
            return Err(CatalogError::SequenceValue(format!(
                "setval: value {value} is out of bounds for sequence \"{}\" ({}..{})",
                ident.table, def.min_value, def.max_value
            )));
        }
        let staged = Sequence {
            definition: def.clone(),
            last_value: value,
            is_called,
            logged: value,
        };
        self.write(ident, &staged, value)?;
        *sequence = staged;
        Ok(value)
    }
}

fn read_dir(dir: &Path) -> Result<Vec<PathBuf>, CatalogError> {
    let entries = std::fs::read_dir(dir).map_err(|e| CatalogError::io(dir, e))?;
    Ok(entries.filter_map(|e| e.ok().map(|e| e.path())).collect())
}

fn file_name(path: &Path) -> Option<String> {
    path.file_name()?.to_str().map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, DataDir, SequenceStore) {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = DataDir::open(tmp.path()).expect("data dir");
        let store = SequenceStore::open(&dir).expect("open");
        (tmp, dir, store)
    }

    #[test]
    fn values_are_never_repeated_across_a_restart() {
        let (_tmp, dir, store) = store();
        let ident = TableIdent::new("public", "s");
        let def = SequenceDefinition::with_defaults("bigint", 1).expect("defaults");
        assert!(store.create(&ident, def, false).expect("create"));
        let first: Vec<i64> = (0..40)
            .map(|_| store.next_value(&ident).expect("next"))
            .collect();
        assert_eq!(first, (1..=40).collect::<Vec<_>>());
        // A restart (crash) reads the recorded value: it skips, never repeats.
        let reopened = SequenceStore::open(&dir).expect("reopen");
        let next = reopened.next_value(&ident).expect("next");
        assert!(next > 40, "{next}");
        assert_eq!(reopened.set_value(&ident, 100, true).expect("setval"), 100);
        assert_eq!(reopened.next_value(&ident).expect("next"), 101);
        let again = SequenceStore::open(&dir).expect("reopen");
        assert!(again.next_value(&ident).expect("next") > 101);
        // A fresh sequence starts at its start even after a restart.
        let fresh = TableIdent::new("public", "fresh");
        let mut def = SequenceDefinition::with_defaults("integer", 10).expect("defaults");
        def.start = 5;
        again.create(&fresh, def, false).expect("create");
        let again = SequenceStore::open(&dir).expect("reopen");
        assert_eq!(again.next_value(&fresh).expect("next"), 5);
        assert_eq!(again.next_value(&fresh).expect("next"), 15);
    }

    #[test]
    fn limits_cycle_and_bad_definitions() {
        let (_tmp, _dir, store) = store();
        let ident = TableIdent::new("public", "small");
        let mut def = SequenceDefinition::with_defaults("smallint", 1).expect("defaults");
        def.max_value = 3;
        store.create(&ident, def.clone(), false).expect("create");
        for expected in 1..=3 {
            assert_eq!(store.next_value(&ident).expect("next"), expected);
        }
        let err = store.next_value(&ident).expect_err("past max");
        assert!(err.to_string().contains("reached maximum value"), "{err}");
        let cycling = TableIdent::new("public", "cycling");
        def.cycle = true;
        store.create(&cycling, def.clone(), false).expect("create");
        let values: Vec<i64> = (0..5)
            .map(|_| store.next_value(&cycling).expect("next"))
            .collect();
        assert_eq!(values, vec![1, 2, 3, 1, 2]);
        let down = TableIdent::new("public", "down");
        store
            .create(
                &down,
                SequenceDefinition::with_defaults("integer", -2).expect("defaults"),
                false,
            )
            .expect("create");
        assert_eq!(store.next_value(&down).expect("next"), -1);
        assert_eq!(store.next_value(&down).expect("next"), -3);
        assert!(store.create(&down, def.clone(), false).is_err());
        assert!(
            !store
                .create(&down, def.clone(), true)
                .expect("if not exists")
        );
        def.start = 10;
        assert!(
            store
                .create(&TableIdent::new("public", "bad"), def, false)
                .is_err()
        );
        assert!(SequenceDefinition::with_defaults("text", 1).is_err());
        assert!(store.drop_sequence(&down).expect("drop"));
        assert!(!store.drop_sequence(&down).expect("drop again"));
        assert!(store.set_value(&ident, 4, true).is_err());
    }
}
