//! The pgwire front end: simple and extended query, COPY, describe.
//!
//! Everything here is about the wire: parsing text into statements, turning
//! [`Output`] into protocol responses, tracking transaction status. What a
//! statement does lives in [`crate::engine`].

use std::fmt::Debug;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::sql::sqlparser::ast::Statement;
use datafusion::sql::sqlparser::parser::ParserError;
use datafusion_pg_catalog::sql::PostgresCompatibilityParser;
use futures::{Sink, SinkExt, StreamExt, stream};
use pgwire::api::copy::CopyHandler;
use pgwire::api::portal::{Format, Portal};
use pgwire::api::query::{ExtendedQueryHandler, SimpleQueryHandler};
use pgwire::api::results::{
    CopyResponse, DescribePortalResponse, DescribeStatementResponse, FieldInfo, QueryResponse,
    Response, Tag,
};
use pgwire::api::stmt::{QueryParser, StoredStatement};
use pgwire::api::store::{Entry, PortalStore};
use pgwire::api::{ClientInfo, ClientPortalStore, DEFAULT_NAME, Type};
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use pgwire::messages::PgWireBackendMessage;
use pgwire::messages::copy::{CopyData, CopyDone, CopyFail};
use pgwire::messages::extendedquery::{
    Bind, BindComplete, Close, CloseComplete, Execute, Parse, ParseComplete,
    TARGET_TYPE_BYTE_PORTAL, TARGET_TYPE_BYTE_STATEMENT,
};
use pgwire::messages::response::{CommandComplete, TransactionStatus};
use pgwire::messages::simplequery::Query;
use pgwire::messages::startup::ParameterStatus;

use crate::cancel::{Interrupted, cancellable, interrupted};
use crate::compat_rewrite;
use crate::copy_out::CopyLineEncoder;
use crate::cursors::Movement;
use crate::encode::{self, field_infos};
use crate::engine::{self, MAX_COPY_BYTES, Output};
use crate::error::{ServerError, ServerResult};
use crate::expression_depth;
use crate::fetch_syntax;
use crate::panic_boundary::{self, guard_stream};
use crate::params;
use crate::prepared::ProtocolStatements;
use crate::server::ServerState;
use crate::session::Session;
use crate::statement::{Command, CopyFormat, CopyKind, classify};
use crate::transaction::Block;

/// A statement kept by the extended protocol between Parse and Execute.
#[derive(Debug, Clone)]
pub struct PreparedStatement {
    pub command: Command,
    /// The SQL text the client sent (for logs).
    pub sql: Arc<str>,
    /// Placeholders the SQL casts to `oid` / `oid[]` (`$1::oid[]`), which
    /// DataFusion plans as plain integers; drivers expect the oid types back in
    /// the parameter description (asyncpg decodes `oid[]` natively, not `int4[]`).
    pub oid_params: Vec<(usize, Type)>,
}

impl PreparedStatement {
    /// The client's declared parameter types, with the oid placeholders filled in.
    pub fn declared_types(&self, from_parse: &[Option<Type>]) -> Vec<Option<Type>> {
        let mut types = from_parse.to_vec();
        for (i, ty) in &self.oid_params {
            if types.len() <= *i {
                types.resize(i + 1, None);
            }
            if matches!(&types[*i], None | Some(Type::UNKNOWN)) {
                types[*i] = Some(ty.clone());
            }
        }
        types
    }
}

/// Splits SQL text into statements, with the client-compatibility rewrites
/// (`::regclass`, `OPERATOR(pg_catalog.~)`, ...) psql and drivers rely on.
#[derive(Debug)]
pub struct SqlParser {
    compat: PostgresCompatibilityParser,
}

impl SqlParser {
    pub fn new() -> Self {
        SqlParser {
            compat: PostgresCompatibilityParser::new(),
        }
    }

    pub fn parse(&self, sql: &str) -> ServerResult<Vec<Statement>> {
        Ok(self.parse_with_oid_params(sql)?.0)
    }

