//! `CREATE SEQUENCE` and `DROP SEQUENCE`. The sequences themselves (their
//! values, crash safety) live in `lakehouse_catalog::SequenceStore`.

use datafusion::sql::sqlparser::ast::{DataType, ObjectName, SequenceOptions};
use lakehouse_catalog::{OwnedBy, TableIdent};
use pgwire::api::results::Tag;

use crate::column_defaults::sequence_definition;
use crate::engine::{Output, current_schema, table_ident};
use crate::error::{ServerError, ServerResult};
use crate::server::ServerState;
use crate::session::Session;

/// `CREATE SEQUENCE [IF NOT EXISTS] name [AS type] [options] [OWNED BY t.c]`.
pub fn create_sequence(
    state: &ServerState,
    session: &Session,
    name: &ObjectName,
    if_not_exists: bool,
    data_type: Option<&DataType>,
    options: &[SequenceOptions],
    owned_by: Option<&ObjectName>,
) -> ServerResult<Output> {
    let schema = current_schema(session);
    let ident = table_ident(name, &schema)?;
    let type_name = match data_type {
        None => "bigint",
        Some(DataType::SmallInt(_) | DataType::Int2(_)) => "smallint",
        Some(DataType::Int(_) | DataType::Integer(_) | DataType::Int4(_)) => "integer",
        Some(DataType::BigInt(_) | DataType::Int8(_)) => "bigint",
        Some(other) => {
            return Err(ServerError::sql(
                "22023",
                format!("sequence type must be smallint, integer, or bigint, not {other}"),
            ));
        }
    };
    let store = state.catalog.store();
    if !store.schema_exists(&ident.schema) {
        return Err(ServerError::sql(
            "3F000",
            format!("schema \"{}\" does not exist", ident.schema),
        ));
    }
    if store.table_exists(&ident)
        || state
            .catalog
            .views()
            .get(&ident.schema, &ident.table)
            .is_some()
    {
        return Err(ServerError::sql(
            "42P07",
            format!("relation \"{}\" already exists", ident.table),
        ));
    }
    let mut definition = sequence_definition(type_name, options)?;
    if let Some(owner) = owned_by {
        definition.owned_by = owned_column(owner, &schema, &ident, state)?;
    }
    let created = state
        .catalog
        .sequences()
        .create(&ident, definition, if_not_exists)?;
    if !created {
        session.notices.push(format!(
            "relation \"{}\" already exists, skipping",
            ident.table
        ));
    }
    Ok(Output::Done(Tag::new("CREATE SEQUENCE")))
}

/// `OWNED BY table.column` (the table in the sequence's schema) or `NONE`.
fn owned_column(
    owner: &ObjectName,
    current_schema: &str,
    sequence: &TableIdent,
    state: &ServerState,
) -> ServerResult<Option<OwnedBy>> {
    let parts: Vec<String> = owner
        .0
        .iter()
        .map(|p| p.to_string().to_lowercase())
        .collect();
    let (table, column) = match parts.as_slice() {
        [none] if none == "none" => return Ok(None),
        [table, column] => (TableIdent::new(current_schema, table), column.clone()),
        [schema, table, column] => (TableIdent::new(schema, table), column.clone()),
        _ => {
            return Err(ServerError::sql(
                "42601",
                format!("invalid OWNED BY option {owner}: name a table column"),
            ));
        }
    };
    if table.schema != sequence.schema {
        return Err(ServerError::sql(
            "55000",
            "sequence must be in same schema as table it is linked to",
        ));
    }
    if !state.catalog.store().table_exists(&table) {
        return Err(ServerError::sql(
            "42P01",
            format!("relation \"{}\" does not exist", table.table),
        ));
    }
    Ok(Some(OwnedBy {
        schema: table.schema,
        table: table.table,
        column,
    }))
}

/// `DROP SEQUENCE [IF EXISTS] name, ...`: all named sequences must exist
/// (unless IF EXISTS), checked before any is dropped.
pub fn drop_sequences(
    state: &ServerState,
    session: &Session,
    names: &[ObjectName],
    if_exists: bool,
) -> ServerResult<Output> {
    let schema = current_schema(session);
    let sequences = state.catalog.sequences();
    let mut idents = Vec::with_capacity(names.len());
    for name in names {
        let ident = table_ident(name, &schema)?;
        if sequences.exists(&ident) {
            idents.push(ident);
        } else if if_exists {
            session.notices.push(format!(
                "sequence \"{}\" does not exist, skipping",
                ident.table
            ));
        } else {
            return Err(ServerError::sql(
                "42P01",
                format!("sequence \"{}\" does not exist", ident.table),
            ));
        }
    }
    for ident in &idents {
        if let Some(owner) = sequences.owner(ident).filter(|o| {
            state
                .catalog
                .store()
                .table_exists(&TableIdent::new(&o.schema, &o.table))
        }) {
            return Err(ServerError::sql(
                "2BP01",
                format!(
                    "cannot drop sequence {} because the default of column {} of table {} requires it (drop the table, or the column's default)",
                    ident.table, owner.column, owner.table
                ),
            ));
        }
    }
    for ident in &idents {
        sequences.drop_sequence(ident)?;
    }
    Ok(Output::Done(Tag::new("DROP SEQUENCE")))
}
