//! `pg_catalog.pg_constraint` from the tables' informational constraints.

use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayRef, BooleanArray, Int16Array, Int16Builder, Int32Array, ListBuilder, StringArray,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::error::Result;

use super::CatalogSnapshot;
use super::relation_oids::RelationOids;
use crate::TableDefinition;

/// Constraint oids sit far above the relation oids datafusion-pg-catalog
/// counts up from 16384, and are derived from the table's oid and the
/// constraint's position, so they are stable while the server runs.
const CONSTRAINT_OID_BASE: i32 = 1_000_000_000;
const MAX_CONSTRAINTS_PER_TABLE: i32 = 64;

/// One row of `pg_constraint`.
pub(super) struct ConstraintRow {
    pub oid: i32,
    pub name: String,
    pub namespace: i32,
    /// `p`, `u` or `f`.
    contype: &'static str,
    pub relid: i32,
    pub key: Vec<i16>,
    pub columns: Vec<String>,
    /// Foreign keys: the key they reference.
    referenced: Option<ReferencedKey>,
    /// Foreign keys: the index of the referenced key (PostgreSQL's `conindid`).
    referenced_index: Option<i32>,
}

/// The key a foreign key references.
#[derive(Debug, Clone)]
struct ReferencedKey {
    oid: i32,
    attnums: Vec<i16>,
    /// (schema, name) of the referenced table.
    table: (String, String),
    columns: Vec<String>,
}

impl ConstraintRow {
    /// Primary keys and unique constraints are backed by an index.
    pub(super) fn has_index(&self) -> bool {
        self.contype != "f"
    }

    pub(super) fn is_primary(&self) -> bool {
        self.contype == "p"
    }

    /// What `pg_get_constraintdef(oid)` prints; PostgreSQL qualifies the
    /// referenced table only when the search path does not find it.
    pub(super) fn definition(&self) -> ConstraintDefinition {
        let columns = quoted_list(&self.columns);
        let text = |table: &str| match (self.contype, &self.referenced) {
            ("p", _) => format!("PRIMARY KEY ({columns})"),
            ("f", Some(key)) => format!(
                "FOREIGN KEY ({columns}) REFERENCES {table}({})",
                quoted_list(&key.columns)
            ),
            _ => format!("UNIQUE ({columns})"),
        };
        match &self.referenced {
            Some(ReferencedKey {
                table: (schema, table),
                ..
            }) => ConstraintDefinition {
                unqualified: text(&quote_ident(table)),
                qualified: text(&format!("{}.{}", quote_ident(schema), quote_ident(table))),
                referenced: Some((schema.clone(), table.clone())),
            },
            None => ConstraintDefinition {
                unqualified: text(""),
                qualified: text(""),
                referenced: None,
            },
        }
    }
}

/// `pg_get_constraintdef` of one constraint, in both forms: which one a
/// session sees depends on its search path (see `PgAnnotations::constraint_def`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConstraintDefinition {
    /// The referenced table by its name alone.
    pub unqualified: String,
    /// The referenced table as `schema.name`.
    pub qualified: String,
    /// Foreign keys: the referenced table's (schema, name).
    pub referenced: Option<(String, String)>,
}

/// An identifier as PostgreSQL prints it: quoted unless plain lower case.
pub fn quote_ident(name: &str) -> String {
    let plain = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if plain {
        name.to_string()
    } else {
        format!("\"{}\"", name.replace('"', "\"\""))
    }
}