    /// Parses, also returning the placeholders the SQL casts to oid types.
    fn parse_with_oid_params(
        &self,
        sql: &str,
    ) -> ServerResult<(Vec<Statement>, compat_rewrite::OidParams)> {
        refuse_external_tables(sql)?;
        expression_depth::check(sql)?;
        if let Some(fetch) = fetch_syntax::parse(sql) {
            return Ok((vec![fetch], Vec::new()));
        }
        let rewritten = compat_rewrite::rewrite(sql);
        let statements = self.compat.parse(&rewritten.sql).map_err(|e| match e {
            // sqlparser counts nesting; PostgreSQL words this as its own.
            ParserError::RecursionLimitExceeded => ServerError::sql(
                "54001",
                "stack depth limit exceeded: the statement nests expressions too deeply",
            ),
            e => ServerError::sql("42601", format!("syntax error: {e}")),
        })?;
        Ok((statements, rewritten.oid_params))
    }
}

/// DataFusion's `CREATE [UNBOUNDED] EXTERNAL TABLE` reads server files; it is
/// not Postgres syntax, so it is recognised before parsing and refused.
fn refuse_external_tables(sql: &str) -> ServerResult<()> {
    let words: Vec<String> = sql
        .split_whitespace()
        .take(4)
        .map(|w| w.to_ascii_lowercase())
        .collect();
    let external = matches!(
        words
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .as_slice(),
        ["create", "external", "table", ..] | ["create", "unbounded", "external", "table"]
    );
    if external {
        return Err(ServerError::InsufficientPrivilege(
            "CREATE EXTERNAL TABLE reads server files directly; load data with ingest_csv() or COPY FROM STDIN".into(),
        ));
    }
    Ok(())
}

impl Default for SqlParser {
    fn default() -> Self {
        Self::new()
    }
}

#[async_trait]
impl QueryParser for SqlParser {
    type Statement = PreparedStatement;

    async fn parse_sql<C>(
        &self,
        _client: &C,
        sql: &str,
        _types: &[Option<Type>],
    ) -> PgWireResult<Option<PreparedStatement>>
    where
        C: ClientInfo + Unpin + Send + Sync,
    {
        let (mut statements, oid_params) = self.parse_with_oid_params(sql)?;
        match statements.len() {
            0 => Ok(None),
            1 => {
                let statement = statements.remove(0);
                Ok(Some(PreparedStatement {
                    command: classify(statement)?,
                    sql: Arc::from(sql),
                    oid_params,
                }))
            }
            _ => Err(ServerError::sql(
                "42601",
                "cannot insert multiple commands into a prepared statement",
            )
            .into()),
        }
    }

    fn get_parameter_types(&self, _stmt: &PreparedStatement) -> PgWireResult<Vec<Type>> {
        Ok(Vec::new()) // described by LakehouseHandler, which can plan
    }

    fn get_result_schema(
        &self,
        _stmt: &PreparedStatement,
        _column_format: Option<&Format>,
    ) -> PgWireResult<Vec<FieldInfo>> {
        Ok(Vec::new())
    }
}

/// Handles every query-phase message of every connection.
pub struct LakehouseHandler {
    state: Arc<ServerState>,
    parser: Arc<SqlParser>,
}

impl LakehouseHandler {
    pub fn new(state: Arc<ServerState>) -> Self {
        LakehouseHandler {
            state,
            parser: Arc::new(SqlParser::new()),
        }
    }
}

/// The session created at authentication.
fn session_of<C: ClientInfo>(client: &C) -> PgWireResult<Arc<Session>> {
    client
        .session_extensions()
        .get::<Session>()
        .ok_or(PgWireError::NoAuthenticationInProgress)
}

/// Reads the first batch now, so planning/execution errors and cancellation
/// happen before the row description is sent, then streams the rest. A
/// cancel request or the statement timeout stops the wait.
async fn prefetch(
    mut stream: SendableRecordBatchStream,
    interrupted: Interrupted,
) -> ServerResult<(Option<RecordBatch>, SendableRecordBatchStream)> {
    let first = tokio::select! {
        first = stream.next() => first.transpose()?,
        interrupt = interrupted => return Err(ServerError::sql("57014", interrupt.message())),
    };
    Ok((first, stream))
}

