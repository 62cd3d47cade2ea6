//! The PRIMARY KEY, UNIQUE and FOREIGN KEY clauses of a `CREATE TABLE`.
//!
//! They are taken out of the statement before DataFusion plans it: DataFusion
//! rejects FOREIGN KEY, and would treat PRIMARY KEY / UNIQUE as guarantees it
//! may optimize on, while a lake table does not enforce them. What is taken is
//! resolved against the catalog (PostgreSQL's default names, referenced keys)
//! and recorded as the table's informational constraints. Primary key columns
//! become NOT NULL, as in PostgreSQL.

use datafusion::sql::sqlparser::ast::{
    ColumnOption, ColumnOptionDef, CreateTable, Expr, Ident, IndexColumn, ObjectName,
    TableConstraint,
};
use lakehouse_catalog::{
    DeltaTableStore, ForeignKey, KeyConstraint, TableConstraints, TableIdent,
    default_constraint_name,
};

use crate::error::{ServerError, ServerResult};

/// A key clause as written: names still unresolved.
#[derive(Debug, Clone)]
struct DeclaredKey {
    primary: bool,
    name: Option<String>,
    columns: Vec<String>,
}

#[derive(Debug, Clone)]
struct DeclaredForeignKey {
    name: Option<String>,
    columns: Vec<String>,
    table: ObjectName,
    referenced_columns: Vec<String>,
}

/// The constraint clauses of one CREATE TABLE, as written.
#[derive(Debug, Clone, Default)]
pub struct DeclaredConstraints {
    keys: Vec<DeclaredKey>,
    foreign_keys: Vec<DeclaredForeignKey>,
}

/// An identifier as PostgreSQL folds it: unquoted names are lower case.
fn folded(ident: &Ident) -> String {
    if ident.quote_style.is_none() {
        ident.value.to_lowercase()
    } else {
        ident.value.clone()
    }
}

fn index_column_names(columns: &[IndexColumn]) -> ServerResult<Vec<String>> {
    columns
        .iter()
        .map(|c| match &c.column.expr {
            Expr::Identifier(ident) => Ok(folded(ident)),
            other => Err(ServerError::Unsupported(format!(
                "a key over the expression {other}"
            ))),
        })
        .collect()
}

impl DeclaredConstraints {
    /// Removes the key clauses from `create` (table-level and column-level)
    /// and marks primary key columns NOT NULL.
    pub fn take_from(create: &mut CreateTable) -> ServerResult<Self> {
        let mut declared = DeclaredConstraints::default();
        for column in &mut create.columns {
            let column_name = folded(&column.name);
            let mut kept = Vec::with_capacity(column.options.len());
            for def in column.options.drain(..) {
                let name = def.name.as_ref().map(folded);
                match def.option {
                    ColumnOption::PrimaryKey(_) => declared.keys.push(DeclaredKey {
                        primary: true,
                        name,
                        columns: vec![column_name.clone()],
                    }),
                    ColumnOption::Unique(_) => declared.keys.push(DeclaredKey {
                        primary: false,
                        name,
                        columns: vec![column_name.clone()],
                    }),
                    ColumnOption::ForeignKey(fk) => {
                        declared.foreign_keys.push(DeclaredForeignKey {
                            name: name.or_else(|| fk.name.as_ref().map(folded)),
                            columns: vec![column_name.clone()],
                            table: fk.foreign_table,
                            referenced_columns: fk.referred_columns.iter().map(folded).collect(),
                        })
                    }
                    option => kept.push(ColumnOptionDef {
                        name: def.name,
                        option,
                    }),
                }
            }
            column.options = kept;
        }
        let mut kept = Vec::with_capacity(create.constraints.len());
        for constraint in create.constraints.drain(..) {
            match constraint {
                TableConstraint::PrimaryKey(pk) => declared.keys.push(DeclaredKey {
                    primary: true,
                    name: pk.name.as_ref().map(folded),
                    columns: index_column_names(&pk.columns)?,
                }),
                TableConstraint::Unique(u) => declared.keys.push(DeclaredKey {
                    primary: false,
                    name: u.name.as_ref().map(folded),
                    columns: index_column_names(&u.columns)?,
                }),
                TableConstraint::ForeignKey(fk) => declared.foreign_keys.push(DeclaredForeignKey {
                    name: fk.name.as_ref().map(folded),
                    columns: fk.columns.iter().map(folded).collect(),
                    table: fk.foreign_table,
                    referenced_columns: fk.referred_columns.iter().map(folded).collect(),
                }),
                other => kept.push(other),
            }
        }
        create.constraints = kept;
        let primary: Vec<&String> = declared
            .keys
            .iter()
            .filter(|k| k.primary)
            .flat_map(|k| &k.columns)
            .collect();
        for column in &mut create.columns {
            let not_null = column
                .options
                .iter()
                .any(|o| matches!(o.option, ColumnOption::NotNull));
            if primary.contains(&&folded(&column.name)) && !not_null {
                column.options.push(ColumnOptionDef {
                    name: None,
                    option: ColumnOption::NotNull,
                });
            }
        }
        Ok(declared)
    }

