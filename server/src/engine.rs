//! Executes classified statements for a session. The data path of every
//! statement, top to bottom: classify, plan with DataFusion, route DDL that
//! writes storage to the catalog, run everything else in DataFusion.

use std::ops::ControlFlow;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, StringArray, UInt64Array, new_null_array};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::{ParamValues, TableReference};
use datafusion::execution::SendableRecordBatchStream;
use datafusion::logical_expr::{DdlStatement, LogicalPlan, Statement as PlanStatement, WriteOp};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::sql::parser::Statement as DFStatement;
use datafusion::sql::sqlparser::ast::{
    Expr, ObjectName, ObjectNamePart, Statement, visit_expressions,
};
use lakehouse_catalog::{DEFAULT_SCHEMA, Lineage, TableIdent, WriteMode};
use lakehouse_ingest::pg_copy::{self, CopyInFormat};
use lakehouse_udfs::search_path;
use pgwire::api::results::Tag;

use crate::column_defaults::{self, DeclaredDefaults};
use crate::declared_constraints::DeclaredConstraints;
use crate::engine_settings;
use crate::error::{ServerError, ServerResult};
use crate::prepared::ProtocolStatements;
use crate::sequence_ddl;
use crate::server::ServerState;
use crate::session::{CopyIn, Session};
use crate::settings::SharedSettings;
use crate::statement::{Command, CommentTarget, CopyFormat, CopyKind, CopyOutSource, command_tag};
use crate::transaction::{Block, RestorePoint};

/// What a statement produced, before it is put on the wire.
pub enum Output {
    Rows {
        schema: SchemaRef,
        stream: SendableRecordBatchStream,
    },
    Done(Tag),
    TransactionStart(Tag),
    TransactionEnd(Tag),
    /// COPY FROM STDIN accepted; the client now sends this many columns,
    /// in binary or as text.
    CopyIn {
        columns: usize,
        binary: bool,
    },
    CopyOut {
        schema: SchemaRef,
        stream: SendableRecordBatchStream,
        format: CopyFormat,
    },
}

/// Decodes Bind parameters once the statement's parameter types are known,
/// so a parameterised statement is planned exactly once.
pub type BindParams<'a> =
    &'a (dyn Fn(&[Option<DataType>]) -> ServerResult<ParamValues> + Send + Sync);

/// Largest COPY FROM STDIN payload buffered in memory.
pub const MAX_COPY_BYTES: usize = 1 << 30;

/// What the connection knows that some commands need.
pub struct Connection<'a> {
    /// The transaction block the statement runs in.
    pub block: Block,
    /// The client's protocol-level prepared statements (for DEALLOCATE).
    pub statements: &'a dyn ProtocolStatements,
}