fn quoted_list(names: &[String]) -> String {
    names
        .iter()
        .map(|n| quote_ident(n))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Every constraint of every table, in table order.
pub(super) fn constraint_rows(
    oids: &RelationOids,
    tables: &[(i32, TableDefinition)],
) -> Vec<ConstraintRow> {
    let mut rows = Vec::new();
    for (relid, table) in tables {
        let attnum = |columns: &[(String, Option<String>)], name: &str| {
            columns
                .iter()
                .position(|(c, _)| c == name)
                .map_or(0, |i| i as i16 + 1)
        };
        let Some(namespace) = oids.namespace(&table.ident.schema) else {
            continue;
        };
        let constraints = &table.constraints;
        let keys = constraints
            .primary_key
            .iter()
            .map(|k| ("p", k))
            .chain(constraints.unique.iter().map(|k| ("u", k)));
        let mut next = 0;
        let mut oid = || {
            next += 1;
            CONSTRAINT_OID_BASE + relid * MAX_CONSTRAINTS_PER_TABLE + next - 1
        };
        for (contype, key) in keys {
            rows.push(ConstraintRow {
                oid: oid(),
                name: key.name.clone(),
                namespace,
                contype,
                relid: *relid,
                key: key
                    .columns
                    .iter()
                    .map(|c| attnum(&table.columns, c))
                    .collect(),
                columns: key.columns.clone(),
                referenced: None,
                referenced_index: None,
            });
        }
        for fk in &constraints.foreign_keys {
            let target = fk.referenced();
            let referenced_oid = oids.relation(&target.schema, &target.table);
            let target_table = tables.iter().find(|(_, t)| t.ident == target);
            let referenced_columns = target_table
                .map(|(_, t)| t.columns.clone())
                .unwrap_or_default();
            // Keys are numbered primary key first, then unique, as above.
            let referenced_index = target_table.and_then(|(oid, t)| {
                let position = t
                    .constraints
                    .keys()
                    .position(|k| k.columns == fk.referenced_columns)?;
                Some(
                    super::pg_index::INDEX_OID_OFFSET
                        + CONSTRAINT_OID_BASE
                        + oid * MAX_CONSTRAINTS_PER_TABLE
                        + position as i32,
                )
            });
            rows.push(ConstraintRow {
                oid: oid(),
                name: fk.name.clone(),
                namespace,
                contype: "f",
                relid: *relid,
                key: fk
                    .columns
                    .iter()
                    .map(|c| attnum(&table.columns, c))
                    .collect(),
                columns: fk.columns.clone(),
                referenced: Some(ReferencedKey {
                    oid: referenced_oid.unwrap_or(0),
                    attnums: fk
                        .referenced_columns
                        .iter()
                        .map(|c| attnum(&referenced_columns, c))
                        .collect(),
                    table: (target.schema.clone(), target.table.clone()),
                    columns: fk.referenced_columns.clone(),
                }),
                referenced_index,
            });
        }
    }
    rows
}

fn int2_array() -> DataType {
    DataType::List(Arc::new(Field::new("item", DataType::Int16, true)))
}

/// PostgreSQL's columns of `pg_constraint`, with `conkey` and `confkey` as
/// `int2[]`.
pub(super) fn schema() -> SchemaRef {
    let text = |name: &str| Field::new(name, DataType::Utf8, true);
    let int4 = |name: &str| Field::new(name, DataType::Int32, true);
    let boolean = |name: &str| Field::new(name, DataType::Boolean, true);
    Arc::new(Schema::new(vec![
        int4("oid"),
        text("conname"),
        int4("connamespace"),
        text("contype"),
        boolean("condeferrable"),
        boolean("condeferred"),
        boolean("convalidated"),
        int4("conrelid"),
        int4("contypid"),
        int4("conindid"),
        int4("conparentid"),
        int4("confrelid"),
        text("confupdtype"),
        text("confdeltype"),
        text("confmatchtype"),
        boolean("conislocal"),
        Field::new("coninhcount", DataType::Int16, true),
        boolean("connoinherit"),
        Field::new("conkey", int2_array(), true),
        Field::new("confkey", int2_array(), true),
        text("conpfeqop"),
        text("conppeqop"),
        text("conffeqop"),
        text("confdelsetcols"),
        text("conexclop"),
        text("conbin"),
    ]))
}

pub(super) fn batch(snapshot: &CatalogSnapshot) -> Result<RecordBatch> {
    let rows = &snapshot.constraints;
    let n = rows.len();
    let int4 = |f: &dyn Fn(&ConstraintRow) -> i32| -> ArrayRef {
        Arc::new(rows.iter().map(f).collect::<Int32Array>())
    };
    let text = |f: &dyn Fn(&ConstraintRow) -> Option<&str>| -> ArrayRef {
        Arc::new(rows.iter().map(f).collect::<StringArray>())
    };
    let constant_bool = |v: bool| -> ArrayRef { Arc::new(BooleanArray::from(vec![v; n])) };
    let nulls = || -> ArrayRef { Arc::new(StringArray::from(vec![None::<&str>; n])) };
    let int2_list = |f: &dyn Fn(&ConstraintRow) -> Option<&[i16]>| -> ArrayRef {
        let mut builder = ListBuilder::new(Int16Builder::new());
        for row in rows {
            match f(row) {
                Some(values) => {
                    builder.values().append_slice(values);
                    builder.append(true);
                }
                None => builder.append(false),
            }
        }
        Arc::new(builder.finish())
    };
    let is_fk = |r: &ConstraintRow| r.contype == "f";
    let columns: Vec<ArrayRef> = vec![
        int4(&|r| r.oid),
        text(&|r| Some(r.name.as_str())),
        int4(&|r| r.namespace),
        text(&|r| Some(r.contype)),
        constant_bool(false),
        constant_bool(false),
        constant_bool(true),
        int4(&|r| r.relid),
        int4(&|_| 0),
        int4(&|r| {
            if r.has_index() {
                super::pg_index::index_oid(r)
            } else {
                r.referenced_index.unwrap_or(0)
            }
        }),
        int4(&|_| 0),
        int4(&|r| r.referenced.as_ref().map_or(0, |key| key.oid)),
        // No action, no action, MATCH SIMPLE: PostgreSQL's defaults.
        text(&|r| Some(if is_fk(r) { "a" } else { " " })),
        text(&|r| Some(if is_fk(r) { "a" } else { " " })),
        text(&|r| Some(if is_fk(r) { "s" } else { " " })),
        constant_bool(true),
        Arc::new(Int16Array::from(vec![0i16; n])),
        constant_bool(true),
        int2_list(&|r| Some(r.key.as_slice())),
        int2_list(&|r| r.referenced.as_ref().map(|key| key.attnums.as_slice())),
        nulls(),
        nulls(),
        nulls(),
        nulls(),
        nulls(),
        nulls(),
    ];
    Ok(RecordBatch::try_new(schema(), columns)?)
}
