//! Session settings (GUCs): what `SET`, `SHOW` and `RESET` read and write.
//!
//! Each session owns its copy, so a `SET` never leaks into another session.
//! Names are case-insensitive, as in Postgres.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use lakehouse_udfs::{SessionSettings, SettingError};

use lakehouse_udfs::{PG_VERSION, PG_VERSION_NUM};

use crate::error::{ServerError, ServerResult};

/// Parameters clients read or set, with their defaults.
fn defaults(user: &str) -> Vec<(&'static str, String)> {
    vec![
        ("application_name", String::new()),
        ("block_size", "8192".into()),
        ("bytea_output", "hex".into()),
        ("client_encoding", "UTF8".into()),
        ("client_min_messages", "notice".into()),
        ("datestyle", "ISO, MDY".into()),
        ("default_transaction_isolation", "read committed".into()),
        ("default_transaction_read_only", "off".into()),
        ("extra_float_digits", "1".into()),
        ("idle_in_transaction_session_timeout", "0".into()),
        ("integer_datetimes", "on".into()),
        ("intervalstyle", "postgres".into()),
        ("is_superuser", "off".into()),
        // asyncpg turns JIT off around its type introspection (and back).
        ("jit", "on".into()),
        ("lc_collate", "C.UTF-8".into()),
        ("lc_ctype", "C.UTF-8".into()),
        ("lc_messages", "C.UTF-8".into()),
        ("lc_monetary", "C.UTF-8".into()),
        ("lc_numeric", "C.UTF-8".into()),
        ("lc_time", "C.UTF-8".into()),
        ("lock_timeout", "0".into()),
        ("max_function_args", "100".into()),
        ("max_identifier_length", "63".into()),
        ("max_index_keys", "32".into()),
        ("row_security", "on".into()),
        ("search_path", "\"$user\", public".into()),
        ("server_encoding", "UTF8".into()),
        ("server_version", PG_VERSION.into()),
        ("server_version_num", PG_VERSION_NUM.into()),
        ("session_authorization", user.to_string()),
        ("standard_conforming_strings", "on".into()),
        ("statement_timeout", "0".into()),
        ("timezone", "UTC".into()),
        ("transaction_isolation", "read committed".into()),
        ("transaction_read_only", "off".into()),
        ("work_mem", "4MB".into()),
    ]
}

/// Parameters PostgreSQL reports to the client (ParameterStatus) at startup and
/// whenever they change: drivers track them (pgjdbc checks DateStyle and
/// client_encoding, psycopg and asyncpg read TimeZone and application_name).
const REPORTED: [&str; 11] = [
    "application_name",
    "client_encoding",
    "datestyle",
    "default_transaction_read_only",
    "integer_datetimes",
    "intervalstyle",
    "is_superuser",
    "server_encoding",
    "server_version",
    "session_authorization",
    "standard_conforming_strings",
];

/// PostgreSQL's spelling of the few mixed-case parameter names.
const MIXED_CASE_NAMES: [&str; 3] = ["DateStyle", "IntervalStyle", "TimeZone"];

/// A parameter's name as PostgreSQL spells it (SHOW's column name).
pub fn display_name(name: &str) -> String {
    MIXED_CASE_NAMES
        .iter()
        .find(|n| n.eq_ignore_ascii_case(name))
        .map_or_else(|| name.to_ascii_lowercase(), |n| n.to_string())
}

/// Read-only parameters: `SET` on them is an error, as in Postgres.
const READ_ONLY: [&str; 10] = [
    "block_size",
    "max_function_args",
    "max_index_keys",
    "server_version",
    "server_version_num",
    "server_encoding",
    "integer_datetimes",
    "max_identifier_length",
    "lc_collate",
    "lc_ctype",
];

/// Parameters that are durations (milliseconds without a unit).
const TIMEOUTS: [&str; 3] = [
    "statement_timeout",
    "lock_timeout",
    "idle_in_transaction_session_timeout",
];

/// A duration setting as PostgreSQL reads it: a number of milliseconds, or
/// a number with a unit (`us`, `ms`, `s`, `min`, `h`, `d`). `None` when it
/// does not parse; zero means "no limit".
pub fn parse_milliseconds(value: &str) -> Option<u64> {
    let text = value.trim().trim_matches('\'').trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().ok()?;
    let scale = match unit.trim() {
        "" | "ms" => 1.0,
        "us" => 0.001,
        "s" => 1_000.0,
        "min" => 60_000.0,
        "h" => 3_600_000.0,
        "d" => 86_400_000.0,
        _ => return None,
    };
    let ms = number * scale;
    (ms.is_finite() && ms >= 0.0 && ms <= i32::MAX as f64).then(|| ms.round() as u64)
}