/// Executes one command.
pub async fn execute(
    state: &ServerState,
    session: &Session,
    command: Command,
    params: Option<BindParams<'_>>,
    connection: &Connection<'_>,
) -> ServerResult<Output> {
    let block = connection.block;
    if block == Block::Idle {
        session.with_settings(|s| s.end_implicit_transaction());
        // Outside a block nothing stays staged, however the block ended.
        if session.writes.is_open() {
            warn_all(session, session.writes.discard());
        }
    }
    follow_search_path(state, session);
    if block == Block::Failed
        && !matches!(
            command,
            Command::Rollback | Command::Commit | Command::RollbackToSavepoint(_)
        )
    {
        return Err(ServerError::InFailedTransaction);
    }
    match command {
        Command::Begin => {
            if block == Block::Idle {
                session.with_settings(|s| s.begin());
                session.writes.begin();
            } else {
                session
                    .notices
                    .warn("25001", "there is already a transaction in progress");
            }
            Ok(Output::TransactionStart(Tag::new("BEGIN")))
        }
        Command::Commit | Command::Rollback => {
            if block == Block::Idle {
                session
                    .notices
                    .warn("25P01", "there is no transaction in progress");
            }
            session.savepoints.clear();
            session.cursors.end_transaction().await;
            let committed = matches!((&command, block), (Command::Commit, Block::Open));
            // The block's rows become one Delta commit per table; if that
            // fails, the block ends as rolled back and the client is told.
            let written = if committed {
                session.writes.commit(session.lock_timeout()).await
            } else {
                Ok(0)
            };
            // A rolled-back block (or one whose COMMIT failed) takes back
            // the tables it created.
            if !committed || written.is_err() {
                warn_all(session, session.writes.discard());
            }
            session.with_settings(|s| s.end_transaction(committed && written.is_ok()));
            written?;
            let tag = match (command, block) {
                (Command::Commit, Block::Idle | Block::Open) => "COMMIT",
                _ => "ROLLBACK", // COMMIT of a failed block rolls it back
            };
            Ok(Output::TransactionEnd(Tag::new(tag)))
        }
        Command::Savepoint(name) => {
            let point = RestorePoint {
                settings: session.with_settings(|s| s.snapshot()),
                writes: session.writes.mark(),
            };
            session.savepoints.define(block, &name, point)?;
            Ok(Output::Done(Tag::new("SAVEPOINT")))
        }
        Command::ReleaseSavepoint(name) => {
            let depth = session.savepoints.release(block, &name)?;
            session.cursors.released_to(depth).await;
            Ok(Output::Done(Tag::new("RELEASE")))
        }
        // The handler reopened a failed block before this runs (see
        // `handler::revives_failed_block`); an unknown name fails it again.
        Command::RollbackToSavepoint(name) => {
            let (depth, point) = session.savepoints.rollback_to(block, &name)?;
            session.cursors.rolled_back_to(depth).await;
            session.with_settings(|s| s.restore(point.settings));
            warn_all(session, session.writes.rollback_to(point.writes));
            Ok(Output::Done(Tag::new("ROLLBACK")))
        }
        Command::Deallocate(name) => {
            session
                .prepared
                .deallocate(&session.ctx, connection.statements, name.as_deref())
                .await?;
            Ok(Output::Done(Tag::new(if name.is_some() {
                "DEALLOCATE"
            } else {
                "DEALLOCATE ALL"
            })))
        }
        Command::DiscardAll => {
            if block != Block::Idle {
                return Err(ServerError::sql(
                    "25001",
                    "DISCARD ALL cannot run inside a transaction block",
                ));
            }
            session.with_settings(|s| s.reset_all());
            engine_settings::reset_all(session);
            session.cursors.close(None).await?;
            session
                .prepared
                .deallocate(&session.ctx, connection.statements, None)
                .await?;
            Ok(Output::Done(Tag::new("DISCARD ALL")))
        }
        Command::Set {
            name,
            value,
            local: true,
        } if !name.to_ascii_lowercase().starts_with("datafusion.") => {
            if block == Block::Idle {
                session
                    .notices
                    .warn("25P01", "SET LOCAL can only be used in transaction blocks");
            } else {
                session.with_settings(|s| {
                    let value = match value {
                        Some(v) => v,
                        None => s.default_value(&name)?,
                    };
                    s.set_local(&name, &value)
                })?;
            }
            Ok(Output::Done(Tag::new("SET")))
        }
        Command::Set { name, value, .. } => set(session, &name, value).await,
        Command::Reset(name) => {
            match &name {
                Some(n) if engine_settings::is_engine_setting(n) => {
                    engine_settings::reset(session, n)?
                }
                Some(n) => session.with_settings(|s| s.reset(n))?,
                None => {
                    session.with_settings(|s| s.reset_all());
                    engine_settings::reset_all(session);
                }
            }
            Ok(Output::Done(Tag::new("RESET")))
        }
        Command::Show(name) => show(session, name),
        Command::NoOp(tag) => Ok(Output::Done(Tag::new(tag))),
        Command::CopyFrom {
            table,
            columns,
            format,
        } => copy_from_start(session, &table, &columns, &format).await,
        Command::CopyTo { source, format } => copy_to(session, source, format).await,
        Command::Query(statement) => run_statement(state, session, *statement, params).await,
        Command::CreateSequence {
            name,
            if_not_exists,
            data_type,
            options,
            owned_by,
        } => sequence_ddl::create_sequence(
            state,
            session,
            &name,
            if_not_exists,
            data_type.as_ref(),
            &options,
            owned_by.as_ref(),
        ),
        Command::DropSequence { names, if_exists } => {
            sequence_ddl::drop_sequences(state, session, &names, if_exists)
        }
        Command::CreateTable {
            statement,
            constraints,
            defaults,
        } => match plan(session, *statement, params).await? {
            LogicalPlan::Ddl(DdlStatement::CreateMemoryTable(create)) => {
                create_table(state, session, create, constraints, defaults).await
            }
            other => Err(ServerError::sql(
                "XX000",
                format!("CREATE TABLE planned as {}", other.display()),
            )),
        },
        Command::Comment { target, comment } => {
            comment_on(state, session, target, comment.as_deref()).await
        }
        Command::Declare { hold: false, .. } if block == Block::Idle => Err(ServerError::sql(
            "25P01",
            "DECLARE CURSOR can only be used in transaction blocks",
        )),
        Command::Declare {
            name,
            scroll,
            hold,
            query,
        } => match run_statement(state, session, *query, params).await? {
            Output::Rows { schema, stream } => {
                session
                    .cursors
                    .declare(
                        &name,
                        scroll,
                        hold,
                        session.savepoints.depth(),
                        schema,
                        stream,
                    )
                    .await?;
                Ok(Output::Done(Tag::new("DECLARE CURSOR")))
            }
            _ => Err(ServerError::sql(
                "42P11",
                "DECLARE CURSOR needs a query that returns rows",
            )),
        },
        Command::Fetch {
            name,
            movement,
            move_only: true,
        } => {
            let (_, batches) = session.cursors.fetch(&name, movement).await?;
            let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
            Ok(Output::Done(Tag::new("MOVE").with_rows(rows)))
        }
        Command::Fetch {
            name,
            movement,
            move_only: false,
        } => {
            let (schema, batches) = session.cursors.fetch(&name, movement).await?;
            let stream = datafusion::physical_plan::stream::RecordBatchStreamAdapter::new(
                schema.clone(),
                futures::stream::iter(batches.into_iter().map(Ok)),
            );
            Ok(Output::Rows {
                schema,
                stream: Box::pin(stream),
            })
        }
        Command::Close(name) => {
            session.cursors.close(name.as_deref()).await?;
            Ok(Output::Done(Tag::new(if name.is_some() {
                "CLOSE CURSOR"
            } else {
                "CLOSE CURSOR ALL"
            })))
        }
    }
}

