//! `lakehouse.toml`: every server setting, its default, and how it is overridden.
//!
//! Precedence, lowest to highest: built-in defaults, the TOML file, `LAKEHOUSE_*`
//! environment variables, command-line flags (applied by the caller through
//! [`Config::with_overrides`]). Every failure names the key that is wrong, so an
//! operator can fix the file without reading source.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// Everything that can go wrong while loading configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid config file {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("invalid config key `{key}`: {message}")]
    Invalid { key: String, message: String },
}

/// The server's settings. Field names are the TOML keys.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Address the Postgres wire listener binds (`listen`). Never 5432: that port
    /// belongs to a real PostgreSQL.
    pub listen: String,
    /// Directory holding every table, the role store and imports (`data_dir`).
    pub data_dir: PathBuf,
    /// Directories server-side file paths may resolve under (`import_roots`).
    /// Empty means the defaults: the working directory and `<data_dir>/import`.
    pub import_roots: Vec<PathBuf>,
    /// The one database (catalog) name clients connect to (`database`).
    pub database: String,
    /// Name of the bootstrap admin role created at first start (`admin_user`).
    pub admin_user: String,
    /// PBKDF2 iterations for new SCRAM-SHA-256 verifiers (`scram_iterations`).
    pub scram_iterations: u32,
    /// Rows per Arrow batch when ingesting files (`ingest_batch_rows`).
    pub ingest_batch_rows: usize,
    /// Log filter in `tracing` syntax, e.g. `info` or `lakehouse=debug`
    /// (`log`). A bare level applies to lakehouse's own lines; dependencies
    /// log at `warn` unless named (see [`Config::log_filter`]).
    pub log: String,
    /// Directory the model files are fetched into (`models_dir`).
    pub models_dir: PathBuf,
    /// HF-format BERT directory for `embed()` and vector indexes, relative to
    /// `models_dir` unless absolute (`embedding_model`).
    pub embedding_model: PathBuf,
    /// llama-family GGUF file `rag()` generates with, relative to `models_dir`
    /// unless absolute; empty means extractive answers (`generation_model`).
    pub generation_model: PathBuf,
    /// Texts per embedding forward pass (`embed_batch_size`).
    pub embed_batch_size: usize,
    /// Most tokens `rag()` generates per answer (`rag_max_tokens`).
    pub rag_max_tokens: usize,
    /// Concurrent `vector_search` calls per index before callers queue
    /// (`vector_search_threads`); each gets its own usearch thread slot.
    pub vector_search_threads: usize,
    /// Memory all running queries share (`memory_limit`): `"25%"` of the
    /// machine's RAM, or a size such as `"1GB"` / `"512MB"`. Sorts, joins,
    /// aggregates and windows spill to `<data_dir>/tmp` past their share; a
    /// query that still cannot fit fails with 53200 and the server goes on.
    pub memory_limit: String,
    /// Most client connections at once (`max_connections`); one more is
    /// refused with 53300, as in PostgreSQL.
    pub max_connections: usize,
    /// Threads that execute queries (`query_threads`), apart from the ones
    /// that serve the wire, logins and cancel requests; 0 means one per core.
    pub query_threads: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: "127.0.0.1:5433".to_string(),
            data_dir: PathBuf::from("./lakehouse-data"),
            import_roots: Vec::new(),
            database: "lakehouse".to_string(),
            admin_user: "lakehouse".to_string(),
            scram_iterations: 4096,
            ingest_batch_rows: 65_536,
            log: "info".to_string(),
            models_dir: PathBuf::from("./lakehouse-models"),
            embedding_model: PathBuf::from("all-minilm-l6-v2"),
            generation_model: PathBuf::from(
                "smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf",
            ),
            embed_batch_size: 32,
            rag_max_tokens: 160,
            vector_search_threads: 64,
            memory_limit: "25%".to_string(),
            max_connections: 100,
            query_threads: 0,
        }
    }
}

/// Values given on the command line; `None` keeps what file and env said.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub data_dir: Option<PathBuf>,
    pub listen: Option<String>,
}