/// One session's parameters.
#[derive(Debug, Clone)]
pub struct Settings {
    defaults: BTreeMap<String, String>,
    values: BTreeMap<String, String>,
    /// `SET LOCAL` values: they end with the transaction block (or, from
    /// `set_config(..., true)` outside a block, with the statement).
    local: BTreeMap<String, String>,
    /// The session values when the open block began: a rolled-back block's
    /// `SET`s are undone, as in PostgreSQL.
    at_begin: Option<BTreeMap<String, String>>,
}

/// The values a `ROLLBACK TO SAVEPOINT` returns to (kept by `Savepoints`).
#[derive(Debug, Clone, Default)]
pub struct SettingsSnapshot {
    values: BTreeMap<String, String>,
    local: BTreeMap<String, String>,
}

impl Settings {
    pub fn new(user: &str, superuser: bool) -> Self {
        let mut defaults: BTreeMap<String, String> = defaults(user)
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
        defaults.insert(
            "is_superuser".into(),
            if superuser { "on" } else { "off" }.into(),
        );
        Settings {
            defaults,
            values: BTreeMap::new(),
            local: BTreeMap::new(),
            at_begin: None,
        }
    }

    pub fn get(&self, name: &str) -> ServerResult<String> {
        let key = name.to_ascii_lowercase();
        self.local
            .get(&key)
            .or_else(|| self.values.get(&key))
            .or_else(|| self.defaults.get(&key))
            .cloned()
            .ok_or(ServerError::UnknownSetting(name.to_string()))
    }

    /// The reported parameters (and `TimeZone`) with their current values, by
    /// PostgreSQL's spelling of their names.
    pub fn reported(&self) -> Vec<(String, String)> {
        REPORTED
            .iter()
            .chain(&["timezone"])
            .filter_map(|name| Some((display_name(name), self.get(name).ok()?)))
            .collect()
    }

    /// Every parameter with its current value, sorted by name (for `SHOW ALL`).
    pub fn all(&self) -> Vec<(String, String)> {
        let mut merged = self.defaults.clone();
        merged.extend(self.values.clone());
        merged.extend(self.local.clone());
        merged.into_iter().collect()
    }

    /// Every parameter with its current value and whether it is read-only,
    /// for `pg_settings`.
    pub fn described(&self) -> Vec<(String, String, bool)> {
        self.all()
            .into_iter()
            .map(|(name, value)| {
                let read_only = READ_ONLY.contains(&name.as_str());
                (name, value, read_only)
            })
            .collect()
    }

    /// Sets a known parameter, or any dotted (extension-style) one like Postgres.
    pub fn set(&mut self, name: &str, value: &str) -> ServerResult<()> {
        let key = name.to_ascii_lowercase();
        if READ_ONLY.contains(&key.as_str()) {
            return Err(ServerError::sql(
                "55P02",
                format!("parameter \"{name}\" cannot be changed"),
            ));
        }
        if !self.defaults.contains_key(&key) && !key.contains('.') {
            return Err(ServerError::UnknownSetting(name.to_string()));
        }
        if TIMEOUTS.contains(&key.as_str()) && parse_milliseconds(value).is_none() {
            return Err(ServerError::sql(
                "22023",
                format!("invalid value for parameter \"{name}\": \"{value}\""),
            ));
        }
        // A session-level SET replaces a SET LOCAL of the same block.
        self.local.remove(&key);
        self.values.insert(key, value.to_string());
        Ok(())
    }

    /// A parameter's value when the session began (what RESET returns to).
    pub fn default_value(&self, name: &str) -> ServerResult<String> {
        self.defaults
            .get(&name.to_ascii_lowercase())
            .cloned()
            .ok_or_else(|| ServerError::UnknownSetting(name.to_string()))
    }

    /// `SET LOCAL`: until the end of the transaction block.
    pub fn set_local(&mut self, name: &str, value: &str) -> ServerResult<()> {
        let before = self.values.clone();
        self.set(name, value)?;
        let key = name.to_ascii_lowercase();
        if let Some(value) = self.values.remove(&key) {
            self.local.insert(key, value);
        }
        self.values = before;
        Ok(())
    }