async fn set(session: &Session, name: &str, value: Option<String>) -> ServerResult<Output> {
    let value = value.unwrap_or_default();
    if engine_settings::is_engine_setting(name) {
        // DataFusion's own knobs live in the session's SessionConfig.
        engine_settings::set(session, name, &value)?;
    } else {
        session.with_settings(|s| s.set(name, &value))?;
    }
    Ok(Output::Done(Tag::new("SET")))
}

fn show(session: &Session, name: Option<String>) -> ServerResult<Output> {
    let batch = match name {
        Some(name) => {
            let value = session.with_settings(|s| s.get(&name))?;
            let schema = Arc::new(Schema::new(vec![Field::new(
                crate::settings::display_name(&name),
                DataType::Utf8,
                false,
            )]));
            RecordBatch::try_new(schema, vec![Arc::new(StringArray::from(vec![value]))])
        }
        None => {
            let all = session.with_settings(|s| s.all());
            let schema = Arc::new(Schema::new(vec![
                Field::new("name", DataType::Utf8, false),
                Field::new("setting", DataType::Utf8, false),
            ]));
            let names: Vec<&str> = all.iter().map(|(k, _)| k.as_str()).collect();
            let values: Vec<&str> = all.iter().map(|(_, v)| v.as_str()).collect();
            RecordBatch::try_new(
                schema,
                vec![
                    Arc::new(StringArray::from(names)),
                    Arc::new(StringArray::from(values)),
                ],
            )
        }
    }
    .map_err(|e| ServerError::DataFusion(e.into()))?;
    Ok(rows_of(batch))
}

