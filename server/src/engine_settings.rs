//! `SET datafusion.*`: the engine's own knobs, bounded.
//!
//! DataFusion's options size work: `target_partitions = 100000` makes every
//! scan spawn a hundred thousand partitions, and `batch_size` sizes every
//! buffer. Any session could set them and starve the server, and `RESET ALL`
//! left them set. Here a few knobs that tune a session's own queries may be
//! set by anyone within bounds; every other one is a superuser's; `RESET`
//! and `RESET ALL` (and `DISCARD ALL`) return them to the server's values.

use datafusion::config::ConfigOptions;

use crate::error::{ServerError, ServerResult};
use crate::session::Session;

/// Knobs any session may set, with the range each accepts.
const BOUNDED: [(&str, u64, u64); 3] = [
    ("datafusion.execution.target_partitions", 1, MAX_PARTITIONS),
    ("datafusion.execution.batch_size", 1, 1 << 20),
    (
        "datafusion.execution.planning_concurrency",
        1,
        MAX_PARTITIONS,
    ),
];

/// Knobs any session may set to any value DataFusion accepts: they change
/// results' presentation or plans' shape, never how much is allocated.
const FREE: [&str; 4] = [
    "datafusion.execution.time_zone",
    "datafusion.sql_parser.enable_ident_normalization",
    "datafusion.explain.format",
    "datafusion.explain.show_statistics",
];

/// The most partitions a plan may ask for: more than the cores can use, far
/// below what exhausts memory.
const MAX_PARTITIONS: u64 = 256;

/// Whether `name` is an engine option (`datafusion.` prefix).
pub fn is_engine_setting(name: &str) -> bool {
    name.to_ascii_lowercase().starts_with("datafusion.")
}

/// Sets an engine option for the session, within its bounds.
pub fn set(session: &Session, name: &str, value: &str) -> ServerResult<()> {
    let key = name.to_ascii_lowercase();
    if key.starts_with("datafusion.runtime.") {
        return Err(ServerError::InsufficientPrivilege(format!(
            "parameter \"{name}\" is the server's (memory_limit in lakehouse.toml)"
        )));
    }
    if let Some((_, low, high)) = BOUNDED.iter().find(|(k, ..)| *k == key) {
        let n: u64 = value.trim().parse().map_err(|_| {
            ServerError::sql(
                "22023",
                format!("invalid value for parameter \"{name}\": \"{value}\""),
            )
        })?;
        if n < *low || n > *high {
            return Err(ServerError::sql(
                "22023",
                format!(
                    "{n} is outside the valid range for parameter \"{name}\" ({low} .. {high})"
                ),
            ));
        }
    } else if !FREE.contains(&key.as_str()) && !session.superuser {
        return Err(ServerError::InsufficientPrivilege(format!(
            "only a superuser may set parameter \"{name}\""
        )));
    }
    let state = session.ctx.state_ref();
    let mut state = state.write();
    state
        .config_mut()
        .options_mut()
        .set(&key, value)
        .map_err(ServerError::from)
}

/// Returns one engine option to the server's value.
pub fn reset(session: &Session, name: &str) -> ServerResult<()> {
    let key = name.to_ascii_lowercase();
    let initial = session
        .engine_defaults
        .entries()
        .into_iter()
        .find(|e| e.key == key)
        .ok_or_else(|| ServerError::UnknownSetting(name.to_string()))?;
    let state = session.ctx.state_ref();
    let mut state = state.write();
    let options = state.config_mut().options_mut();
    match initial.value {
        Some(value) => options.set(&key, &value).map_err(ServerError::from),
        // An option without a value (`None`) cannot be set back by name: take
        // the whole section from the defaults instead.
        None => {
            *options = with_extensions_of(options, &session.engine_defaults);
            Ok(())
        }
    }
}

/// Returns every engine option to the server's values.
pub fn reset_all(session: &Session) {
    let state = session.ctx.state_ref();
    let mut state = state.write();
    let options = state.config_mut().options_mut();
    *options = with_extensions_of(options, &session.engine_defaults);
}

/// `defaults`, keeping the session's config extensions (its uncommitted
/// writes and parameters ride there) as they are now.
fn with_extensions_of(current: &ConfigOptions, defaults: &ConfigOptions) -> ConfigOptions {
    let mut restored = defaults.clone();
    restored.extensions = current.extensions.clone();
    restored
}
