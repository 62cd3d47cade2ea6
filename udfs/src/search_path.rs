//! The session's `search_path`: the schemas an unqualified name is looked up
//! in, in order. `current_schema()`, `current_schemas()`, `to_regclass()`,
//! `pg_table_is_visible()` and the server (which points DataFusion's default
//! schema, where unqualified names resolve and `CREATE TABLE` creates, at the
//! current schema) all read it here.

use lakehouse_catalog::{DeltaTableStore, SYSTEM_SCHEMA};

use crate::session_settings::SessionSettings;

/// The schemas `search_path` names, in order, whether or not they exist:
/// `$user` is the session's role; unquoted names fold to lower case.
pub fn path_schemas(settings: &dyn SessionSettings) -> Vec<String> {
    let path = settings.get("search_path").unwrap_or_default();
    let user = settings.get("session_authorization").unwrap_or_default();
    path.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .filter_map(
            |s| match s.strip_prefix('"').and_then(|s| s.strip_suffix('"')) {
                Some("$user") => user_schema(&user),
                Some(quoted) => Some(quoted.replace("\"\"", "\"")),
                None if s == "$user" => user_schema(&user),
                None => Some(s.to_lowercase()),
            },
        )
        .collect()
}

/// `$user` names the role's own schema, never a system one: the bootstrap
/// admin is called `lakehouse`, like the read-only system schema.
fn user_schema(user: &str) -> Option<String> {
    (!is_system_schema(user)).then(|| user.to_string())
}

fn is_system_schema(schema: &str) -> bool {
    matches!(schema, "pg_catalog" | "information_schema" | SYSTEM_SCHEMA)
}

/// Where an unqualified relation name is looked up: `pg_catalog` first (as
/// PostgreSQL does when the path does not name it), then the path.
pub fn schemas_searched(settings: &dyn SessionSettings) -> Vec<String> {
    let path = path_schemas(settings);
    let implicit = (!path.iter().any(|s| s == "pg_catalog")).then(|| "pg_catalog".to_string());
    implicit.into_iter().chain(path).collect()
}

/// The schemas of the path that exist, in order.
pub fn existing_path_schemas(
    settings: &dyn SessionSettings,
    store: &DeltaTableStore,
) -> Vec<String> {
    path_schemas(settings)
        .into_iter()
        .filter(|s| schema_exists(store, s))
        .collect()
}

/// The first schema of the path that exists (PostgreSQL's `current_schema`);
/// `None` when none does.
pub fn current_schema(settings: &dyn SessionSettings, store: &DeltaTableStore) -> Option<String> {
    path_schemas(settings)
        .into_iter()
        .find(|s| schema_exists(store, s))
}

fn schema_exists(store: &DeltaTableStore, schema: &str) -> bool {
    is_system_schema(schema) || store.schema_exists(schema)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session_settings::SettingError;

    /// A session's `search_path` and role.
    #[derive(Debug)]
    struct Path(&'static str, &'static str);

    impl SessionSettings for Path {
        fn get(&self, name: &str) -> Result<String, SettingError> {
            Ok(match name {
                "search_path" => self.0.to_string(),
                _ => self.1.to_string(),
            })
        }
        fn set(&self, _: &str, _: &str) -> Result<(), SettingError> {
            Ok(())
        }
    }

    #[test]
    fn paths_read_like_postgres() {
        assert_eq!(
            path_schemas(&Path("\"$user\", public", "alice")),
            ["alice", "public"]
        );
        assert_eq!(
            path_schemas(&Path("Sales, \"Mixed\"\"Q\"", "alice")),
            ["sales", "Mixed\"Q"]
        );
        assert_eq!(schemas_searched(&Path("s", "alice")), ["pg_catalog", "s"]);
        // The user "lakehouse" has no schema of its own: that name is the system schema's.
        assert_eq!(
            path_schemas(&Path("\"$user\", public", "lakehouse")),
            ["public"]
        );
        assert_eq!(
            schemas_searched(&Path("s, pg_catalog", "alice")),
            ["s", "pg_catalog"]
        );
    }
}