/// One in-memory batch as a row output.
pub fn rows_of(batch: RecordBatch) -> Output {
    let schema = batch.schema();
    let stream = futures::stream::once(async move { Ok(batch) });
    Output::Rows {
        schema: schema.clone(),
        stream: Box::pin(RecordBatchStreamAdapter::new(schema, stream)),
    }
}

/// Functions that answer from the catalog snapshot the last `pg_class` scan
/// left (see `lakehouse_catalog::pg_catalog::PgAnnotations`).
const CATALOG_SNAPSHOT_FUNCTIONS: [&str; 10] = [
    "to_regclass",
    "pg_table_is_visible",
    "regclass_name",
    "column_names",
    "obj_description",
    "col_description",
    "pg_get_constraintdef",
    "pg_get_indexdef",
    "pg_table_size",
    "pg_relation_size",
];

fn calls_catalog_snapshot_functions(statement: &Statement) -> bool {
    visit_expressions(statement, |expr| match expr {
        Expr::Function(f)
            if f.name.0.last().is_some_and(|name| {
                let name = name.to_string().to_ascii_lowercase();
                CATALOG_SNAPSHOT_FUNCTIONS.contains(&name.as_str())
            }) =>
        {
            ControlFlow::Break(())
        }
        _ => ControlFlow::Continue(()),
    })
    .is_break()
}

/// Plans a statement in the session, binding parameters if there are any.
pub async fn plan(
    session: &Session,
    statement: Statement,
    params: Option<BindParams<'_>>,
) -> ServerResult<LogicalPlan> {
    // A statement that looks relations up by oid or name must see the
    // tables that exist now, not those of an earlier catalog scan: scanning
    // pg_class takes a new snapshot.
    if calls_catalog_snapshot_functions(&statement) {
        session
            .ctx
            .sql("SELECT count(*) FROM pg_catalog.pg_class")
            .await?
            .collect()
            .await?;
    }
    crate::unimplemented_clauses::refuse_in_query(&statement)?;
    let mut statement = statement;
    crate::path_lookup::qualify_from_search_path(session, &mut statement);
    let mut plan = plan_statement(session, statement.clone()).await?;
    // `x = ANY($n)` with an untyped parameter was planned as text[] (see
    // compat_rewrite); where `x` is not text, the parameter is an array of
    // x's type, as PostgreSQL infers it (asyncpg sends what it is told).
    let retyped = crate::params::any_parameter_element_types(&plan)?;
    if !retyped.is_empty() && crate::params::retype_any_parameters(&mut statement, &retyped) {
        plan = plan_statement(session, statement).await?;
    }
    Ok(match params {
        Some(bind) => {
            let values = bind(&crate::params::inferred_types(&plan)?)?;
            plan.with_param_values(values)?
        }
        None => plan,
    })
}

async fn plan_statement(session: &Session, statement: Statement) -> ServerResult<LogicalPlan> {
    Ok(session
        .ctx
        .state()
        .statement_to_plan(DFStatement::Statement(Box::new(statement)))
        .await?)
}