async fn rows_response(
    schema: &SchemaRef,
    stream: SendableRecordBatchStream,
    format: &Format,
    tag: &str,
    cancelled: Interrupted,
    statement: &str,
) -> ServerResult<Response> {
    let (first, rest) = prefetch(stream, cancelled.clone()).await?;
    let fields = Arc::new(field_infos(schema, format));
    let batches = stream::iter(first.map(Ok)).chain(rest);
    let encode_fields = fields.clone();
    let encoded = batches.map(move |batch| match batch {
        Ok(b) => encode::encode_rows(&b, &encode_fields),
        Err(e) => Err(ServerError::from(e).into()),
    });
    // Cancellation is checked once per batch, not per row; a panic while
    // encoding fails the statement, not the connection.
    let rows = flatten(guard_stream(
        cancellable(encoded, cancelled),
        statement.to_string(),
    ));
    let mut response = QueryResponse::new(fields, rows);
    response.set_command_tag(tag);
    Ok(Response::Query(response))
}

fn copy_out_response(
    schema: &SchemaRef,
    stream: SendableRecordBatchStream,
    format: &CopyFormat,
    cancelled: Interrupted,
    statement: &str,
) -> Response {
    let fields = Arc::new(encode::text_field_infos(schema));
    let columns = fields.len();
    let header = (format.kind == CopyKind::Csv && format.header)
        .then(|| CopyLineEncoder::new(fields.clone(), format).header(schema));
    let mut encoder = CopyLineEncoder::new(fields, format);
    let encoded = stream.map(move |batch| {
        batch
            .map_err(|e| ServerError::from(e).into())
            .and_then(|b| encode::encode_batch(&b, &mut encoder, CopyLineEncoder::take_line))
    });
    let data = flatten(guard_stream(
        cancellable(encoded, cancelled),
        statement.to_string(),
    ));
    let data = crate::copy_out::header_with_first_row(header, Box::pin(data));
    Response::CopyOut(CopyResponse::new(0, columns, Box::pin(data)))
}

/// One item per element of each encoded batch; an error ends the stream.
fn flatten<T: Send + 'static>(
    batches: impl futures::Stream<Item = PgWireResult<Vec<T>>> + Send + 'static,
) -> impl futures::Stream<Item = PgWireResult<T>> + Send + 'static {
    batches.flat_map(|result| match result {
        Ok(items) => stream::iter(items.into_iter().map(Ok).collect::<Vec<_>>()),
        Err(e) => stream::iter(vec![Err(e)]),
    })
}

/// Puts an [`Output`] on the wire in `format`. Result streams stop with
/// 57014 when `cancelled` resolves.
async fn to_response(
    output: Output,
    format: &Format,
    tag: &str,
    cancelled: Interrupted,
    statement: &str,
) -> ServerResult<Response> {
    Ok(match output {
        Output::Rows { schema, stream } => {
            rows_response(&schema, stream, format, tag, cancelled, statement).await?
        }
        Output::Done(tag) => Response::Execution(tag),
        Output::TransactionStart(tag) => Response::TransactionStart(tag),
        Output::TransactionEnd(tag) => Response::TransactionEnd(tag),
        Output::CopyIn { columns, binary } => Response::CopyIn(CopyResponse::new(
            i8::from(binary),
            columns,
            stream::empty(),
        )),
        Output::CopyOut {
            schema,
            stream,
            format,
        } => copy_out_response(&schema, stream, &format, cancelled, statement),
    })
}

/// The tag for row-returning commands.
fn rows_tag(command: &Command) -> &'static str {
    match command {
        Command::Show(_) => "SHOW",
        Command::Fetch { .. } => "FETCH",
        _ => "SELECT",
    }
}

/// A DECLAREd cursor is also a protocol-level portal of the same name, as in
/// PostgreSQL: psycopg describes its server-side cursors that way. Describing
/// the portal gives the cursor's columns; executing it fetches the rest.
fn register_cursor_portal<C>(client: &C, name: &str)
where
    C: ClientPortalStore,
    C::PortalStore: PortalStore<Statement = PreparedStatement>,
{
    let statement = Arc::new(StoredStatement::new(
        String::new(),
        PreparedStatement {
            sql: Arc::from(format!("FETCH ALL FROM {name}")),
            command: Command::Fetch {
                name: name.to_string(),
                movement: Movement::Forward(None),
                move_only: false,
            },
            oid_params: Vec::new(),
        },
        Vec::new(),
    ));
    client
        .portal_store()
        .put_portal(Arc::new(Portal::new_cursor(name.to_string(), statement)));
}

