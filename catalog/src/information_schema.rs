//! `information_schema` as PostgreSQL shows it.
//!
//! DataFusion's provider serves `tables`, `views`, `schemata`, `routines`...;
//! [`InformationSchemaOverlay`] wraps it, replacing `columns` (PostgreSQL type
//! names, `udt_name`, precisions) and adding the constraint views clients
//! and BI tools read keys from: `table_constraints`, `key_column_usage` and
//! `referential_constraints`, computed from the tables' informational
//! constraints.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::{ArrayRef, Int32Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::{CatalogProviderList, SchemaProvider, Session, TableProvider};
use datafusion::error::Result;

use crate::DeltaTableStore;
use crate::pg_types::information_schema_type;
use crate::system::{ComputedTable, SystemTable};

const COLUMNS: &str = "columns";
const TABLE_CONSTRAINTS: &str = "table_constraints";
const KEY_COLUMN_USAGE: &str = "key_column_usage";
const REFERENTIAL_CONSTRAINTS: &str = "referential_constraints";

/// DataFusion's `information_schema` with PostgreSQL's `columns` and the
/// constraint views.
#[derive(Debug)]
pub struct InformationSchemaOverlay {
    inner: Arc<dyn SchemaProvider>,
    catalogs: Arc<dyn CatalogProviderList>,
    store: DeltaTableStore,
    database: String,
}

impl InformationSchemaOverlay {
    pub fn new(
        inner: Arc<dyn SchemaProvider>,
        catalogs: Arc<dyn CatalogProviderList>,
        store: DeltaTableStore,
        database: &str,
    ) -> Self {
        InformationSchemaOverlay {
            inner,
            catalogs,
            store,
            database: database.to_string(),
        }
    }
}

#[async_trait]
impl SchemaProvider for InformationSchemaOverlay {
    fn table_names(&self) -> Vec<String> {
        let mut names = self.inner.table_names();
        for extra in [TABLE_CONSTRAINTS, KEY_COLUMN_USAGE, REFERENTIAL_CONSTRAINTS] {
            names.push(extra.to_string());
        }
        names
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        let view = match name.to_ascii_lowercase().as_str() {
            COLUMNS => View::Columns,
            TABLE_CONSTRAINTS => View::TableConstraints,
            KEY_COLUMN_USAGE => View::KeyColumnUsage,
            REFERENTIAL_CONSTRAINTS => View::ReferentialConstraints,
            _ => return self.inner.table(name).await,
        };
        Ok(Some(Arc::new(SystemTable(OverlayView {
            view,
            schema: view.schema(),
            overlay: Arc::new(InformationSchemaOverlay {
                inner: self.inner.clone(),
                catalogs: self.catalogs.clone(),
                store: self.store.clone(),
                database: self.database.clone(),
            }),
        }))))
    }

    fn table_exist(&self, name: &str) -> bool {
        matches!(
            name.to_ascii_lowercase().as_str(),
            TABLE_CONSTRAINTS | KEY_COLUMN_USAGE | REFERENTIAL_CONSTRAINTS
        ) || self.inner.table_exist(name)
    }
}

#[derive(Debug, Clone, Copy)]
enum View {
    Columns,
    TableConstraints,
    KeyColumnUsage,
    ReferentialConstraints,
}

fn text(name: &str) -> Field {
    Field::new(name, DataType::Utf8, true)
}

fn int4(name: &str) -> Field {
    Field::new(name, DataType::Int32, true)
}

/// The columns both constraint views start with: which constraint, of which table.
fn constraint_and_table() -> Vec<Field> {
    [
        "constraint_catalog",
        "constraint_schema",
        "constraint_name",
        "table_catalog",
        "table_schema",
        "table_name",
    ]
    .into_iter()
    .map(text)
    .collect()
}

