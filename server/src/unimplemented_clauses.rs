//! Clauses the SQL parser accepts and lakehouse does not implement: each is
//! refused with `0A000` naming it, never accepted and ignored.
//!
//! DataFusion plans `CREATE TABLE` by keeping the column names, types and
//! nullability and dropping most column options without a word: a table
//! declared with `DEFAULT 'open'` was created, and every row inserted got
//! NULL there (defaults and identity columns are now implemented, see
//! `column_defaults`). Until a clause is implemented, the statement fails
//! before anything is created. The `unimplemented_clauses.slt` file lists
//! each one, so the list stays honest.

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{
    ColumnOption, CreateTable, CreateTableOptions, JoinConstraint, JoinOperator,
    PrimaryKeyConstraint, Query, ReferentialAction, SetExpr, SetOperator, SetQuantifier, Statement,
    TableConstraint, TableFactor, TableWithJoins, UniqueConstraint, Visit, Visitor,
};

use crate::error::{ServerError, ServerResult};

/// Refuses the first clause of `create` that lakehouse would ignore. Keys
/// and foreign keys are kept as declared (informational, see
/// `declared_constraints`); the actions a foreign key would take are not.
pub fn refuse_in_create_table(create: &CreateTable) -> ServerResult<()> {
    for column in &create.columns {
        for def in &column.options {
            let clause = match &def.option {
                ColumnOption::PrimaryKey(PrimaryKeyConstraint {
                    characteristics: Some(_),
                    ..
                })
                | ColumnOption::Unique(UniqueConstraint {
                    characteristics: Some(_),
                    ..
                }) => "DEFERRABLE / INITIALLY (keys are informational, never checked)",
                ColumnOption::Null
                | ColumnOption::NotNull
                | ColumnOption::PrimaryKey(_)
                | ColumnOption::Unique(_) => continue,
                ColumnOption::ForeignKey(fk) => {
                    refuse_referential_actions(fk.on_delete, fk.on_update)?;
                    continue;
                }
                ColumnOption::Check(_) => "CHECK",
                // Taken out before this runs (`column_defaults`); what is
                // left here is a generated (computed) column.
                ColumnOption::Default(_) => "DEFAULT",
                ColumnOption::Generated { .. } | ColumnOption::Identity(_) => "GENERATED",
                ColumnOption::Collation(_) => "COLLATE",
                _ => "",
            };
            return Err(unsupported(if clause.is_empty() {
                format!("{} (column \"{}\")", def.option, column.name)
            } else {
                format!("{clause} (column \"{}\": {})", column.name, def.option)
            }));
        }
    }
    for constraint in &create.constraints {
        match constraint {
            TableConstraint::ForeignKey(fk) => {
                refuse_referential_actions(fk.on_delete, fk.on_update)?;
            }
            TableConstraint::Check(check) => {
                return Err(unsupported(format!("CHECK ({check})")));
            }
            TableConstraint::PrimaryKey(PrimaryKeyConstraint {
                characteristics: Some(_),
                ..
            })
            | TableConstraint::Unique(UniqueConstraint {
                characteristics: Some(_),
                ..
            }) => {
                return Err(unsupported(format!(
                    "DEFERRABLE / INITIALLY ({constraint}: keys are informational, never checked)"
                )));
            }
            _ => {}
        }
    }
    let table_clause = if create.temporary {
        Some("CREATE TEMPORARY TABLE".to_string())
    } else if create.global.is_some() {
        Some("GLOBAL / LOCAL".to_string())
    } else if create.like.is_some() {
        Some("LIKE".to_string())
    } else if create.inherits.is_some() {
        Some("INHERITS".to_string())
    } else if create.partition_by.is_some() || create.partition_of.is_some() {
        Some("PARTITION".to_string())
    } else if create.on_commit.is_some() {
        Some("ON COMMIT".to_string())
    } else if create.comment.is_some() {
        Some("COMMENT in CREATE TABLE (use COMMENT ON TABLE)".to_string())
    } else if !matches!(create.table_options, CreateTableOptions::None) {
        Some(create.table_options.to_string().trim().to_string())
    } else {
        None
    };
    if let Some(clause) = table_clause {
        return Err(unsupported(clause));
    }
    Ok(())
}

/// A foreign key is informational (not enforced): an action it would take
/// on a referenced row (`ON DELETE CASCADE`) would never happen.
pub fn refuse_referential_actions(
    on_delete: Option<ReferentialAction>,
    on_update: Option<ReferentialAction>,
) -> ServerResult<()> {
    for (event, action) in [("ON DELETE", on_delete), ("ON UPDATE", on_update)] {
        match action {
            None | Some(ReferentialAction::NoAction) | Some(ReferentialAction::Restrict) => {}
            Some(action) => {
                return Err(unsupported(format!(
                    "{event} {action} (foreign keys are informational, not enforced)"
                )));
            }
        }
    }
    Ok(())
}