async fn run_statement(
    state: &ServerState,
    session: &Session,
    mut statement: Statement,
    params: Option<BindParams<'_>>,
) -> ServerResult<Output> {
    if let Statement::Insert(insert) = &mut statement {
        apply_column_defaults(state, session, insert).await?;
    }
    let tag = command_tag(&statement);
    let text = statement.to_string();
    let plan = plan(session, statement, params).await?;
    match plan {
        LogicalPlan::Ddl(DdlStatement::CreateExternalTable(_)) | LogicalPlan::Copy(_) => {
            Err(ServerError::InsufficientPrivilege(
                "reading or writing server files from SQL is not allowed".into(),
            ))
        }
        LogicalPlan::Dml(dml)
            if matches!(
                dml.op,
                WriteOp::Insert(_) | WriteOp::Update | WriteOp::Delete | WriteOp::Truncate
            ) =>
        {
            let is_insert = matches!(dml.op, WriteOp::Insert(_));
            let is_truncate = matches!(dml.op, WriteOp::Truncate);
            let df = session
                .ctx
                .execute_logical_plan(LogicalPlan::Dml(dml))
                .await?;
            let batches = session.queries.collect(df, text).await?;
            let count = affected_rows(&batches);
            Ok(Output::Done(if is_insert {
                Tag::new("INSERT").with_oid(0).with_rows(count)
            } else if is_truncate {
                Tag::new("TRUNCATE TABLE")
            } else {
                Tag::new(&tag).with_rows(count)
            }))
        }
        // EXECUTE runs the prepared plan and returns its rows.
        LogicalPlan::Ddl(_) | LogicalPlan::Statement(_)
            if !matches!(plan, LogicalPlan::Statement(PlanStatement::Execute(_))) =>
        {
            let prepared = match &plan {
                LogicalPlan::Statement(PlanStatement::Prepare(p)) => Some(p.name.clone()),
                _ => None,
            };
            // A dropped table's staged rows go with it.
            let dropped = match &plan {
                LogicalPlan::Ddl(DdlStatement::DropTable(drop)) => {
                    Some(ident_of(&drop.name, &current_schema(session)))
                }
                _ => None,
            };
            let df = session.ctx.execute_logical_plan(plan).await?;
            session.queries.collect(df, text).await?;
            if let Some(name) = prepared {
                session.prepared.prepared(&name);
            }
            if let Some(ident) = dropped {
                session.writes.forget(&ident);
                // Serial and identity columns' sequences go with their table.
                if !state.catalog.store().table_exists(&ident) {
                    let sequences = state.catalog.sequences();
                    column_defaults::drop_sequences(sequences, &sequences.owned_by_table(&ident));
                }
            }
            Ok(Output::Done(Tag::new(&tag)))
        }
        plan => {
            let df = session.ctx.execute_logical_plan(plan).await?;
            let schema: SchemaRef = Arc::new(df.schema().as_arrow().clone());
            let stream = session.queries.stream(df, text);
            Ok(Output::Rows { schema, stream })
        }
    }
}

fn affected_rows(batches: &[RecordBatch]) -> usize {
    batches
        .iter()
        .filter_map(|b| b.columns().first())
        .filter_map(|c| c.as_any().downcast_ref::<UInt64Array>())
        .map(|a| a.iter().flatten().sum::<u64>() as usize)
        .sum()
}

/// Resolves a DataFusion table reference, unqualified in `current_schema`.
fn ident_of(reference: &TableReference, current_schema: &str) -> TableIdent {
    TableIdent::new(
        reference.schema().unwrap_or(current_schema),
        reference.table(),
    )
}

/// Where unqualified names resolve and CREATE TABLE creates: DataFusion's
/// default schema, which [`follow_search_path`] keeps on the search path.
pub(crate) fn current_schema(session: &Session) -> String {
    session
        .ctx
        .state_ref()
        .read()
        .config_options()
        .catalog
        .default_schema
        .clone()
}

/// Points DataFusion's default schema at the session's current schema (the
/// first existing schema of its `search_path`, `public` when none exists), so
/// `SET search_path`, `set_config()` and `options=-csearch_path=...` decide
/// where unqualified names resolve. Run before planning each statement: the
/// path or the schemas may have changed since the last one.
pub fn follow_search_path(state: &ServerState, session: &Session) {
    let settings = SharedSettings(session.settings.clone());
    let schema = search_path::current_schema(&settings, state.catalog.store())
        .unwrap_or_else(|| DEFAULT_SCHEMA.to_string());
    if current_schema(session) != schema {
        session
            .ctx
            .state_ref()
            .write()
            .config_mut()
            .options_mut()
            .catalog
            .default_schema = schema;
    }
}

