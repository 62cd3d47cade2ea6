//! Classifies parsed SQL: what the session answers itself (transactions,
//! settings, COPY) and what goes to DataFusion.

use datafusion::sql::sqlparser::ast::{
    CloseCursor, CommentObject, ContextModifier, CopyLegacyCsvOption, CopyLegacyOption, CopyOption,
    CopySource, CopyTarget, DataType, Declare, DeclareType, DiscardObject, Expr, FetchDirection,
    Ident, ObjectName, ObjectNamePart, ObjectType, Reset, SequenceOptions, Set, Statement, Value,
    ValueWithSpan,
};

use crate::column_defaults::DeclaredDefaults;
use crate::cursors::Movement;
use crate::declared_constraints::DeclaredConstraints;
use crate::error::{ServerError, ServerResult};
use crate::fetch_syntax;

/// Output format of COPY.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CopyKind {
    Text,
    Csv,
    /// PostgreSQL's binary format (COPY FROM STDIN only).
    Binary,
}

/// COPY's WITH options, Postgres defaults filled in.
#[derive(Debug, Clone, PartialEq)]
pub struct CopyFormat {
    pub kind: CopyKind,
    pub delimiter: char,
    pub null: String,
    pub header: bool,
    pub quote: char,
    pub escape: char,
}

impl CopyFormat {
    fn from_options(options: &[CopyOption], legacy: &[CopyLegacyOption]) -> ServerResult<Self> {
        let mut kind = CopyKind::Text;
        let (mut delimiter, mut null, mut header, mut quote, mut escape) =
            (None, None, false, '"', None);
        for option in options {
            match option {
                CopyOption::Format(name) => {
                    kind = match name.value.to_ascii_lowercase().as_str() {
                        "text" => CopyKind::Text,
                        "csv" => CopyKind::Csv,
                        "binary" => CopyKind::Binary,
                        other => {
                            return Err(ServerError::sql(
                                "22023",
                                format!("COPY format \"{other}\" not recognized"),
                            ));
                        }
                    }
                }
                CopyOption::Delimiter(c) => delimiter = Some(*c),
                CopyOption::Null(s) => null = Some(s.clone()),
                CopyOption::Header(h) => header = *h,
                CopyOption::Quote(c) => quote = *c,
                CopyOption::Escape(c) => escape = Some(*c),
                CopyOption::Encoding(e)
                    if e.eq_ignore_ascii_case("utf8") || e.eq_ignore_ascii_case("utf-8") => {}
                CopyOption::Freeze(_) => {}
                other => return Err(ServerError::Unsupported(format!("COPY option {other}"))),
            }
        }
        for option in legacy {
            match option {
                CopyLegacyOption::Csv(csv) => {
                    kind = CopyKind::Csv;
                    for o in csv {
                        match o {
                            CopyLegacyCsvOption::Header => header = true,
                            CopyLegacyCsvOption::Quote(c) => quote = *c,
                            CopyLegacyCsvOption::Escape(c) => escape = Some(*c),
                            other => {
                                return Err(ServerError::Unsupported(format!(
                                    "COPY option {other}"
                                )));
                            }
                        }
                    }
                }
                CopyLegacyOption::Delimiter(c) => delimiter = Some(*c),
                CopyLegacyOption::Null(s) => null = Some(s.clone()),
                CopyLegacyOption::Header => header = true,
                CopyLegacyOption::Binary => kind = CopyKind::Binary,
                other => return Err(ServerError::Unsupported(format!("COPY option {other}"))),
            }
        }
        if kind == CopyKind::Binary {
            for (given, what) in [
                (delimiter.is_some(), "DELIMITER"),
                (null.is_some(), "NULL"),
                (header, "HEADER"),
            ] {
                if given {
                    return Err(ServerError::sql(
                        "42601",
                        format!("cannot specify {what} in BINARY mode"),
                    ));
                }
            }
        }
        let format = CopyFormat {
            kind,
            delimiter: delimiter.unwrap_or(if kind == CopyKind::Csv { ',' } else { '\t' }),
            null: null.unwrap_or_else(|| if kind == CopyKind::Csv { "" } else { "\\N" }.into()),
            header,
            quote,
            escape: escape.unwrap_or(quote),
        };
        for (what, c) in [
            ("delimiter", format.delimiter),
            ("quote", format.quote),
            ("escape", format.escape),
        ] {
            if !c.is_ascii() || c == '\n' || c == '\r' {
                return Err(ServerError::sql(
                    "22023",
                    format!("COPY {what} must be a single one-byte character"),
                ));
            }
        }
        if header && kind == CopyKind::Text {
            return Err(ServerError::sql(
                "0A000",
                "COPY HEADER is only available in CSV mode",
            ));
        }
        Ok(format)
    }
}