impl View {
    fn schema(self) -> SchemaRef {
        let fields = match self {
            View::Columns => vec![
                text("table_catalog"),
                text("table_schema"),
                text("table_name"),
                text("column_name"),
                int4("ordinal_position"),
                text("column_default"),
                text("is_nullable"),
                text("data_type"),
                int4("character_maximum_length"),
                int4("character_octet_length"),
                int4("numeric_precision"),
                int4("numeric_precision_radix"),
                int4("numeric_scale"),
                int4("datetime_precision"),
                text("interval_type"),
                text("udt_catalog"),
                text("udt_schema"),
                text("udt_name"),
                text("is_identity"),
                text("is_generated"),
                text("is_updatable"),
            ],
            View::TableConstraints => [
                constraint_and_table(),
                vec![
                    text("constraint_type"),
                    text("is_deferrable"),
                    text("initially_deferred"),
                    text("enforced"),
                    text("nulls_distinct"),
                ],
            ]
            .concat(),
            View::KeyColumnUsage => [
                constraint_and_table(),
                vec![
                    text("column_name"),
                    int4("ordinal_position"),
                    int4("position_in_unique_constraint"),
                ],
            ]
            .concat(),
            View::ReferentialConstraints => vec![
                text("constraint_catalog"),
                text("constraint_schema"),
                text("constraint_name"),
                text("unique_constraint_catalog"),
                text("unique_constraint_schema"),
                text("unique_constraint_name"),
                text("match_option"),
                text("update_rule"),
                text("delete_rule"),
            ],
        };
        Arc::new(Schema::new(fields))
    }
}

/// Rows of text-or-int cells, turned into a batch column by column.
#[derive(Default)]
struct Rows(Vec<Vec<Cell>>);

enum Cell {
    Text(Option<String>),
    Int(Option<i32>),
}

fn t(value: impl Into<String>) -> Cell {
    Cell::Text(Some(value.into()))
}

impl Rows {
    fn batch(self, schema: &SchemaRef) -> Result<RecordBatch> {
        let columns = schema
            .fields()
            .iter()
            .enumerate()
            .map(|(i, field)| -> ArrayRef {
                match field.data_type() {
                    DataType::Int32 => Arc::new(
                        self.0
                            .iter()
                            .map(|row| match &row[i] {
                                Cell::Int(v) => *v,
                                Cell::Text(_) => None,
                            })
                            .collect::<Int32Array>(),
                    ),
                    _ => Arc::new(
                        self.0
                            .iter()
                            .map(|row| match &row[i] {
                                Cell::Text(v) => v.clone(),
                                Cell::Int(_) => None,
                            })
                            .collect::<StringArray>(),
                    ),
                }
            })
            .collect();
        Ok(RecordBatch::try_new(schema.clone(), columns)?)
    }
}

#[derive(Debug)]
struct OverlayView {
    view: View,
    schema: SchemaRef,
    overlay: Arc<InformationSchemaOverlay>,
}

impl OverlayView {
    /// Every column of every relation the session can name, as PostgreSQL
    /// lists them (its own `information_schema` included).
    async fn columns(&self) -> Result<Rows> {
        let mut rows = Rows::default();
        // `varchar(n)` / `char(n)` columns are stored as text; their
        // declared lengths are the table's.
        let declared: std::collections::HashMap<(String, String), _> = self
            .overlay
            .store
            .definitions()
            .await?
            .into_iter()
            .map(|d| {
                (
                    (d.ident.schema, d.ident.table),
                    d.constraints.column_lengths,
                )
            })
            .collect();
        for catalog_name in self.overlay.catalogs.catalog_names() {
            let Some(catalog) = self.overlay.catalogs.catalog(&catalog_name) else {
                continue;
            };
            for schema_name in catalog.schema_names() {
                let Some(schema) = catalog.schema(&schema_name) else {
                    continue;
                };
                for table_name in schema.table_names() {
                    let Some(table) = schema.table(&table_name).await? else {
                        continue;
                    };
                    let lengths = declared.get(&(schema_name.clone(), table_name.clone()));
                    for (i, field) in table.schema().fields().iter().enumerate() {
                        let mut described = information_schema_type(field.data_type());
                        let mut maximum_length = None;
                        if let Some(length) = lengths.and_then(|l| l.get(field.name())) {
                            let (data_type, udt_name) = if length.blank_padded {
                                ("character", "bpchar")
                            } else {
                                ("character varying", "varchar")
                            };
                            described.data_type = data_type.to_string();
                            described.udt_name = udt_name.to_string();
                            let characters = i32::try_from(length.length).unwrap_or(i32::MAX);
                            maximum_length = Some(characters);
                            // UTF-8: up to 4 bytes a character, as PostgreSQL counts.
                            described.character_octet_length = Some(characters.saturating_mul(4));
                        }
                        rows.0.push(vec![
                            t(&catalog_name),
                            t(&schema_name),
                            t(&table_name),
                            t(field.name()),
                            Cell::Int(Some(i as i32 + 1)),
                            Cell::Text(None),
                            t(if field.is_nullable() { "YES" } else { "NO" }),
                            t(described.data_type),
                            Cell::Int(maximum_length),
                            Cell::Int(described.character_octet_length),
                            Cell::Int(described.numeric_precision),
                            Cell::Int(described.numeric_precision_radix),
                            Cell::Int(described.numeric_scale),
                            Cell::Int(described.datetime_precision),
                            Cell::Text(None),
                            t(&catalog_name),
                            t("pg_catalog"),
                            t(described.udt_name),
                            t("NO"),
                            t("NEVER"),
                            t("YES"),
                        ]);
                    }
                }
            }
        }
        Ok(rows)
    }

