//! Unqualified relations found through the whole search path.
//!
//! DataFusion resolves an unqualified name in one default schema, which
//! `engine::follow_search_path` keeps on the session's current schema (the
//! first existing schema of `search_path`). PostgreSQL looks further: a name
//! the current schema lacks is looked up in the next schemas of the path, in
//! order. Before planning a query or an INSERT, such names are qualified with
//! the schema that has them; names no schema has are left for DataFusion to
//! report.

use std::collections::HashMap;
use std::ops::ControlFlow;

use datafusion::common::TableReference;
use datafusion::sql::parser::Statement as DFStatement;
use datafusion::sql::sqlparser::ast::{
    Ident, ObjectName, ObjectNamePart, Statement, visit_relations_mut,
};
use lakehouse_udfs::search_path::path_schemas;

use crate::session::Session;
use crate::settings::SharedSettings;

/// Qualifies the statement's unqualified relations that only a later schema
/// of the search path has. Does nothing for a path of one existing schema.
pub fn qualify_from_search_path(session: &Session, statement: &mut Statement) {
    if !matches!(statement, Statement::Query(_) | Statement::Insert(_)) {
        return; // CREATE / DROP name the current schema's objects
    }
    let state = session.ctx.state();
    let options = state.config_options();
    let Some(catalog) = state
        .catalog_list()
        .catalog(&options.catalog.default_catalog)
    else {
        return;
    };
    let current = options.catalog.default_schema.clone();
    let later: Vec<_> = path_schemas(&SharedSettings(session.settings.clone()))
        .into_iter()
        .filter(|s| *s != current)
        .filter_map(|s| catalog.schema(&s).map(|provider| (s, provider)))
        .collect();
    if later.is_empty() {
        return;
    }
    let Some(current_schema) = catalog.schema(&current) else {
        return;
    };
    let statement_ref = DFStatement::Statement(Box::new(statement.clone()));
    let Ok(references) = state.resolve_table_references(&statement_ref) else {
        return;
    };
    // Bare name -> the later schema that has it.
    let found: HashMap<String, String> = references
        .iter()
        .filter_map(|r| match r {
            TableReference::Bare { table } => Some(table.to_string()),
            _ => None,
        })
        .filter(|table| !current_schema.table_exist(table))
        .filter_map(|table| {
            let schema = later.iter().find(|(_, p)| p.table_exist(&table))?.0.clone();
            Some((table, schema))
        })
        .collect();
    if found.is_empty() {
        return;
    }
    let _ = visit_relations_mut(statement, |name: &mut ObjectName| {
        if let [ObjectNamePart::Identifier(ident)] = name.0.as_slice() {
            let table = match ident.quote_style {
                Some(_) => ident.value.clone(),
                None => ident.value.to_lowercase(),
            };
            if let Some(schema) = found.get(&table) {
                name.0.insert(
                    0,
                    ObjectNamePart::Identifier(Ident::with_quote('"', schema)),
                );
            }
        }
        ControlFlow::<()>::Continue(())
    });
}