/// The wire's transaction status as the engine sees it.
fn block_of(status: TransactionStatus) -> Block {
    match status {
        TransactionStatus::Idle => Block::Idle,
        TransactionStatus::Transaction => Block::Open,
        TransactionStatus::Error => Block::Failed,
    }
}

/// pgwire's statement store on the connection, for DEALLOCATE.
struct PortalStatements<'a, S>(&'a S);

impl<S: PortalStore> ProtocolStatements for PortalStatements<'_, S> {
    fn remove(&self, name: &str) -> bool {
        let existed = self.0.get_statement(name).is_some();
        self.0.rm_statement(name);
        existed
    }
}

/// PostgreSQL leaves a failed block through `ROLLBACK TO SAVEPOINT`, but pgwire
/// moves a failed status only to idle (on a transaction-end response). So a
/// statement that starts with ROLLBACK TO reopens the block before it runs; if
/// the savepoint is unknown, its error fails the block again.
fn revive_failed_block<C: ClientInfo>(client: &mut C, first: Option<&Command>) {
    if client.transaction_status() == TransactionStatus::Error
        && matches!(first, Some(Command::RollbackToSavepoint(_)))
    {
        client.set_transaction_status(TransactionStatus::Transaction);
    }
}

/// PostgreSQL ends the block even when its COMMIT fails (the block's writes
/// could not be committed), but pgwire marks the block of any failed
/// statement as failed. So the wire status goes idle before a COMMIT of an
/// open block runs, and the session remembers that the engine is to run it as
/// the end of an open block (`Session::take_committing`).
fn idle_before_commit<C: ClientInfo>(client: &mut C, first: Option<&Command>) -> PgWireResult<()> {
    if client.transaction_status() == TransactionStatus::Transaction
        && matches!(first, Some(Command::Commit))
    {
        session_of(client)?.set_committing();
        client.set_transaction_status(TransactionStatus::Idle);
    }
    Ok(())
}

/// Whether a query string might start with COMMIT (or its synonym END), so
/// that only those are parsed ahead of their run.
fn may_be_commit(query: &str) -> bool {
    let start = query.trim_start();
    let head = start.get(..6).unwrap_or(start).to_ascii_lowercase();
    head.starts_with("commit") || head.starts_with("end")
}

/// Reports the parameters a statement changed (`SET TimeZone`, `RESET`,
/// `ROLLBACK`), as PostgreSQL does with ParameterStatus before the command's
/// response. `before` is what `Settings::reported` gave before it ran.
async fn report_parameter_changes<C>(
    client: &mut C,
    session: &Session,
    before: &[(String, String)],
) -> PgWireResult<()>
where
    C: Sink<PgWireBackendMessage> + Unpin + Send,
    PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
{
    for (name, value) in session.with_settings(|s| s.reported()) {
        if !before.iter().any(|(n, v)| *n == name && *v == value) {
            client
                .feed(PgWireBackendMessage::ParameterStatus(ParameterStatus::new(
                    name, value,
                )))
                .await?;
        }
    }
    Ok(())
}

/// Sends the session's queued NOTICEs and WARNINGs (from functions the statement
/// ran, its background jobs since the last statement, or the statement itself:
/// `BEGIN` inside a block) ahead of the statement's response.
async fn send_notices<C>(client: &mut C, session: &Session) -> PgWireResult<()>
where
    C: Sink<PgWireBackendMessage> + Unpin + Send,
    PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
{
    for notice in session.notices.drain() {
        let notice = ErrorInfo::new(
            notice.severity.to_string(),
            notice.sqlstate.to_string(),
            notice.message,
        );
        client
            .feed(PgWireBackendMessage::NoticeResponse(notice.into()))
            .await?;
    }
    Ok(())
}

