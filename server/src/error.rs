//! `ServerError` and the one place every error gets its SQLSTATE.
//!
//! Errors from the other crates arrive as their own enums or wrapped in a
//! `DataFusionError`; [`ServerError::to_error_info`] unwraps and maps them so a
//! client always sees a Postgres error with a meaningful code.

use datafusion::arrow::error::ArrowError;
use datafusion::common::SchemaError;
use datafusion::error::DataFusionError;
use lakehouse_catalog::CatalogError;
use lakehouse_ingest::IngestError;
use lakehouse_udfs::{ModelError, UdfError};
use pgwire::error::{ErrorInfo, PgWireError};

/// Errors of the wire/session layer.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("{message}")]
    Sql {
        sqlstate: &'static str,
        message: String,
    },
    #[error("current transaction is aborted, commands ignored until end of transaction block")]
    InFailedTransaction,
    #[error("permission denied: {0}")]
    InsufficientPrivilege(String),
    #[error("{0} is not supported")]
    Unsupported(String),
    #[error("unrecognized configuration parameter \"{0}\"")]
    UnknownSetting(String),
    #[error(transparent)]
    DataFusion(#[from] DataFusionError),
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    #[error(transparent)]
    Ingest(#[from] IngestError),
    #[error(transparent)]
    Udf(#[from] UdfError),
    #[error(transparent)]
    Wire(#[from] PgWireError),
}

pub type ServerResult<T> = Result<T, ServerError>;

impl ServerError {
    pub fn sql(sqlstate: &'static str, message: impl Into<String>) -> Self {
        ServerError::Sql {
            sqlstate,
            message: message.into(),
        }
    }

    /// The SQLSTATE for this error.
    pub fn sqlstate(&self) -> &'static str {
        match self {
            ServerError::Sql { sqlstate, .. } => sqlstate,
            ServerError::InFailedTransaction => "25P02",
            ServerError::InsufficientPrivilege(_) => "42501",
            ServerError::Unsupported(_) => "0A000",
            ServerError::UnknownSetting(_) => "42704",
            ServerError::DataFusion(e) => datafusion_sqlstate(e),
            ServerError::Catalog(e) => catalog_sqlstate(e),
            ServerError::Ingest(e) => ingest_sqlstate(e),
            ServerError::Udf(e) => udf_sqlstate(e),
            ServerError::Wire(_) => "08P01",
        }
    }

    /// The client-facing message: DataFusion's wording replaced by
    /// Postgres's where clients or users know the Postgres one.
    pub fn message(&self) -> String {
        let text = match self {
            ServerError::DataFusion(e) => clean_datafusion_message(e),
            other => other.to_string(),
        };
        match self.sqlstate() {
            "22012" => "division by zero".to_string(),
            // `ArithmeticOverflow("bigint out of range")`, however wrapped.
            "22003" => overflow_message(&text).unwrap_or(text),
            "42P01" => missing_relation_message(&text).unwrap_or(text),
            // DataFusion's `Prepared statement 'p' does not exist`.
            "26000" | "42P05" if text.starts_with("Prepared statement '") => text
                .replacen("Prepared statement '", "prepared statement \"", 1)
                .replacen("' ", "\" ", 1),
            _ => text,
        }
    }

    pub fn to_error_info(&self) -> ErrorInfo {
        ErrorInfo::new(
            "ERROR".to_string(),
            self.sqlstate().to_string(),
            self.message(),
        )
    }
}

/// The message of an overflow that reached us wrapped in other errors' text.
fn overflow_message(text: &str) -> Option<String> {
    let start = text.find("ArithmeticOverflow(\"")? + "ArithmeticOverflow(\"".len();
    let end = text[start..].find('"')?;
    Some(text[start..start + end].to_string())
}

impl From<ServerError> for PgWireError {
    fn from(e: ServerError) -> Self {
        match e {
            ServerError::Wire(inner) => inner,
            other => PgWireError::UserError(Box::new(other.to_error_info())),
        }
    }
}

fn catalog_sqlstate(e: &CatalogError) -> &'static str {
    match e {
        CatalogError::TableNotFound(_) => "42P01",
        CatalogError::TableExists(_) => "42P07",
        CatalogError::ColumnNotFound { .. } => "42703",
        CatalogError::SchemaNotFound(_) => "3F000",
        CatalogError::SchemaExists(_) => "42P06",
        CatalogError::SchemaNotEmpty(_) => "2BP01",
        CatalogError::InvalidName(..) => "42602",
        CatalogError::ReadOnly(_) => "42501",
        CatalogError::SchemaMismatch { .. } => "42804",
        CatalogError::DataFusion(inner) => datafusion_sqlstate(inner),
        CatalogError::Delta(_) | CatalogError::Io { .. } => "58030",
        CatalogError::Corrupt { .. } => "XX001",
        CatalogError::InvalidSequence { .. } => "22023",
        CatalogError::ColumnReferenceInDefault => "0A000",
        CatalogError::ValueTooLong(_) => "22001",
        CatalogError::SequenceLimit(_) => "2200H",
        CatalogError::SequenceValue(_) => "22003",
        CatalogError::UncommittedTooLarge { .. } => "54000",
        CatalogError::ConcurrentUpdate(_) => "40001",
        CatalogError::LockTimeout(_) => "55P03",
        CatalogError::CommitFailed { conflict: true, .. } => "40001",
        CatalogError::CommitFailed {
            conflict: false, ..
        } => "58030",
        CatalogError::IndexNotFound(_) => "42704",
        CatalogError::IndexExists(_) => "42710",
        CatalogError::EvalExists { .. } => "42710",
        CatalogError::EvalNotFound { .. } | CatalogError::TrialNotFound(_) => "42704",
        CatalogError::IndexNotReady { .. } => "55000",
        CatalogError::VectorDimensions { .. } => "22000",
        CatalogError::VectorIndex(_) => "XX000",
    }
}

fn ingest_sqlstate(e: &IngestError) -> &'static str {
    match e {
        IngestError::Malformed { .. } => "22P04",
        IngestError::InvalidEncoding { .. } => "22021",
        IngestError::BadValue { .. } => "22P02",
        IngestError::InvalidOption(_) => "22023",
        IngestError::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound => "58P01",
        IngestError::Io { .. } => "58030",
        IngestError::Arrow(_) => "XX000",
    }
}