impl Config {
    /// The `tracing` filter `log` stands for: a bare level (`info`) sets
    /// lakehouse's own crates to it and keeps dependencies (delta-rs logs
    /// several INFO lines per commit) at `warn`; anything else is taken as
    /// written.
    pub fn log_filter(&self) -> String {
        let log = self.log.trim();
        let bare_level = ["error", "warn", "info", "debug", "trace", "off"]
            .iter()
            .any(|level| log.eq_ignore_ascii_case(level));
        if bare_level {
            format!("warn,lakehouse={log}")
        } else {
            log.to_string()
        }
    }

    /// Loads defaults, then `file` (if any), then the process environment.
    pub fn load(file: Option<&Path>) -> Result<Config, ConfigError> {
        let env: HashMap<String, String> = std::env::vars().collect();
        Self::load_from(file, &env)
    }

    /// Like [`Config::load`] with an explicit environment (for tests).
    pub fn load_from(
        file: Option<&Path>,
        env: &HashMap<String, String>,
    ) -> Result<Config, ConfigError> {
        let mut config = match file {
            Some(path) => Self::from_toml_file(path)?,
            None => Config::default(),
        };
        config.apply_env(env)?;
        config.validate()?;
        Ok(config)
    }

    fn from_toml_file(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_toml_str(&text).map_err(|message| ConfigError::Parse {
            path: path.to_path_buf(),
            message,
        })
    }

    /// Parses TOML text; unknown keys and wrong types are errors naming the key.
    pub fn from_toml_str(text: &str) -> Result<Config, String> {
        toml::from_str(text).map_err(|e| e.to_string().trim().to_string())
    }

    fn apply_env(&mut self, env: &HashMap<String, String>) -> Result<(), ConfigError> {
        let get = |key: &str| env.get(&format!("LAKEHOUSE_{}", key.to_uppercase()));
        if let Some(v) = get("listen") {
            self.listen = v.clone();
        }
        if let Some(v) = get("data_dir") {
            self.data_dir = PathBuf::from(v);
        }
        if let Some(v) = get("import_roots") {
            self.import_roots = std::env::split_paths(v).collect();
        }
        if let Some(v) = get("database") {
            self.database = v.clone();
        }
        if let Some(v) = get("admin_user") {
            self.admin_user = v.clone();
        }
        if let Some(v) = get("scram_iterations") {
            self.scram_iterations = parse_env("scram_iterations", v)?;
        }
        if let Some(v) = get("ingest_batch_rows") {
            self.ingest_batch_rows = parse_env("ingest_batch_rows", v)?;
        }
        if let Some(v) = get("log") {
            self.log = v.clone();
        }
        if let Some(v) = get("models_dir") {
            self.models_dir = PathBuf::from(v);
        }
        if let Some(v) = get("embedding_model") {
            self.embedding_model = PathBuf::from(v);
        }
        if let Some(v) = get("generation_model") {
            self.generation_model = PathBuf::from(v);
        }
        if let Some(v) = get("embed_batch_size") {
            self.embed_batch_size = parse_env("embed_batch_size", v)?;
        }
        if let Some(v) = get("rag_max_tokens") {
            self.rag_max_tokens = parse_env("rag_max_tokens", v)?;
        }
        if let Some(v) = get("vector_search_threads") {
            self.vector_search_threads = parse_env("vector_search_threads", v)?;
        }
        if let Some(v) = get("memory_limit") {
            self.memory_limit = v.clone();
        }
        if let Some(v) = get("max_connections") {
            self.max_connections = parse_env("max_connections", v)?;
        }
        if let Some(v) = get("query_threads") {
            self.query_threads = parse_env("query_threads", v)?;
        }
        Ok(())
    }

    /// Applies command-line values and validates the result again.
    pub fn with_overrides(mut self, overrides: Overrides) -> Result<Config, ConfigError> {
        if let Some(dir) = overrides.data_dir {
            self.data_dir = dir;
        }
        if let Some(listen) = overrides.listen {
            self.listen = listen;
        }
        self.validate()?;
        Ok(self)
    }