#[async_trait]
impl SimpleQueryHandler for LakehouseHandler {
    async fn on_query<C>(&self, client: &mut C, query: Query) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let status = client.transaction_status();
        if status == TransactionStatus::Error
            || (status == TransactionStatus::Transaction && may_be_commit(&query.query))
        {
            let first = self
                .parser
                .parse(&query.query)
                .ok()
                .and_then(|statements| statements.into_iter().next())
                .and_then(|statement| classify(statement).ok());
            revive_failed_block(client, first.as_ref());
            idle_before_commit(client, first.as_ref())?;
        }
        let session = session_of(client)?;
        session.touch();
        self._on_query(client, query).await?;
        if client.transaction_status() != TransactionStatus::Idle {
            session.watch_idle_in_transaction();
        }
        Ok(())
    }

    async fn do_query<C>(&self, client: &mut C, query: &str) -> PgWireResult<Vec<Response>>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let session = session_of(client)?;
        let mut status = client.transaction_status();
        let mut committing = session.take_committing();
        let statements = match self.parser.parse(query) {
            Ok(s) => s,
            Err(e) => return Ok(vec![Response::Error(Box::new(e.to_error_info()))]),
        };
        if statements.is_empty() {
            return Ok(vec![Response::EmptyQuery]);
        }
        let mut responses = Vec::with_capacity(statements.len());
        for statement in statements {
            let cancelled = interrupted(
                &session.cancel,
                session.statement_timeout(),
                session.socket.get().cloned(),
            );
            let reported = session.with_settings(|s| s.reported());
            let text = statement.to_string();
            let result = panic_boundary::guard(
                async {
                    let command = classify(statement)?;
                    let tag = rows_tag(&command);
                    let connection = engine::Connection {
                        block: if std::mem::take(&mut committing) {
                            Block::Open
                        } else {
                            block_of(status)
                        },
                        statements: &PortalStatements(client.portal_store()),
                    };
                    let output =
                        engine::execute(&self.state, &session, command, None, &connection).await?;
                    to_response(output, &Format::UnifiedText, tag, cancelled, &text).await
                },
                &text,
            )
            .await;
            send_notices(client, &session).await?;
            report_parameter_changes(client, &session, &reported).await?;
            match result {
                Ok(response) => {
                    status = match &response {
                        Response::TransactionStart(_) => status.to_in_transaction_state(),
                        Response::TransactionEnd(_) => status.to_idle_state(),
                        _ => status,
                    };
                    let is_copy = matches!(response, Response::CopyIn(_));
                    responses.push(response);
                    if is_copy {
                        break; // the rest of the string runs after COPY data
                    }
                }
                Err(e) => {
                    responses.push(Response::Error(Box::new(e.to_error_info())));
                    break; // Postgres abandons the rest of a multi-statement string
                }
            }
        }
        Ok(responses)
    }
}

impl LakehouseHandler {
    /// Plans a query statement without running it: result schema and
    /// DataFusion's inferred parameter types.
    async fn describe_plan(
        &self,
        session: &Session,
        command: &Command,
    ) -> ServerResult<(Option<SchemaRef>, Vec<Option<DataType>>)> {
        engine::follow_search_path(&self.state, session);
        match command {
            Command::Show(name) => {
                let fields = match name {
                    Some(n) => vec![Field::new(
                        crate::settings::display_name(n),
                        DataType::Utf8,
                        false,
                    )],
                    None => vec![
                        Field::new("name", DataType::Utf8, false),
                        Field::new("setting", DataType::Utf8, false),
                    ],
                };
                Ok((Some(Arc::new(Schema::new(fields))), Vec::new()))
            }
            Command::Fetch { name, .. } => {
                Ok((Some(session.cursors.schema(name).await?), Vec::new()))
            }
            Command::Declare { query, .. } => {
                // DECLARE returns no rows; its query's parameters are the statement's.
                let plan = engine::plan(session, query.as_ref().clone(), None).await?;
                Ok((None, params::inferred_types(&plan)?))
            }
            Command::Query(statement) => {
                let plan = engine::plan(session, statement.as_ref().clone(), None).await?;
                let types = params::inferred_types(&plan)?;
                let schema = command
                    .returns_rows()
                    .then(|| Arc::new(plan.schema().as_arrow().clone()));
                Ok((schema, types))
            }
            _ => Ok((None, Vec::new())),
        }
    }
}

#[async_trait]
impl ExtendedQueryHandler for LakehouseHandler {
    type Statement = PreparedStatement;
    type QueryParser = SqlParser;

    fn query_parser(&self) -> Arc<SqlParser> {
        self.parser.clone()
    }