/// `CREATE TABLE` (empty, with column definitions) and `CREATE TABLE AS`:
/// both become a Delta table in one commit. Serial and identity columns get
/// their sequences first; if the table cannot be created they are dropped.
async fn create_table(
    state: &ServerState,
    session: &Session,
    create: datafusion::logical_expr::CreateMemoryTable,
    declared: DeclaredConstraints,
    defaults: DeclaredDefaults,
) -> ServerResult<Output> {
    let ident = ident_of(&create.name, &current_schema(session));
    let store = state.catalog.store();
    let exists = store.table_exists(&ident);
    if exists && create.if_not_exists {
        session.notices.push(format!(
            "relation \"{}\" already exists, skipping",
            ident.table
        ));
        return Ok(Output::Done(Tag::new("CREATE TABLE")));
    }
    let columns: Vec<String> = create
        .input
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    let mut constraints = declared
        .resolve(&ident, &columns, store, &current_schema(session))
        .await?;
    let sequences = state.catalog.sequences();
    let replaced_sequences = if exists && create.or_replace {
        sequences.owned_by_table(&ident)
    } else {
        Vec::new()
    };
    let created_sequences = defaults.resolve(
        &ident,
        create.input.schema(),
        store,
        sequences,
        &mut constraints,
    )?;
    match write_new_table(state, session, &ident, exists, create, &constraints).await {
        Ok(output) => {
            column_defaults::drop_sequences(sequences, &replaced_sequences);
            Ok(output)
        }
        Err(e) => {
            column_defaults::drop_sequences(sequences, &created_sequences);
            Err(e)
        }
    }
}

/// The commit of [`create_table`].
async fn write_new_table(
    state: &ServerState,
    session: &Session,
    ident: &TableIdent,
    exists: bool,
    create: datafusion::logical_expr::CreateMemoryTable,
    constraints: &lakehouse_catalog::TableConstraints,
) -> ServerResult<Output> {
    let store = state.catalog.store();
    if exists && create.or_replace {
        // The replaced table's staged rows go with it.
        session.writes.forget(ident);
    }
    let is_empty_definition = matches!(
        create.input.as_ref(),
        LogicalPlan::EmptyRelation(e) if !e.produce_one_row
    );
    if is_empty_definition {
        let schema: SchemaRef = Arc::new(create.input.schema().as_arrow().clone());
        if exists && create.or_replace {
            store
                .write_batches(
                    ident,
                    schema,
                    Vec::new(),
                    WriteMode::Replace,
                    &session.user,
                    None,
                )
                .await?;
            store
                .set_constraints(ident, constraints, &session.user)
                .await?;
        } else {
            store
                .create_table(ident, schema, &session.user, constraints)
                .await?;
            session.writes.created(ident);
        }
        return Ok(Output::Done(Tag::new("CREATE TABLE")));
    }
    let mode = if create.or_replace && exists {
        WriteMode::Replace
    } else {
        WriteMode::Create
    };
    let lineage = Lineage {
        operation: "create_table_as".into(),
        source: None,
        sha256: None,
        user: session.user.clone(),
    };
    let table = store
        .write_plan(
            ident,
            create.input.as_ref().clone(),
            Arc::new(session.ctx.state()),
            mode,
            &session.user,
            Some(&lineage),
        )
        .await?;
    let rows = store.row_count(&table)?;
    if !constraints.is_empty() || mode == WriteMode::Replace {
        store
            .set_constraints(ident, constraints, &session.user)
            .await?;
    }
    if mode == WriteMode::Create {
        session.writes.created(ident);
    }
    Ok(Output::Done(Tag::new("SELECT").with_rows(rows as usize)))
}

/// Before an INSERT is planned: `DEFAULT` in `VALUES` rows and values given
/// to `GENERATED ALWAYS` identity columns (see [`column_defaults`]). A
/// table without either costs one lookup in the provider cache.
async fn apply_column_defaults(
    state: &ServerState,
    session: &Session,
    insert: &mut datafusion::sql::sqlparser::ast::Insert,
) -> ServerResult<()> {
    let Some(name) = column_defaults::insert_target(insert) else {
        return Ok(());
    };
    let ident = table_ident(name, &current_schema(session))?;
    // An unknown table is DataFusion's to report.
    let Some((columns, declared)) = state.catalog.store().declared(&ident).await? else {
        return Ok(());
    };
    if declared.column_defaults.is_empty() && !column_defaults::uses_default_keyword(insert) {
        return Ok(());
    }
    column_defaults::prepare_insert(insert, &columns, &declared)
}

/// Sends each of `warnings` to the client as a WARNING.
fn warn_all(session: &Session, warnings: Vec<String>) {
    for warning in warnings {
        session.notices.warn("01000", warning);
    }
}

