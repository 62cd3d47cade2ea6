//! Errors of the catalog: storage, naming and conflicts.

/// A catalog failure. The server maps each variant to one SQLSTATE.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("relation \"{0}\" does not exist")]
    TableNotFound(String),
    #[error("relation \"{0}\" already exists")]
    TableExists(String),
    #[error("column \"{column}\" of relation \"{table}\" does not exist")]
    ColumnNotFound { table: String, column: String },
    #[error("schema \"{0}\" does not exist")]
    SchemaNotFound(String),
    #[error("schema \"{0}\" already exists")]
    SchemaExists(String),
    #[error("schema \"{0}\" is not empty")]
    SchemaNotEmpty(String),
    #[error("invalid name \"{0}\": {1}")]
    InvalidName(String, String),
    #[error("schema \"{0}\" is read-only")]
    ReadOnly(String),
    #[error("column types do not match table \"{table}\": {message}")]
    SchemaMismatch { table: String, message: String },
    #[error("storage error: {0}")]
    Delta(#[from] deltalake::DeltaTableError),
    #[error("{0}")]
    DataFusion(#[from] datafusion::error::DataFusionError),
    #[error("storage I/O error on {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("vector index \"{0}\" does not exist")]
    IndexNotFound(String),
    #[error("vector index \"{0}\" already exists")]
    IndexExists(String),
    #[error(
        "vector index \"{name}\" is not built yet: its build job {job_id} is still running (see lakehouse.jobs)"
    )]
    IndexNotReady { name: String, job_id: i64 },
    #[error("query vector has {got} dimensions but vector index \"{index}\" has {expected}")]
    VectorDimensions {
        index: String,
        expected: usize,
        got: usize,
    },
    #[error("eval set \"{eval}\" already exists for vector index \"{index}\"")]
    EvalExists { index: String, eval: String },
    #[error(
        "eval set \"{eval}\" does not exist for vector index \"{index}\"; create it with hnsw_eval_autogen('{index}', '{eval}', n_queries)"
    )]
    EvalNotFound { index: String, eval: String },
    #[error("HNSW trial {0} does not exist (see lakehouse.hnsw_trials)")]
    TrialNotFound(i64),
    #[error("vector index error: {0}")]
    VectorIndex(String),
    #[error(
        "the transaction block holds more than {limit} bytes of uncommitted rows; COMMIT in smaller blocks, or write outside a block"
    )]
    UncommittedTooLarge { limit: usize },
    #[error(
        "could not serialize access due to concurrent update of {0}: another session committed to it after this transaction truncated it"
    )]
    ConcurrentUpdate(String),
    /// An append's commit did not land (its files were removed): a lost
    /// race against other writers (`conflict`, retry the statement) or a
    /// storage failure.
    #[error("{}", if *conflict {
        format!("could not serialize access due to concurrent update of {table}: {message}")
    } else {
        format!("could not commit to {table}: {message}")
    })]
    CommitFailed {
        table: String,
        message: String,
        conflict: bool,
    },
    /// `lock_timeout` passed while waiting for the right to commit to a
    /// table another writer was committing to.
    #[error("canceling statement due to lock timeout (waiting to commit to {0})")]
    LockTimeout(String),
    /// A value longer than its `varchar(n)` / `char(n)` column.
    #[error("{0}")]
    ValueTooLong(String),
    #[error("cannot use column reference in DEFAULT expression")]
    ColumnReferenceInDefault,
    /// `CREATE SEQUENCE` options PostgreSQL refuses.
    #[error("{message}")]
    InvalidSequence { message: String },
    /// `nextval` past a sequence's bounds (and it does not cycle).
    #[error("{0}")]
    SequenceLimit(String),
    /// `setval` outside a sequence's bounds.
    #[error("{0}")]
    SequenceValue(String),
    #[error("corrupt catalog file {path}: {message}")]
    Corrupt { path: String, message: String },
}

impl CatalogError {
    pub(crate) fn io(path: &std::path::Path, source: std::io::Error) -> Self {
        CatalogError::Io {
            path: path.display().to_string(),
            source,
        }
    }
}

impl From<CatalogError> for datafusion::error::DataFusionError {
    fn from(e: CatalogError) -> Self {
        match e {
            CatalogError::DataFusion(inner) => inner,
            other => datafusion::error::DataFusionError::External(Box::new(other)),
        }
    }
}

impl From<datafusion::arrow::error::ArrowError> for CatalogError {
    fn from(e: datafusion::arrow::error::ArrowError) -> Self {
        CatalogError::DataFusion(e.into())
    }
}