    /// Checks values that parse but make no sense.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |key: &str, message: String| ConfigError::Invalid {
            key: key.to_string(),
            message,
        };
        let addr: SocketAddr = self.listen.parse().map_err(|e| {
            invalid(
                "listen",
                format!("`{}` is not an address:port ({e})", self.listen),
            )
        })?;
        if addr.port() == 5432 {
            return Err(invalid(
                "listen",
                "port 5432 is reserved for PostgreSQL itself; lakehouse defaults to 5433".into(),
            ));
        }
        if self.data_dir.as_os_str().is_empty() {
            return Err(invalid("data_dir", "must not be empty".into()));
        }
        if self.database.is_empty() {
            return Err(invalid("database", "must not be empty".into()));
        }
        if self.admin_user.is_empty() {
            return Err(invalid("admin_user", "must not be empty".into()));
        }
        if self.scram_iterations < 4096 {
            return Err(invalid(
                "scram_iterations",
                format!(
                    "{} is below 4096, the minimum RFC 7677 allows",
                    self.scram_iterations
                ),
            ));
        }
        for (key, value) in [
            ("ingest_batch_rows", self.ingest_batch_rows),
            ("embed_batch_size", self.embed_batch_size),
            ("rag_max_tokens", self.rag_max_tokens),
            ("vector_search_threads", self.vector_search_threads),
            ("max_connections", self.max_connections),
        ] {
            if value == 0 {
                return Err(invalid(key, "must be at least 1".into()));
            }
        }
        if self.embedding_model.as_os_str().is_empty() {
            return Err(invalid("embedding_model", "must not be empty".into()));
        }
        let memory = self
            .memory_limit_bytes()
            .map_err(|m| invalid("memory_limit", m))?;
        if memory < MIN_MEMORY_LIMIT {
            return Err(invalid(
                "memory_limit",
                format!(
                    "`{}` is {memory} bytes, below the minimum of 64MB",
                    self.memory_limit
                ),
            ));
        }
        Ok(())
    }

    /// `memory_limit` in bytes: a percentage of the machine's RAM or a size.
    pub fn memory_limit_bytes(&self) -> Result<usize, String> {
        let text = self.memory_limit.trim();
        if let Some(percent) = text.strip_suffix('%') {
            let percent: f64 = percent
                .trim()
                .parse()
                .ok()
                .filter(|p: &f64| *p > 0.0 && *p <= 100.0)
                .ok_or_else(|| {
                    format!("`{text}` is not a percentage between 0 and 100 of the machine's RAM")
                })?;
            return Ok((physical_memory_bytes() as f64 * percent / 100.0) as usize);
        }
        parse_size(text).ok_or_else(|| {
            format!("`{text}` is neither a percentage (\"25%\") nor a size (\"1GB\", \"512MB\")")
        })
    }

    /// The listen address, already validated.
    pub fn listen_addr(&self) -> SocketAddr {
        // validate() proved this parses; a default keeps this total anyway.
        self.listen
            .parse()
            .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 5433)))
    }

    /// Import roots in force: the configured ones, or the documented defaults.
    pub fn effective_import_roots(&self) -> Vec<PathBuf> {
        if !self.import_roots.is_empty() {
            return self.import_roots.clone();
        }
        let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
        vec![cwd, self.data_dir.join("import")]
    }
}

impl Config {
    /// The embedding model directory, resolved against `models_dir`.
    pub fn embedding_model_path(&self) -> PathBuf {
        self.models_dir.join(&self.embedding_model)
    }

    /// The generation model file, or `None` when generation is switched off.
    pub fn generation_model_path(&self) -> Option<PathBuf> {
        if self.generation_model.as_os_str().is_empty() {
            None
        } else {
            Some(self.models_dir.join(&self.generation_model))
        }
    }
}

/// The smallest `memory_limit`: below it even catalog queries fail.
const MIN_MEMORY_LIMIT: usize = 64 << 20;