/// `COMMENT ON TABLE` / `COMMENT ON COLUMN`: one Delta commit on the table.
async fn comment_on(
    state: &ServerState,
    session: &Session,
    target: CommentTarget,
    comment: Option<&str>,
) -> ServerResult<Output> {
    let store = state.catalog.store();
    match target {
        CommentTarget::Table(name) => {
            let ident = table_ident(&name, &current_schema(session))?;
            store
                .set_table_comment(&ident, comment, &session.user)
                .await?
        }
        CommentTarget::Column(table, column) => {
            let ident = table_ident(&table, &current_schema(session))?;
            let column = if column.quote_style.is_none() {
                column.value.to_lowercase()
            } else {
                column.value
            };
            store
                .set_column_comment(&ident, &column, comment, &session.user)
                .await?
        }
    }
    Ok(Output::Done(Tag::new("COMMENT")))
}

/// The table a parsed name denotes, unqualified in `current_schema`.
pub(crate) fn table_ident(name: &ObjectName, current_schema: &str) -> ServerResult<TableIdent> {
    Ok(ident_of(&table_reference(name)?, current_schema))
}

/// Turns a parsed object name into a table reference, folding unquoted
/// identifiers to lower case as Postgres does.
fn table_reference(name: &ObjectName) -> ServerResult<TableReference> {
    let parts: Vec<String> = name
        .0
        .iter()
        .map(|p| match p {
            ObjectNamePart::Identifier(i) if i.quote_style.is_none() => Ok(i.value.to_lowercase()),
            ObjectNamePart::Identifier(i) => Ok(i.value.clone()),
            other => Err(ServerError::sql(
                "42601",
                format!("invalid table name {other}"),
            )),
        })
        .collect::<ServerResult<_>>()?;
    Ok(match parts.as_slice() {
        [t] => TableReference::bare(t.as_str()),
        [s, t] => TableReference::partial(s.as_str(), t.as_str()),
        [c, s, t] => TableReference::full(c.as_str(), s.as_str(), t.as_str()),
        _ => {
            return Err(ServerError::sql(
                "42601",
                format!("invalid table name {name}"),
            ));
        }
    })
}

async fn copy_from_start(
    session: &Session,
    table: &ObjectName,
    columns: &[String],
    format: &CopyFormat,
) -> ServerResult<Output> {
    let reference = table_reference(table)?;
    let provider = session.ctx.table_provider(reference.clone()).await?;
    let table_schema = provider.schema();
    let copy_schema = if columns.is_empty() {
        table_schema.clone()
    } else {
        let fields: Vec<Field> = columns
            .iter()
            .map(|c| {
                let name = c.to_lowercase();
                table_schema
                    .field_with_name(&name)
                    .map(|f| f.as_ref().clone().with_nullable(true))
                    .map_err(|_| {
                        ServerError::sql(
                            "42703",
                            format!(
                                "column \"{name}\" of relation \"{}\" does not exist",
                                reference.table()
                            ),
                        )
                    })
            })
            .collect::<ServerResult<_>>()?;
        Arc::new(Schema::new(fields))
    };
    // CopyFormat checked that these are single ASCII bytes.
    let in_format = match format.kind {
        CopyKind::Text => CopyInFormat::Text {
            delimiter: format.delimiter as u8,
            null: format.null.clone(),
        },
        CopyKind::Binary => CopyInFormat::Binary,
        CopyKind::Csv => CopyInFormat::Csv {
            delimiter: format.delimiter as u8,
            quote: format.quote as u8,
            null: format.null.clone(),
            header: format.header,
        },
    };
    let columns = copy_schema.fields().len();
    let defaults = table_schema
        .fields()
        .iter()
        .filter(|f| copy_schema.index_of(f.name()).is_err())
        .filter_map(|f| {
            let default = provider.get_column_default(f.name())?;
            Some((f.name().clone(), default.clone()))
        })
        .collect();
    *session.copy_in.lock().await = Some(CopyIn {
        target: ident_of(&reference, &current_schema(session)),
        table_schema,
        copy_schema,
        defaults,
        format: in_format,
        data: Vec::new(),
    });
    Ok(Output::CopyIn {
        columns,
        binary: format.kind == CopyKind::Binary,
    })
}