/// What COPY TO reads.
#[derive(Debug, Clone)]
pub enum CopyOutSource {
    Table {
        name: ObjectName,
        columns: Vec<String>,
    },
    Query(Box<datafusion::sql::sqlparser::ast::Query>),
}

/// What a COMMENT ON names.
#[derive(Debug, Clone)]
pub enum CommentTarget {
    Table(ObjectName),
    /// `[schema.]table.column`: the table's name and the column.
    Column(ObjectName, Ident),
}

/// A classified statement.
#[derive(Debug, Clone)]
pub enum Command {
    Begin,
    Commit,
    Rollback,
    /// `SAVEPOINT name`.
    Savepoint(String),
    /// `RELEASE [SAVEPOINT] name`.
    ReleaseSavepoint(String),
    /// `ROLLBACK TO [SAVEPOINT] name`: leaves a failed block usable again.
    RollbackToSavepoint(String),
    /// `DEALLOCATE [PREPARE] name`; `None` is `DEALLOCATE ALL`.
    Deallocate(Option<String>),
    /// `DISCARD ALL`: settings, cursors and prepared statements back to a new
    /// session's (what connection poolers send between clients).
    DiscardAll,
    /// `SET [SESSION | LOCAL] name = value`.
    Set {
        name: String,
        value: Option<String>,
        local: bool,
    },
    Show(Option<String>),
    Reset(Option<String>),
    CopyFrom {
        table: ObjectName,
        columns: Vec<String>,
        format: CopyFormat,
    },
    CopyTo {
        source: CopyOutSource,
        format: CopyFormat,
    },
    /// `DECLARE name [SCROLL] CURSOR [WITH HOLD] FOR query`.
    Declare {
        name: String,
        scroll: bool,
        hold: bool,
        query: Box<Statement>,
    },
    /// `FETCH` (`move_only` false) or `MOVE` (true).
    Fetch {
        name: String,
        movement: Movement,
        move_only: bool,
    },
    /// `CLOSE name` / `CLOSE ALL` (`None`).
    Close(Option<String>),
    /// `CREATE TABLE` with its key and default clauses taken out (DataFusion
    /// plans the rest).
    CreateTable {
        statement: Box<Statement>,
        constraints: DeclaredConstraints,
        defaults: DeclaredDefaults,
    },
    /// `CREATE SEQUENCE`.
    CreateSequence {
        name: ObjectName,
        if_not_exists: bool,
        data_type: Option<DataType>,
        options: Vec<SequenceOptions>,
        owned_by: Option<ObjectName>,
    },
    /// `DROP SEQUENCE [IF EXISTS] name, ...`.
    DropSequence {
        names: Vec<ObjectName>,
        if_exists: bool,
    },
    /// `COMMENT ON TABLE | VIEW | COLUMN ... IS ...`; `None` removes the comment.
    Comment {
        target: CommentTarget,
        comment: Option<String>,
    },
    /// Accepted and ignored, with this command tag (e.g. DISCARD ALL).
    NoOp(&'static str),
    /// Planned and run by DataFusion.
    Query(Box<Statement>),
}

impl Command {
    /// Whether the command returns rows (needs a row description).
    pub fn returns_rows(&self) -> bool {
        match self {
            Command::Show(_) => true,
            Command::Fetch { move_only, .. } => !move_only,
            Command::Query(s) => statement_returns_rows(s),
            _ => false,
        }
    }
}

fn statement_returns_rows(s: &Statement) -> bool {
    matches!(
        s,
        Statement::Query(_)
            | Statement::Explain { .. }
            | Statement::ExplainTable { .. }
            | Statement::ShowTables { .. }
            | Statement::ShowColumns { .. }
            | Statement::Execute { .. }
    )
}

/// Text of a SET value: identifiers and literals as written, lists joined.
fn set_value_text(values: &[Expr]) -> String {
    values
        .iter()
        .map(|v| match v {
            Expr::Value(ValueWithSpan {
                value: Value::SingleQuotedString(s) | Value::DoubleQuotedString(s),
                ..
            }) => s.clone(),
            Expr::Identifier(i) => i.value.clone(),
            other => other.to_string(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// An identifier as PostgreSQL resolves it: folded to lower case unless quoted.
pub fn sql_name(ident: &Ident) -> String {
    match ident.quote_style {
        Some(_) => ident.value.clone(),
        None => ident.value.to_lowercase(),
    }
}

fn is_default(values: &[Expr]) -> bool {
    matches!(values, [Expr::Identifier(i)] if i.value.eq_ignore_ascii_case("default"))
}

fn declare(mut stmts: Vec<Declare>) -> ServerResult<Command> {
    let unsupported =
        || ServerError::Unsupported("DECLARE other than one CURSOR FOR a query".into());
    if stmts.len() != 1 {
        return Err(unsupported());
    }
    let declare = stmts.remove(0);
    match (
        declare.declare_type,
        declare.for_query,
        declare.names.first(),
    ) {
        (Some(DeclareType::Cursor), Some(query), Some(name)) => Ok(Command::Declare {
            name: sql_name(name),
            scroll: declare.scroll == Some(true),
            hold: declare.hold == Some(true),
            query: Box::new(Statement::Query(query)),
        }),
        _ => Err(unsupported()),
    }
}

/// The movement of a FETCH or MOVE direction.
fn movement(direction: &FetchDirection) -> ServerResult<Movement> {
    let number = |v: &ValueWithSpan| match &v.value {
        Value::Number(n, _) => n
            .parse::<i64>()
            .map_err(|_| ServerError::sql("22023", format!("bad FETCH count {n}"))),
        other => Err(ServerError::sql(
            "42601",
            format!("FETCH count must be a number, got {other}"),
        )),
    };
    // A signed count forward is that many backward when negative, and 0 is the
    // current row.
    let forward = |n: i64| match n {
        0 => Movement::Relative(0),
        n if n > 0 => Movement::Forward(Some(n as u64)),
        n => Movement::Backward(Some(n.unsigned_abs())),
    };
    Ok(match direction {
        FetchDirection::Next | FetchDirection::Forward { limit: None } => {
            Movement::Forward(Some(1))
        }
        FetchDirection::Prior | FetchDirection::Backward { limit: None } => {
            Movement::Backward(Some(1))
        }
        FetchDirection::First => Movement::Absolute(1),
        FetchDirection::Last => Movement::Absolute(-1),
        FetchDirection::Absolute { limit } => Movement::Absolute(number(limit)?),
        FetchDirection::Relative { limit } => Movement::Relative(number(limit)?),
        FetchDirection::Count { limit } | FetchDirection::Forward { limit: Some(limit) } => {
            forward(number(limit)?)
        }
        FetchDirection::Backward { limit: Some(limit) } => forward(-number(limit)?),
        FetchDirection::All | FetchDirection::ForwardAll => Movement::Forward(None),
        FetchDirection::BackwardAll => Movement::Backward(None),
    })
}

/// Classifies one parsed statement.
pub fn classify(statement: Statement) -> ServerResult<Command> {
    Ok(match statement {
        Statement::StartTransaction { .. } => Command::Begin,
        Statement::Commit { .. } => Command::Commit,
        Statement::Rollback {
            savepoint: None, ..
        } => Command::Rollback,
        Statement::Rollback {
            savepoint: Some(name),
            ..
        } => Command::RollbackToSavepoint(sql_name(&name)),
        Statement::Savepoint { name } => Command::Savepoint(sql_name(&name)),
        Statement::ReleaseSavepoint { name } => Command::ReleaseSavepoint(sql_name(&name)),
        Statement::Deallocate { name, .. } => Command::Deallocate(
            (name.quote_style.is_some() || !name.value.eq_ignore_ascii_case("all"))
                .then(|| sql_name(&name)),
        ),
        Statement::Set(Set::SingleAssignment {
            variable,
            values,
            scope,
            ..
        }) => {
            let name = variable.to_string();
            let local = matches!(scope, Some(ContextModifier::Local));
            if is_default(&values) && !local {
                Command::Reset(Some(name))
            } else {
                Command::Set {
                    name,
                    value: (!is_default(&values)).then(|| set_value_text(&values)),
                    local,
                }
            }
        }
        Statement::Set(Set::SetTimeZone { value, local }) => Command::Set {
            name: "timezone".into(),
            value: Some(set_value_text(&[value])),
            local,
        },
        Statement::Set(Set::SetNames { charset_name, .. }) => Command::Set {
            name: "client_encoding".into(),
            value: Some(charset_name.value),
            local: false,
        },
        Statement::Set(Set::SetTransaction { .. }) => Command::NoOp("SET"),
        Statement::ShowVariable { variable } => {
            let name = variable
                .iter()
                .map(|i| i.value.clone())
                .collect::<Vec<_>>()
                .join(" ");
            // Postgres' multi-word spellings of parameters (SQLAlchemy runs
            // `SHOW TRANSACTION ISOLATION LEVEL` on every new connection).
            match name.to_ascii_lowercase().as_str() {
                "all" => Command::Show(None),
                "transaction isolation level" => {
                    Command::Show(Some("transaction_isolation".into()))
                }
                "time zone" => Command::Show(Some("TimeZone".into())),
                _ => Command::Show(Some(name)),
            }
        }
        Statement::Reset(r) => match r.reset {
            Reset::ALL => Command::Reset(None),
            Reset::ConfigurationParameter(name) => Command::Reset(Some(name.to_string())),
        },
        Statement::Discard { object_type } => match object_type {
            DiscardObject::ALL => Command::DiscardAll,
            // No plan cache, temporary tables or sequences to drop.
            DiscardObject::PLANS => Command::NoOp("DISCARD PLANS"),
            DiscardObject::SEQUENCES => Command::NoOp("DISCARD SEQUENCES"),
            DiscardObject::TEMP => Command::NoOp("DISCARD TEMP"),
        },
        Statement::Declare { stmts } => declare(stmts)?,
        Statement::Fetch {
            name,
            direction,
            into,
            ..
        } => {
            if into.is_some() && !fetch_syntax::is_move(into.as_ref()) {
                return Err(ServerError::sql(
                    "42601",
                    "syntax error at or near \"INTO\": FETCH ... INTO is PL/pgSQL",
                ));
            }
            Command::Fetch {
                name: sql_name(&name),
                movement: movement(&direction)?,
                move_only: into.is_some(),
            }
        }
        Statement::Close { cursor } => Command::Close(match cursor {
            CloseCursor::All => None,
            CloseCursor::Specific { name } => Some(sql_name(&name)),
        }),
        Statement::Copy {
            source,
            to,
            target,
            options,
            legacy_options,
            ..
        } => {
            let format = CopyFormat::from_options(&options, &legacy_options)?;
            match (to, target) {
                (false, CopyTarget::Stdin) => match source {
                    CopySource::Table {
                        table_name,
                        columns,
                    } => Command::CopyFrom {
                        table: table_name,
                        columns: columns.into_iter().map(|c| c.value).collect(),
                        format,
                    },
                    CopySource::Query(_) => {
                        return Err(ServerError::sql(
                            "42601",
                            "COPY FROM requires a table, not a query",
                        ));
                    }
                },
                (true, CopyTarget::Stdout) => Command::CopyTo {
                    source: match source {
                        CopySource::Table {
                            table_name,
                            columns,
                        } => CopyOutSource::Table {
                            name: table_name,
                            columns: columns.into_iter().map(|c| c.value).collect(),
                        },
                        CopySource::Query(q) => CopyOutSource::Query(q),
                    },
                    format,
                },
                (_, CopyTarget::File { .. } | CopyTarget::Program { .. }) => {
                    return Err(ServerError::InsufficientPrivilege(
                        "COPY to or from a server file or program is not allowed; use COPY ... FROM STDIN / TO STDOUT (psql \\copy)".into(),
                    ));
                }
                _ => {
                    return Err(ServerError::sql(
                        "42601",
                        "COPY FROM STDOUT / TO STDIN is not valid",
                    ));
                }
            }
        }
        Statement::CreateTable(ct) if ct.external => {
            return Err(ServerError::InsufficientPrivilege(
                "CREATE EXTERNAL TABLE reads server files directly; load data with ingest_csv() or COPY FROM STDIN".into(),
            ));
        }
        Statement::CreateTable(mut ct) => {
            let defaults = DeclaredDefaults::take_from(&mut ct)?;
            crate::unimplemented_clauses::refuse_in_create_table(&ct)?;
            let constraints = DeclaredConstraints::take_from(&mut ct)?;
            Command::CreateTable {
                statement: Box::new(Statement::CreateTable(ct)),
                constraints,
                defaults,
            }
        }
        Statement::CreateSequence {
            temporary: true, ..
        } => return Err(ServerError::Unsupported("CREATE TEMPORARY SEQUENCE".into())),
        Statement::CreateSequence {
            if_not_exists,
            name,
            data_type,
            sequence_options,
            owned_by,
            ..
        } => Command::CreateSequence {
            name,
            if_not_exists,
            data_type,
            options: sequence_options,
            owned_by,
        },
        Statement::Drop {
            object_type: ObjectType::Sequence,
            if_exists,
            names,
            cascade,
            ..
        } => {
            if cascade {
                return Err(ServerError::Unsupported(
                    "DROP SEQUENCE ... CASCADE (nothing depends on a sequence but the defaults of the table owning it)".into(),
                ));
            }
            Command::DropSequence { names, if_exists }
        }
        Statement::Comment {
            object_type,
            object_name,
            comment,
            ..
        } => Command::Comment {
            target: match object_type {
                CommentObject::Table => CommentTarget::Table(object_name),
                CommentObject::Column => {
                    let mut parts = object_name.0;
                    match (parts.pop(), parts.is_empty()) {
                        (Some(ObjectNamePart::Identifier(column)), false) => {
                            CommentTarget::Column(ObjectName(parts), column)
                        }
                        _ => {
                            return Err(ServerError::sql(
                                "42601",
                                "COMMENT ON COLUMN needs table.column",
                            ));
                        }
                    }
                }
                other => {
                    return Err(ServerError::Unsupported(format!(
                        "COMMENT ON {other} (tables and columns have comments)"
                    )));
                }
            },
            comment,
        },
        other => Command::Query(Box::new(other)),
    })
}

/// The command tag Postgres sends for a statement DataFusion ran.
pub fn command_tag(statement: &Statement) -> String {
    match statement {
        Statement::Query(_) => "SELECT".into(),
        Statement::Insert(_) => "INSERT".into(),
        Statement::Update(_) => "UPDATE".into(),
        Statement::Delete(_) => "DELETE".into(),
        Statement::CreateTable(ct) if ct.query.is_some() => "SELECT".into(),
        Statement::CreateTable(_) => "CREATE TABLE".into(),
        Statement::CreateView(_) => "CREATE VIEW".into(),
        Statement::CreateSchema { .. } => "CREATE SCHEMA".into(),
        Statement::Drop { object_type, .. } => match object_type {
            ObjectType::Table => "DROP TABLE".into(),
            ObjectType::View => "DROP VIEW".into(),
            ObjectType::Schema => "DROP SCHEMA".into(),
            other => format!("DROP {other}"),
        },
        Statement::Explain { .. } => "EXPLAIN".into(),
        other => {
            let text = other.to_string();
            let words: Vec<&str> = text.split_whitespace().take(2).collect();
            match words.as_slice() {
                [first, second]
                    if first.eq_ignore_ascii_case("create")
                        || first.eq_ignore_ascii_case("drop")
                        || first.eq_ignore_ascii_case("alter") =>
                {
                    format!("{} {}", first.to_uppercase(), second.to_uppercase())
                }
                [first, ..] => first.to_uppercase(),
                [] => String::new(),
            }
        }
    }
}
