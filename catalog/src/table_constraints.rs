//! Informational constraints: the PRIMARY KEY, UNIQUE and FOREIGN KEY clauses a
//! table was created with. They are not enforced (as in Databricks, Snowflake
//! or BigQuery, a lake table accepts any rows), but they are kept so that
//! clients that reflect a schema (SQLAlchemy, Metabase, DBeaver, psql `\d`)
//! see the keys the user declared. They live in the table's own Delta
//! metadata, under [`CONSTRAINTS_PROPERTY`], so they commit with the table.

use serde::{Deserialize, Serialize};

use crate::TableIdent;

/// The Delta table property that holds a table's constraints (JSON).
pub const CONSTRAINTS_PROPERTY: &str = "lakehouse.constraints";

/// A PRIMARY KEY or UNIQUE constraint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyConstraint {
    pub name: String,
    pub columns: Vec<String>,
}

/// A FOREIGN KEY: `columns` reference `referenced_columns` of another table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForeignKey {
    pub name: String,
    pub columns: Vec<String>,
    pub referenced_schema: String,
    pub referenced_table: String,
    pub referenced_columns: Vec<String>,
}

impl ForeignKey {
    pub fn referenced(&self) -> TableIdent {
        TableIdent::new(&self.referenced_schema, &self.referenced_table)
    }
}

/// Every informational constraint of one table.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableConstraints {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary_key: Option<KeyConstraint>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unique: Vec<KeyConstraint>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub foreign_keys: Vec<ForeignKey>,
}

impl TableConstraints {
    pub fn is_empty(&self) -> bool {
        self.primary_key.is_none() && self.unique.is_empty() && self.foreign_keys.is_empty()
    }

    /// The primary key and unique constraints: what a foreign key may reference.
    pub fn keys(&self) -> impl Iterator<Item = &KeyConstraint> {
        self.primary_key.iter().chain(self.unique.iter())
    }

    pub fn to_json(&self) -> String {
        // Serializing plain strings and vectors cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Reads the property value; a value this version cannot read (written by
    /// a newer one, or edited by hand) is reported, not ignored.
    pub fn from_json(json: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(json)
    }
}

/// PostgreSQL's default constraint name: `<table>_<columns>_<suffix>`, where
/// the suffix is `pkey`, `key` (unique) or `fkey`; a primary key names no
/// columns. Like PostgreSQL, the name is cut to 63 bytes.
pub fn default_constraint_name(table: &str, columns: &[String], suffix: &str) -> String {
    let mut name = table.to_string();
    if suffix != "pkey" {
        for column in columns {
            name.push('_');
            name.push_str(column);
        }
    }
    name.push('_');
    name.push_str(suffix);
    while name.len() > 63 {
        name.pop();
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_round_trip_and_postgres_names() {
        let constraints = TableConstraints {
            primary_key: Some(KeyConstraint {
                name: default_constraint_name("people", &["id".into()], "pkey"),
                columns: vec!["id".into()],
            }),
            unique: vec![],
            foreign_keys: vec![ForeignKey {
                name: default_constraint_name("people", &["team_id".into()], "fkey"),
                columns: vec!["team_id".into()],
                referenced_schema: "public".into(),
                referenced_table: "teams".into(),
                referenced_columns: vec!["id".into()],
            }],
        };
        let json = constraints.to_json();
        assert!(!json.contains("unique"), "{json}");
        assert_eq!(
            TableConstraints::from_json(&json).ok(),
            Some(constraints.clone())
        );
        assert_eq!(
            constraints.primary_key.map(|k| k.name).as_deref(),
            Some("people_pkey")
        );
        assert_eq!(constraints.foreign_keys[0].name, "people_team_id_fkey");
        assert_eq!(
            default_constraint_name("t", &["a".into(), "b".into()], "key"),
            "t_a_b_key"
        );
        assert!(TableConstraints::from_json("{\"primary_key\": 3}").is_err());
    }
}