    /// BEGIN: remember the session values a ROLLBACK returns to.
    pub fn begin(&mut self) {
        self.at_begin = Some(self.values.clone());
    }

    /// COMMIT (`committed`) or ROLLBACK: SET LOCAL values end; a rolled-back
    /// block's SETs are undone.
    pub fn end_transaction(&mut self, committed: bool) {
        if let Some(at_begin) = self.at_begin.take()
            && !committed
        {
            self.values = at_begin;
        }
        self.local.clear();
    }

    /// The values now, for a savepoint to return to.
    pub fn snapshot(&self) -> SettingsSnapshot {
        SettingsSnapshot {
            values: self.values.clone(),
            local: self.local.clone(),
        }
    }

    /// `ROLLBACK TO SAVEPOINT`: the values it was defined with.
    pub fn restore(&mut self, snapshot: SettingsSnapshot) {
        self.values = snapshot.values;
        self.local = snapshot.local;
    }

    /// A statement outside a block is its own transaction: local values set
    /// by an earlier one (`set_config(..., true)`) are gone.
    pub fn end_implicit_transaction(&mut self) {
        self.local.clear();
    }

    pub fn reset(&mut self, name: &str) -> ServerResult<()> {
        let key = name.to_ascii_lowercase();
        if !self.defaults.contains_key(&key) && !self.values.contains_key(&key) {
            return Err(ServerError::UnknownSetting(name.to_string()));
        }
        self.values.remove(&key);
        self.local.remove(&key);
        Ok(())
    }

    /// Startup-packet parameters (`application_name`, `TimeZone`, `options=-c
    /// name=value ...`) become this session's defaults, so `RESET` and `DISCARD
    /// ALL` return to them, as in PostgreSQL. The server speaks UTF8 only, so
    /// `client_encoding` is not taken from the client.
    pub fn apply_startup<'a>(
        &mut self,
        params: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> ServerResult<()> {
        for (name, value) in params {
            match name.to_ascii_lowercase().as_str() {
                "user" | "database" | "replication" | "client_encoding" => {}
                "options" => {
                    for (name, value) in command_line_options(value)? {
                        self.set_default(&name, &value)?;
                    }
                }
                _ => self.set_default(name, value)?,
            }
        }
        Ok(())
    }

    fn set_default(&mut self, name: &str, value: &str) -> ServerResult<()> {
        self.set(name, value)?;
        let key = name.to_ascii_lowercase();
        if let Some(value) = self.values.remove(&key) {
            self.defaults.insert(key, value);
        }
        Ok(())
    }

    /// A duration parameter (`statement_timeout`, ...) in force now, or
    /// `None` when it is zero (no limit).
    pub fn timeout(&self, name: &str) -> Option<std::time::Duration> {
        let value = self.get(name).ok()?;
        parse_milliseconds(&value)
            .filter(|ms| *ms > 0)
            .map(std::time::Duration::from_millis)
    }

    pub fn reset_all(&mut self) {
        self.values.clear();
        self.local.clear();
    }
}