fn unsupported(clause: String) -> ServerError {
    ServerError::Unsupported(clause)
}

/// Refuses the query clauses DataFusion plans with another meaning than
/// PostgreSQL's, anywhere in `statement` (subqueries included):
///
/// - `EXCEPT ALL` and `INTERSECT ALL`: DataFusion keeps or removes every copy
///   of a row (`{1,1,2} EXCEPT ALL {1}` gave `{2}`; PostgreSQL: `{1,2}`);
/// - `RIGHT` / `FULL JOIN ... USING` and `NATURAL RIGHT | FULL JOIN`: the
///   merged column is the left table's, NULL for rows only the right side
///   has (PostgreSQL: `COALESCE(left.c, right.c)`);
///
/// and the ones DataFusion accepts and ignores:
///
/// - `FOR UPDATE | NO KEY UPDATE | SHARE | KEY SHARE`: lakehouse has no row
///   locks, and a transaction relying on one would silently not have it;
/// - `TABLESAMPLE`: every row was returned.
pub fn refuse_in_query(statement: &Statement) -> ServerResult<()> {
    let mut check = QueryClauses(None);
    let _ = statement.visit(&mut check);
    match check.0 {
        Some(clause) => Err(unsupported(clause)),
        None => Ok(()),
    }
}

/// The first refused clause found.
struct QueryClauses(Option<String>);

impl Visitor for QueryClauses {
    type Break = ();

    /// `INSERT ... ON CONFLICT` and `RETURNING`: DataFusion refuses them
    /// as syntax errors (42601); they are valid SQL lakehouse lacks.
    fn pre_visit_statement(&mut self, statement: &Statement) -> ControlFlow<()> {
        if let Statement::Insert(insert) = statement {
            self.0 = if insert.on.is_some() {
                Some("INSERT ... ON CONFLICT (upserts are not implemented yet)".to_string())
            } else if insert.returning.is_some() {
                Some("INSERT ... RETURNING".to_string())
            } else {
                None
            };
            if self.0.is_some() {
                return ControlFlow::Break(());
            }
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_query(&mut self, query: &Query) -> ControlFlow<()> {
        self.0 = match query.locks.first() {
            Some(lock) => Some(format!(
                "{lock} (lakehouse has no row locks; a block's COMMIT fails with 40001 on a conflicting truncation instead)"
            )),
            None => refused_in_set_expr(&query.body),
        };
        if self.0.is_some() {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    }

    fn pre_visit_table_factor(&mut self, factor: &TableFactor) -> ControlFlow<()> {
        if let TableFactor::Table {
            sample: Some(_), ..
        }
        | TableFactor::Derived {
            sample: Some(_), ..
        } = factor
        {
            self.0 = Some("TABLESAMPLE".to_string());
            return ControlFlow::Break(());
        }
        ControlFlow::Continue(())
    }
}

fn refused_in_set_expr(body: &SetExpr) -> Option<String> {
    match body {
        SetExpr::SetOperation {
            op,
            set_quantifier,
            left,
            right,
        } => {
            if matches!(
                op,
                SetOperator::Except | SetOperator::Intersect | SetOperator::Minus
            ) && matches!(set_quantifier, SetQuantifier::All)
            {
                return Some(format!(
                    "{op} ALL (DataFusion would not count duplicate rows as PostgreSQL does; use {op} without ALL)"
                ));
            }
            refused_in_set_expr(left).or_else(|| refused_in_set_expr(right))
        }
        SetExpr::Select(select) => select.from.iter().find_map(refused_in_joins),
        _ => None,
    }
}

fn refused_in_joins(from: &TableWithJoins) -> Option<String> {
    if let TableFactor::NestedJoin {
        table_with_joins, ..
    } = &from.relation
        && let Some(clause) = refused_in_joins(table_with_joins)
    {
        return Some(clause);
    }
    for join in &from.joins {
        let (kind, constraint) = match &join.join_operator {
            JoinOperator::Right(c) | JoinOperator::RightOuter(c) => ("RIGHT", c),
            JoinOperator::FullOuter(c) => ("FULL", c),
            _ => continue,
        };
        match constraint {
            JoinConstraint::Using(_) => {
                return Some(format!(
                    "{kind} JOIN ... USING (its merged columns would not be coalesced; join ON and use COALESCE)"
                ));
            }
            JoinConstraint::Natural => {
                return Some(format!(
                    "NATURAL {kind} JOIN (its merged columns would not be coalesced; join ON and use COALESCE)"
                ));
            }
            _ => {}
        }
        if let TableFactor::NestedJoin {
            table_with_joins, ..
        } = &join.relation
            && let Some(clause) = refused_in_joins(table_with_joins)
        {
            return Some(clause);
        }
    }
    None
}
