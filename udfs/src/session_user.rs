//! `session_user`, `current_user`, `user`, `current_role`: the authenticated role.

use datafusion::logical_expr::ScalarUDF;

use crate::constant_text::ConstantText;

/// The SQL names under which Postgres reports the session's role.
const NAMES: [&str; 4] = ["session_user", "current_user", "user", "current_role"];

/// One function per name, each returning `user`.
pub fn session_user(user: &str) -> Vec<ScalarUDF> {
    NAMES
        .iter()
        .map(|name| ScalarUDF::from(ConstantText::new(name, user)))
        .collect()
}