fn udf_sqlstate(e: &UdfError) -> &'static str {
    match e {
        UdfError::PathOutsideRoots { .. } | UdfError::PathInDataDir { .. } => "42501",
        UdfError::ValueTooLarge { .. } => "54000",
        UdfError::FileNotFound { .. } => "58P01",
        UdfError::InvalidArgument { .. } | UdfError::UnknownTimeZone(_) => "22023",
        UdfError::Ingest(inner) => ingest_sqlstate(inner),
        UdfError::Catalog(inner) => catalog_sqlstate(inner),
        UdfError::NotText { .. } => "42804",
        UdfError::ColumnNotFound { .. } => "42703",
        UdfError::Model(ModelError::Missing { .. }) => "58P01",
        UdfError::Model(ModelError::Invalid { .. }) => "XX000",
        UdfError::Model(ModelError::Inference(_)) => "XX000",
        UdfError::DataFusion(inner) => datafusion_sqlstate(inner),
        UdfError::Internal(_) => "XX000",
        UdfError::InvalidDatetime(_) => "22007",
        UdfError::Setting { sqlstate, .. } => sqlstate,
    }
}

fn arrow_sqlstate(e: &ArrowError) -> &'static str {
    match e {
        // A number past the target type's range: `3000000000::int4`.
        ArrowError::CastError(m)
            if m.contains("out of range") || m.contains("Can't cast value") =>
        {
            "22003"
        }
        ArrowError::CastError(_) | ArrowError::ParseError(_) => "22P02",
        ArrowError::DivideByZero => "22012",
        ArrowError::ComputeError(m) if m.contains("Overflow") || m.contains("overflow") => "22003",
        ArrowError::ArithmeticOverflow(_) => "22003",
        // NULL into a NOT NULL (e.g. primary key) column.
        ArrowError::InvalidArgumentError(m) if m.contains("non-nullable but contains null") => {
            "23502"
        }
        ArrowError::ExternalError(inner) => external_sqlstate(inner.as_ref()),
        _ => "XX000",
    }
}

