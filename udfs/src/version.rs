//! `version()`: what clients parse to decide which Postgres they talk to.

use datafusion::logical_expr::ScalarUDF;

use crate::constant_text::ConstantText;

/// The Postgres release whose protocol and catalogs we follow.
pub const PG_VERSION: &str = "16.6";
/// `server_version_num` for [`PG_VERSION`].
pub const PG_VERSION_NUM: &str = "160006";

/// The full `version()` text: starts with `PostgreSQL 16.` and names lakehouse.
pub fn version_string() -> String {
    format!(
        "PostgreSQL {PG_VERSION} (lakehouse {}) on {}-pc-linux-gnu, compiled by rustc, 64-bit",
        env!("CARGO_PKG_VERSION"),
        std::env::consts::ARCH
    )
}

pub fn version() -> ScalarUDF {
    ScalarUDF::from(ConstantText::new("version", version_string()))
}