    /// pgwire's Parse, plus the statement's name recorded for DEALLOCATE ALL.
    async fn on_parse<C>(&self, client: &mut C, message: Parse) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = PreparedStatement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        session_of(client)?.touch();
        let name = message.name.as_deref().unwrap_or(DEFAULT_NAME);
        match StoredStatement::parse(client, &message, self.query_parser()).await? {
            Some(statement) => client.portal_store().put_statement(Arc::new(statement)),
            None => client.portal_store().put_empty_statement(name),
        }
        if message.name.is_some() {
            session_of(client)?.prepared.parsed(name);
        }
        client
            .send(PgWireBackendMessage::ParseComplete(ParseComplete::new()))
            .await?;
        Ok(())
    }

    /// pgwire's Bind, with PostgreSQL's error for a statement that does not
    /// exist (pgwire words it its own way).
    async fn on_bind<C>(&self, client: &mut C, message: Bind) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = PreparedStatement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        session_of(client)?.touch();
        let statement_name = message.statement_name.as_deref().unwrap_or(DEFAULT_NAME);
        let portal_name = message.portal_name.as_deref().unwrap_or(DEFAULT_NAME);
        match client.portal_store().get_statement(statement_name) {
            Some(Entry::Value(statement)) => {
                let portal = Portal::try_new(&message, statement)?;
                client.portal_store().put_portal(Arc::new(portal));
            }
            Some(Entry::Empty) if message.parameters.is_empty() => {
                client.portal_store().put_empty_portal(portal_name);
            }
            Some(Entry::Empty) => {
                return Err(ServerError::sql(
                    "08P01",
                    format!(
                        "bind message supplies {} parameters, but prepared statement \"{}\" requires 0",
                        message.parameters.len(),
                        message.statement_name.as_deref().unwrap_or_default()
                    ),
                )
                .into());
            }
            None => {
                let message = match &message.statement_name {
                    Some(name) => format!("prepared statement \"{name}\" does not exist"),
                    None => "unnamed prepared statement does not exist".to_string(),
                };
                return Err(ServerError::sql("26000", message).into());
            }
        }
        client
            .send(PgWireBackendMessage::BindComplete(BindComplete::new()))
            .await?;
        Ok(())
    }

    /// pgwire's Close, plus the closed statement's name forgotten, so
    /// DEALLOCATE of it is `26000` as in PostgreSQL.
    async fn on_close<C>(&self, client: &mut C, message: Close) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = PreparedStatement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let name = message.name.as_deref().unwrap_or(DEFAULT_NAME);
        match message.target_type {
            TARGET_TYPE_BYTE_STATEMENT => {
                client.portal_store().rm_statement(name);
                session_of(client)?.prepared.closed(name);
            }
            TARGET_TYPE_BYTE_PORTAL => client.portal_store().rm_portal(name),
            _ => {}
        }
        client
            .send(PgWireBackendMessage::CloseComplete(CloseComplete::new()))
            .await?;
        Ok(())
    }

    async fn on_execute<C>(&self, client: &mut C, message: Execute) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = PreparedStatement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        // Each acts only in its own status (failed block / open block).
        if client.transaction_status() != TransactionStatus::Idle {
            let portal = client
                .portal_store()
                .get_portal(message.name.as_deref().unwrap_or(DEFAULT_NAME));
            if let Some(Entry::Value(portal)) = portal {
                let command = Some(&portal.statement.statement.command);
                revive_failed_block(client, command);
                idle_before_commit(client, command)?;
            }
        }
        let session = session_of(client)?;
        session.touch();
        self.execute_portal(client, message).await?;
        if client.transaction_status() != TransactionStatus::Idle {
            session.watch_idle_in_transaction();
        }
        Ok(())
    }

    async fn do_describe_statement<C>(
        &self,
        client: &mut C,
        target: &StoredStatement<PreparedStatement>,
    ) -> PgWireResult<DescribeStatementResponse>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = PreparedStatement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let session = session_of(client)?;
        let (schema, inferred) = self
            .describe_plan(&session, &target.statement.command)
            .await?;
        let declared = target.statement.declared_types(&target.parameter_types);
        let count = inferred.len().max(declared.len());
        let parameters = (0..count)
            .map(|i| params::wire_type(&declared, &inferred, i))
            .collect();
        let fields = schema
            .map(|s| field_infos(&s, &Format::UnifiedText))
            .unwrap_or_default();
        Ok(DescribeStatementResponse::new(parameters, fields))
    }

    async fn do_describe_portal<C>(
        &self,
        client: &mut C,
        portal: &Portal<PreparedStatement>,
    ) -> PgWireResult<DescribePortalResponse>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = PreparedStatement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let session = session_of(client)?;
        let (schema, _) = self
            .describe_plan(&session, &portal.statement.statement.command)
            .await?;
        let fields = schema
            .map(|s| field_infos(&s, &portal.result_column_format))
            .unwrap_or_default();
        Ok(DescribePortalResponse::new(fields))
    }

    async fn do_query<C>(
        &self,
        client: &mut C,
        portal: &Portal<PreparedStatement>,
        _max_rows: usize,
    ) -> PgWireResult<Response>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = PreparedStatement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let session = session_of(client)?;
        let command = portal.statement.statement.command.clone();
        let declared = match &command {
            Command::Declare { name, .. } => Some(name.clone()),
            _ => None,
        };
        let block = if session.take_committing() {
            Block::Open
        } else {
            block_of(client.transaction_status())
        };
        let bind = |types: &[Option<DataType>]| {
            let declared = portal
                .statement
                .statement
                .declared_types(&portal.statement.parameter_types);
            params::decode(portal, &declared, types)
        };
        let params: Option<engine::BindParams<'_>> = (portal.parameter_len() > 0).then_some(&bind);
        let cancelled = interrupted(
            &session.cancel,
            session.statement_timeout(),
            session.socket.get().cloned(),
        );
        let reported = session.with_settings(|s| s.reported());
        let text = portal.statement.statement.sql.clone();
        let result = panic_boundary::guard(
            async {
                let tag = rows_tag(&command);
                let connection = engine::Connection {
                    block,
                    statements: &PortalStatements(client.portal_store()),
                };
                let output =
                    engine::execute(&self.state, &session, command, params, &connection).await?;
                to_response(output, &portal.result_column_format, tag, cancelled, &text).await
            },
            &text,
        )
        .await;
        send_notices(client, &session).await?;
        report_parameter_changes(client, &session, &reported).await?;
        if let (Ok(_), Some(name)) = (&result, declared) {
            register_cursor_portal(client, &name);
        }
        result.map_err(|e: ServerError| -> PgWireError { e.into() })
    }
}