    /// Names every constraint and checks it against the new table's
    /// `columns` and the tables it references, with PostgreSQL's errors.
    pub async fn resolve(
        self,
        table: &TableIdent,
        columns: &[String],
        store: &DeltaTableStore,
        current_schema: &str,
    ) -> ServerResult<TableConstraints> {
        let check_columns = |names: &[String]| -> ServerResult<()> {
            match names.iter().find(|n| !columns.contains(n)) {
                Some(missing) => Err(ServerError::sql(
                    "42703",
                    format!("column \"{missing}\" named in key does not exist"),
                )),
                None => Ok(()),
            }
        };
        let mut resolved = TableConstraints::default();
        for key in self.keys {
            check_columns(&key.columns)?;
            let suffix = if key.primary { "pkey" } else { "key" };
            let constraint = KeyConstraint {
                name: key
                    .name
                    .unwrap_or_else(|| default_constraint_name(&table.table, &key.columns, suffix)),
                columns: key.columns,
            };
            if !key.primary {
                resolved.unique.push(constraint);
            } else if resolved.primary_key.is_some() {
                return Err(ServerError::sql(
                    "42P16",
                    format!(
                        "multiple primary keys for table \"{}\" are not allowed",
                        table.table
                    ),
                ));
            } else {
                resolved.primary_key = Some(constraint);
            }
        }
        for fk in self.foreign_keys {
            check_columns(&fk.columns)?;
            let referenced = crate::engine::table_ident(&fk.table, current_schema)?;
            // A table may reference its own keys.
            let (target_columns, target) = if referenced == *table {
                (columns.to_vec(), resolved.clone())
            } else {
                let definition = store.definition(&referenced).await?.ok_or_else(|| {
                    ServerError::sql(
                        "42P01",
                        format!("relation \"{}\" does not exist", referenced.table),
                    )
                })?;
                let names = definition.columns.into_iter().map(|(name, _)| name);
                (names.collect::<Vec<_>>(), definition.constraints)
            };
            if let Some(missing) = fk
                .referenced_columns
                .iter()
                .find(|c| !target_columns.contains(c))
            {
                return Err(ServerError::sql(
                    "42703",
                    format!(
                        "column \"{missing}\" referenced in foreign key constraint does not exist"
                    ),
                ));
            }
            let referenced_columns = if fk.referenced_columns.is_empty() {
                target
                    .primary_key
                    .as_ref()
                    .map(|k| k.columns.clone())
                    .ok_or_else(|| {
                        ServerError::sql(
                            "42830",
                            format!(
                                "there is no primary key for referenced table \"{}\"",
                                referenced.table
                            ),
                        )
                    })?
            } else {
                fk.referenced_columns
            };
            if referenced_columns.len() != fk.columns.len() {
                return Err(ServerError::sql(
                    "42830",
                    "number of referencing and referenced columns for foreign key disagree",
                ));
            }
            if !target.keys().any(|k| k.columns == referenced_columns) {
                return Err(ServerError::sql(
                    "42830",
                    format!(
                        "there is no unique constraint matching given keys for referenced table \"{}\"",
                        referenced.table
                    ),
                ));
            }
            resolved.foreign_keys.push(ForeignKey {
                name: fk
                    .name
                    .unwrap_or_else(|| default_constraint_name(&table.table, &fk.columns, "fkey")),
                columns: fk.columns,
                referenced_schema: referenced.schema,
                referenced_table: referenced.table,
                referenced_columns,
            });
        }
        Ok(resolved)
    }
}
