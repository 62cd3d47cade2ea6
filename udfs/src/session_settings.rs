//! `SessionSettings`: the session parameters (`SET` / `SHOW`) as functions see
//! them. The server owns the values; `current_setting()` and `set_config()` read
//! and write them through this trait, so SQL and the wire agree.

/// Why a parameter could not be read or set, with its SQLSTATE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingError {
    pub sqlstate: &'static str,
    pub message: String,
}

pub trait SessionSettings: Send + Sync + std::fmt::Debug {
    /// The current value; an unknown name is an error (42704).
    fn get(&self, name: &str) -> Result<String, SettingError>;
    /// Sets a value for the rest of the session.
    fn set(&self, name: &str, value: &str) -> Result<(), SettingError>;
    /// Sets a value until the end of the transaction (`set_config(..., true)`).
    fn set_local(&self, name: &str, value: &str) -> Result<(), SettingError> {
        self.set(name, value)
    }
}