/// `rows` values of a column default (one `nextval` per row).
fn column_default_values(
    session: &Session,
    default: &datafusion::logical_expr::Expr,
    data_type: &DataType,
    rows: usize,
) -> ServerResult<ArrayRef> {
    use datafusion::arrow::record_batch::RecordBatchOptions;
    use datafusion::common::DFSchema;
    use datafusion::logical_expr::ExprSchemable;
    let empty = DFSchema::empty();
    let expr = default.clone().cast_to(data_type, &empty)?;
    let physical = session.ctx.create_physical_expr(expr, &empty)?;
    let input = RecordBatch::try_new_with_options(
        Arc::new(Schema::empty()),
        vec![],
        &RecordBatchOptions::new().with_row_count(Some(rows)),
    )
    .map_err(datafusion::error::DataFusionError::from)?;
    Ok(physical.evaluate(&input)?.into_array(rows)?)
}

/// Completes a COPY FROM STDIN: decodes the buffered data and appends it as
/// one commit (inside a transaction block, stages it for COMMIT). Returns the
/// number of rows.
pub async fn copy_from_finish(
    state: &ServerState,
    session: &Session,
    copy: CopyIn,
) -> ServerResult<usize> {
    let batch = pg_copy::decode(&copy.data, &copy.format, &copy.copy_schema)?;
    let rows = batch.num_rows();
    // Lay the copied columns out as the table's: the rest get their
    // defaults (NULL without one), as in PostgreSQL.
    let columns: Vec<ArrayRef> = copy
        .table_schema
        .fields()
        .iter()
        .map(|f| match copy.copy_schema.index_of(f.name()) {
            Ok(i) => Ok(batch.column(i).clone()),
            Err(_) => match copy.defaults.get(f.name()) {
                Some(default) => column_default_values(session, default, f.data_type(), rows),
                None => Ok(new_null_array(f.data_type(), rows)),
            },
        })
        .collect::<ServerResult<_>>()?;
    let mut full = RecordBatch::try_new(copy.table_schema.clone(), columns)
        .map_err(|e| ServerError::sql("23502", format!("COPY into {}: {e}", copy.target)))?;
    // varchar(n) / char(n) lengths, as an INSERT applies them.
    if let Some((_, declared)) = state.catalog.store().declared(&copy.target).await? {
        full = declared.fit_declared_lengths(full)?;
    }
    if session.writes.is_open() {
        session
            .writes
            .stage(&copy.target, &copy.table_schema, vec![full])?;
        return Ok(rows);
    }
    let lineage = Lineage {
        operation: "copy".into(),
        source: Some("STDIN".into()),
        sha256: None,
        user: session.user.clone(),
    };
    state
        .catalog
        .store()
        .write_batches(
            &copy.target,
            copy.table_schema.clone(),
            vec![full],
            WriteMode::Append,
            &session.user,
            Some(&lineage),
        )
        .await?;
    Ok(rows)
}

async fn copy_to(
    session: &Session,
    source: CopyOutSource,
    format: CopyFormat,
) -> ServerResult<Output> {
    if format.kind == CopyKind::Binary {
        return Err(ServerError::Unsupported("COPY TO in binary format".into()));
    }
    let df = match source {
        CopyOutSource::Table { name, columns } => {
            let df = session.ctx.table(table_reference(&name)?).await?;
            if columns.is_empty() {
                df
            } else {
                let lowered: Vec<String> = columns.iter().map(|c| c.to_lowercase()).collect();
                let refs: Vec<&str> = lowered.iter().map(String::as_str).collect();
                df.select_columns(&refs)?
            }
        }
        CopyOutSource::Query(query) => {
            let plan = plan(session, Statement::Query(query), None).await?;
            session.ctx.execute_logical_plan(plan).await?
        }
    };
    let schema: SchemaRef = Arc::new(df.schema().as_arrow().clone());
    let stream = session.queries.stream(df, "COPY ... TO STDOUT".to_string());
    Ok(Output::CopyOut {
        schema,
        stream,
        format,
    })
}