fn external_sqlstate(e: &(dyn std::error::Error + Send + Sync + 'static)) -> &'static str {
    if let Some(u) = e.downcast_ref::<UdfError>() {
        udf_sqlstate(u)
    } else if let Some(c) = e.downcast_ref::<CatalogError>() {
        catalog_sqlstate(c)
    } else if let Some(i) = e.downcast_ref::<IngestError>() {
        ingest_sqlstate(i)
    } else if let Some(d) = e.downcast_ref::<DataFusionError>() {
        datafusion_sqlstate(d)
    } else if let Some(s) = e.downcast_ref::<ServerError>() {
        s.sqlstate()
    } else if e
        .downcast_ref::<lakehouse_catalog::StorageError>()
        .is_some()
    {
        "58030"
    } else {
        "XX000"
    }
}

fn datafusion_sqlstate(e: &DataFusionError) -> &'static str {
    match datafusion_sqlstate_of_kind(e) {
        // An overflow inside a Parquet row filter reaches us as text.
        "XX000" if e.to_string().contains("ArithmeticOverflow(") => "22003",
        code => code,
    }
}

fn datafusion_sqlstate_of_kind(e: &DataFusionError) -> &'static str {
    match e {
        DataFusionError::SQL(..) => "42601",
        DataFusionError::SchemaError(s, _) => match s.as_ref() {
            SchemaError::FieldNotFound { .. } => "42703",
            SchemaError::AmbiguousReference { .. } => "42702",
            SchemaError::DuplicateQualifiedField { .. }
            | SchemaError::DuplicateUnqualifiedField { .. } => "42701",
        },
        DataFusionError::Plan(m) => plan_sqlstate(m),
        DataFusionError::NotImplemented(_) => "0A000",
        DataFusionError::ArrowError(a, _) => arrow_sqlstate(a),
        DataFusionError::ResourcesExhausted(_) => "53200",
        DataFusionError::Execution(m) => {
            if m.starts_with("Prepared statement '") {
                // SQL PREPARE / EXECUTE, kept by DataFusion.
                if m.ends_with("already exists") {
                    "42P05"
                } else {
                    "26000"
                }
            } else if m.contains("Divide by zero") || m.contains("division by zero") {
                "22012"
            } else if m.contains("Cast error") || m.contains("Cannot cast") {
                "22P02"
            } else if m.contains("already exists") {
                "42P07"
            } else {
                "XX000"
            }
        }
        DataFusionError::External(inner) => external_sqlstate(inner.as_ref()),
        DataFusionError::Context(_, inner) | DataFusionError::Diagnostic(_, inner) => {
            datafusion_sqlstate(inner)
        }
        DataFusionError::Shared(inner) => datafusion_sqlstate(inner),
        DataFusionError::Collection(errs) => errs.first().map_or("XX000", datafusion_sqlstate),
        _ => "XX000",
    }
}

fn plan_sqlstate(message: &str) -> &'static str {
    let m = message.to_ascii_lowercase();
    if m.contains("not found") && (m.contains("table") || m.contains("relation")) {
        "42P01"
    } else if m.contains("invalid function") || m.contains("no function matches") {
        "42883"
    } else if m.contains("already exists") {
        "42P07"
    } else if m.contains("no field named") {
        "42703"
    } else if m.contains("cannot be cast")
        || m.contains("cannot infer common")
        || m.contains("does not support")
        || m.contains("type")
    {
        "42804"
    } else {
        "42601"
    }
}

/// `table 'db.schema.name' not found` -> `relation "name" does not exist`.
fn missing_relation_message(text: &str) -> Option<String> {
    let start = text.find("table '")? + "table '".len();
    let end = start + text[start..].find('\'')?;
    let name = text[start..end].rsplit('.').next()?;
    Some(format!("relation \"{name}\" does not exist"))
}

/// DataFusion prefixes messages with "Error during planning: " and friends;
/// clients expect just the message.
fn clean_datafusion_message(e: &DataFusionError) -> String {
    match e {
        DataFusionError::Context(_, inner) | DataFusionError::Diagnostic(_, inner) => {
            clean_datafusion_message(inner)
        }
        DataFusionError::Shared(inner) => clean_datafusion_message(inner),
        DataFusionError::External(inner) => inner.to_string(),
        DataFusionError::Plan(m) | DataFusionError::Execution(m) => m.clone(),
        DataFusionError::ArrowError(a, _) => match a.as_ref() {
            ArrowError::ExternalError(inner) => inner.to_string(),
            other => other.to_string(),
        },
        DataFusionError::SQL(p, _) => format!("syntax error: {p}"),
        other => {
            let text = other.to_string();
            text.split_once(": ")
                .filter(|(prefix, _)| prefix.starts_with("Error") || prefix.ends_with("error"))
                .map(|(_, rest)| rest.to_string())
                .unwrap_or(text)
        }
    }
}