    async fn constraints(&self) -> Result<Rows> {
        let db = &self.overlay.database;
        let mut rows = Rows::default();
        for table in self.overlay.store.definitions().await? {
            let (schema, name) = (&table.ident.schema, &table.ident.table);
            let keys = table
                .constraints
                .primary_key
                .iter()
                .map(|k| ("PRIMARY KEY", k))
                .chain(table.constraints.unique.iter().map(|k| ("UNIQUE", k)));
            let named: Vec<(&str, &str, &[String])> = keys
                .map(|(kind, k)| (kind, k.name.as_str(), k.columns.as_slice()))
                .chain(
                    table
                        .constraints
                        .foreign_keys
                        .iter()
                        .map(|fk| ("FOREIGN KEY", fk.name.as_str(), fk.columns.as_slice())),
                )
                .collect();
            for (kind, constraint, columns) in named {
                let head = || vec![t(db), t(schema), t(constraint), t(db), t(schema), t(name)];
                match self.view {
                    View::TableConstraints => {
                        let mut row = head();
                        row.extend([
                            t(kind),
                            t("NO"),
                            t("NO"),
                            t("YES"),
                            Cell::Text((kind != "FOREIGN KEY").then(|| "YES".to_string())),
                        ]);
                        rows.0.push(row);
                    }
                    View::KeyColumnUsage => {
                        for (i, column) in columns.iter().enumerate() {
                            let mut row = head();
                            // A foreign key column's position in the key it references.
                            let referenced = (kind == "FOREIGN KEY").then_some(i as i32 + 1);
                            row.extend([
                                t(column),
                                Cell::Int(Some(i as i32 + 1)),
                                Cell::Int(referenced),
                            ]);
                            rows.0.push(row);
                        }
                    }
                    _ => {}
                }
            }
            if let View::ReferentialConstraints = self.view {
                for fk in &table.constraints.foreign_keys {
                    // The referenced key's name, from the referenced table.
                    let target = self.overlay.store.definition(&fk.referenced()).await?;
                    let unique = target.and_then(|d| {
                        d.constraints
                            .keys()
                            .find(|k| k.columns == fk.referenced_columns)
                            .map(|k| k.name.clone())
                    });
                    rows.0.push(vec![
                        t(db),
                        t(schema),
                        t(&fk.name),
                        t(db),
                        t(&fk.referenced_schema),
                        Cell::Text(unique),
                        t("NONE"),
                        t("NO ACTION"),
                        t("NO ACTION"),
                    ]);
                }
            }
        }
        Ok(rows)
    }
}

#[async_trait]
impl ComputedTable for OverlayView {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    async fn batches(&self, _state: &dyn Session) -> Result<Vec<RecordBatch>> {
        let rows = match self.view {
            View::Columns => self.columns().await?,
            _ => self.constraints().await?,
        };
        Ok(vec![rows.batch(&self.schema)?])
    }
}