#[async_trait]
impl CopyHandler for LakehouseHandler {
    async fn on_copy_data<C>(&self, client: &mut C, copy_data: CopyData) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let session = session_of(client)?;
        let mut guard = session.copy_in.lock().await;
        let Some(copy) = guard.as_mut() else {
            return Err(
                ServerError::sql("08P01", "unexpected COPY data: no COPY is in progress").into(),
            );
        };
        if copy.data.len() + copy_data.data.len() > MAX_COPY_BYTES {
            *guard = None;
            return Err(ServerError::sql(
                "54000",
                format!("COPY FROM STDIN data exceeds {MAX_COPY_BYTES} bytes; split it into several COPY commands"),
            )
            .into());
        }
        copy.data.extend_from_slice(&copy_data.data);
        Ok(())
    }

    async fn on_copy_done<C>(&self, client: &mut C, _done: CopyDone) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let session = session_of(client)?;
        let Some(copy) = session.copy_in.lock().await.take() else {
            return Err(
                ServerError::sql("08P01", "unexpected CopyDone: no COPY is in progress").into(),
            );
        };
        let rows = engine::copy_from_finish(&self.state, &session, copy).await?;
        let tag: CommandComplete = Tag::new("COPY").with_rows(rows).into();
        client
            .send(PgWireBackendMessage::CommandComplete(tag))
            .await?;
        Ok(())
    }

    async fn on_copy_fail<C>(&self, client: &mut C, fail: CopyFail) -> PgWireError
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        if let Ok(session) = session_of(client) {
            *session.copy_in.lock().await = None;
        }
        ServerError::sql("57014", format!("COPY from stdin failed: {}", fail.message)).into()
    }
}
