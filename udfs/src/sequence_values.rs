//! The values `nextval` handed out in one session, for `currval(sequence)`
//! and `lastval()` (PostgreSQL keeps them per session, not per sequence).
//!
//! They ride in the session's DataFusion options (a config extension), so
//! the `nextval` of a column default, which is planned once per table and
//! shared by every session, still records into the session whose INSERT
//! runs it.

use std::any::Any;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use datafusion::common::config::{ConfigEntry, ConfigExtension, ExtensionOptions};
use datafusion::common::{DataFusionError, Result};
use datafusion::config::ConfigOptions;
use lakehouse_catalog::TableIdent;

/// One session's last values, by sequence, and the sequence of the last call.
#[derive(Debug, Clone, Default)]
pub struct SessionSequenceValues(Arc<Mutex<Values>>);

#[derive(Debug, Default)]
struct Values {
    by_sequence: HashMap<TableIdent, i64>,
    last: Option<TableIdent>,
}

impl SessionSequenceValues {
    /// The session's record, from the options a function runs with.
    pub(crate) fn of(options: &ConfigOptions) -> Option<&SessionSequenceValues> {
        options.extensions.get::<SessionSequenceValues>()
    }

    pub(crate) fn record(&self, sequence: &TableIdent, value: i64) {
        let mut values = self.0.lock().unwrap_or_else(|p| p.into_inner());
        values.by_sequence.insert(sequence.clone(), value);
        values.last = Some(sequence.clone());
    }

    pub(crate) fn current(&self, sequence: &TableIdent) -> Option<i64> {
        let values = self.0.lock().unwrap_or_else(|p| p.into_inner());
        values.by_sequence.get(sequence).copied()
    }

    pub(crate) fn last(&self) -> Option<i64> {
        let values = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let last = values.last.as_ref()?;
        values.by_sequence.get(last).copied()
    }
}

impl ExtensionOptions for SessionSequenceValues {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }

    fn cloned(&self) -> Box<dyn ExtensionOptions> {
        // The same record: a session's options are cloned per statement.
        Box::new(self.clone())
    }

    fn set(&mut self, key: &str, _value: &str) -> Result<()> {
        Err(DataFusionError::Configuration(format!(
            "{}.{key} cannot be set",
            Self::PREFIX
        )))
    }

    fn entries(&self) -> Vec<ConfigEntry> {
        Vec::new()
    }
}

impl ConfigExtension for SessionSequenceValues {
    const PREFIX: &'static str = "lakehouse_sequence_values";
}