/// The `-c name=value` / `--name=value` switches of the startup `options`
/// parameter; a backslash keeps the next character (a space in a value).
fn command_line_options(options: &str) -> ServerResult<Vec<(String, String)>> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut chars = options.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => word.extend(chars.next()),
            c if c.is_whitespace() => {
                if !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
            }
            c => word.push(c),
        }
    }
    if !word.is_empty() {
        words.push(word);
    }
    let bad = |w: &str| {
        ServerError::sql(
            "42601",
            format!("invalid command-line argument in startup options: {w}"),
        )
    };
    let mut out = Vec::new();
    let mut words = words.into_iter();
    while let Some(w) = words.next() {
        let assignment = if w == "-c" {
            words.next().ok_or_else(|| bad(&w))?
        } else if let Some(rest) = w.strip_prefix("-c").or_else(|| w.strip_prefix("--")) {
            rest.to_string()
        } else {
            return Err(bad(&w));
        };
        let (name, value) = assignment.split_once('=').ok_or_else(|| bad(&assignment))?;
        // PostgreSQL accepts dashes for underscores in switch names.
        out.push((name.replace('-', "_"), value.to_string()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_postgresql_reads_them() {
        assert_eq!(parse_milliseconds("0"), Some(0));
        assert_eq!(parse_milliseconds("1500"), Some(1500));
        assert_eq!(parse_milliseconds("2s"), Some(2000));
        assert_eq!(parse_milliseconds("'1min'"), Some(60_000));
        assert_eq!(parse_milliseconds("250ms"), Some(250));
        assert_eq!(parse_milliseconds("1.5h"), Some(5_400_000));
        assert_eq!(parse_milliseconds("soon"), None);
        assert_eq!(parse_milliseconds("-1"), None);
        assert_eq!(parse_milliseconds("10 years"), None);
    }

    #[test]
    fn set_show_reset() {
        let mut s = Settings::new("u", false);
        assert_eq!(s.get("TimeZone").unwrap(), "UTC");
        s.set("application_name", "psql").unwrap();
        assert_eq!(s.get("APPLICATION_NAME").unwrap(), "psql");
        s.reset("application_name").unwrap();
        assert_eq!(s.get("application_name").unwrap(), "");
        assert!(s.set("no_such_thing", "1").is_err());
        assert!(s.set("server_version", "1").is_err());
        s.set("myapp.flag", "x").unwrap();
        assert_eq!(s.get("myapp.flag").unwrap(), "x");
    }

    #[test]
    fn set_local_and_rolled_back_sets_end_with_the_block() {
        let mut s = Settings::new("u", false);
        s.set("application_name", "before").unwrap();
        s.begin();
        s.set("application_name", "in_block").unwrap();
        s.set_local("timezone", "Europe/Paris").unwrap();
        assert_eq!(s.get("TimeZone").unwrap(), "Europe/Paris");
        s.end_transaction(false);
        assert_eq!(s.get("application_name").unwrap(), "before");
        assert_eq!(s.get("TimeZone").unwrap(), "UTC");
        s.begin();
        s.set("application_name", "kept").unwrap();
        s.set_local("application_name", "local").unwrap();
        assert_eq!(s.get("application_name").unwrap(), "local");
        s.end_transaction(true);
        assert_eq!(s.get("application_name").unwrap(), "kept");
        // ROLLBACK TO returns to the values of its savepoint.
        s.begin();
        let a = s.snapshot();
        s.set("application_name", "after_a").unwrap();
        let b = s.snapshot();
        s.set_local("application_name", "after_b").unwrap();
        s.restore(b);
        assert_eq!(s.get("application_name").unwrap(), "after_a");
        s.restore(a);
        assert_eq!(s.get("application_name").unwrap(), "kept");
        s.end_transaction(true);
        assert!(s.set_local("no_such_thing", "1").is_err());
    }

    #[test]
    fn startup_parameters_are_the_session_defaults() {
        let mut s = Settings::new("u", false);
        s.apply_startup([
            ("user", "u"),
            ("application_name", "psql"),
            ("client_encoding", "SQL_ASCII"),
            (
                "options",
                r"-c search_path=lh_matrix --statement-timeout=5s -cmyapp.note=a\ b",
            ),
        ])
        .unwrap();
        s.set("application_name", "changed").unwrap();
        s.reset_all();
        assert_eq!(s.get("application_name").unwrap(), "psql");
        assert_eq!(s.get("search_path").unwrap(), "lh_matrix");
        assert_eq!(s.get("statement_timeout").unwrap(), "5s");
        assert_eq!(s.get("myapp.note").unwrap(), "a b");
        assert_eq!(s.get("client_encoding").unwrap(), "UTF8");
        assert!(s.apply_startup([("no_such_thing", "1")]).is_err());
        assert!(s.apply_startup([("options", "-x")]).is_err());
    }
}

/// The session's settings as SQL functions see them (`current_setting`, `set_config`).
#[derive(Debug, Clone)]
pub struct SharedSettings(pub Arc<Mutex<Settings>>);

impl SharedSettings {
    fn lock(&self) -> std::sync::MutexGuard<'_, Settings> {
        // Settings have no invariants a panic could break.
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn setting_error(e: ServerError) -> SettingError {
    SettingError {
        sqlstate: e.sqlstate(),
        message: e.to_string(),
    }
}

impl SessionSettings for SharedSettings {
    fn get(&self, name: &str) -> Result<String, SettingError> {
        self.lock().get(name).map_err(setting_error)
    }

    fn set(&self, name: &str, value: &str) -> Result<(), SettingError> {
        self.lock().set(name, value).map_err(setting_error)
    }

    fn set_local(&self, name: &str, value: &str) -> Result<(), SettingError> {
        self.lock().set_local(name, value).map_err(setting_error)
    }
}