/// `"1GB"`, `"512MB"`, `"64kB"`, `"1048576"` (bytes) -> bytes, 1024-based as
/// PostgreSQL's memory units.
pub fn parse_size(text: &str) -> Option<usize> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: usize = number.parse().ok()?;
    let scale: usize = match unit.trim().to_ascii_uppercase().as_str() {
        "" | "B" => 1,
        "KB" => 1 << 10,
        "MB" => 1 << 20,
        "GB" => 1 << 30,
        "TB" => 1 << 40,
        _ => return None,
    };
    number.checked_mul(scale)
}

/// Total RAM from `/proc/meminfo`; 4 GiB where it cannot be read.
fn physical_memory_bytes() -> usize {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|info| {
            let line = info.lines().find(|l| l.starts_with("MemTotal:"))?;
            let kb: usize = line.split_whitespace().nth(1)?.parse().ok()?;
            kb.checked_mul(1024)
        })
        .unwrap_or(4 << 30)
}

fn parse_env<T: std::str::FromStr>(key: &str, value: &str) -> Result<T, ConfigError>
where
    T::Err: std::fmt::Display,
{
    value.parse().map_err(|e| ConfigError::Invalid {
        key: key.to_string(),
        message: format!("LAKEHOUSE_{}=`{value}`: {e}", key.to_uppercase()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        let c = Config::load_from(None, &HashMap::new()).expect("defaults load");
        assert_eq!(c.listen, "127.0.0.1:5433");
        assert_eq!(c.database, "lakehouse");
    }

    #[test]
    fn shipped_example_file_matches_defaults() {
        let text = include_str!("../lakehouse.toml");
        let parsed = Config::from_toml_str(text).expect("documented file parses");
        assert_eq!(parsed, Config::default());
    }

    #[test]
    fn a_bare_log_level_keeps_dependencies_at_warn() {
        let with = |log: &str| Config {
            log: log.to_string(),
            ..Config::default()
        };
        assert_eq!(with("info").log_filter(), "warn,lakehouse=info");
        assert_eq!(with("DEBUG").log_filter(), "warn,lakehouse=DEBUG");
        assert_eq!(
            with("info,deltalake_core=debug").log_filter(),
            "info,deltalake_core=debug"
        );
    }

    #[test]
    fn unknown_key_is_named() {
        let err = Config::from_toml_str("lisen = \"x\"").unwrap_err();
        assert!(err.contains("lisen"), "{err}");
    }

    #[test]
    fn bad_listen_is_named() {
        let env = HashMap::from([("LAKEHOUSE_LISTEN".to_string(), "nope".to_string())]);
        let err = Config::load_from(None, &env).unwrap_err().to_string();
        assert!(err.contains("`listen`"), "{err}");
    }

    #[test]
    fn memory_limit_takes_percentages_and_sizes() {
        let with = |v: &str| Config {
            memory_limit: v.to_string(),
            ..Config::default()
        };
        assert_eq!(with("1GB").memory_limit_bytes(), Ok(1 << 30));
        assert_eq!(with("512MB").memory_limit_bytes(), Ok(512 << 20));
        assert!(with("25%").memory_limit_bytes().is_ok_and(|b| b > 0));
        for bad in ["0%", "150%", "lots", "12XB", ""] {
            let err = with(bad).validate().unwrap_err().to_string();
            assert!(err.contains("memory_limit"), "{bad}: {err}");
        }
        let err = with("1MB").validate().unwrap_err().to_string();
        assert!(err.contains("minimum"), "{err}");
    }

    #[test]
    fn env_overrides_file_values() {
        let env = HashMap::from([("LAKEHOUSE_SCRAM_ITERATIONS".to_string(), "x".to_string())]);
        let err = Config::load_from(None, &env).unwrap_err().to_string();
        assert!(err.contains("scram_iterations"), "{err}");
        let env = HashMap::from([("LAKEHOUSE_DATA_DIR".to_string(), "/tmp/d".to_string())]);
        let c = Config::load_from(None, &env).unwrap();
        assert_eq!(c.data_dir, PathBuf::from("/tmp/d"));
    }
}
