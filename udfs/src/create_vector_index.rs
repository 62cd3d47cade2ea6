//! `create_vector_index(name, table, text_column [, options])`: starts a
//! background job that chunks, embeds and indexes a text column; returns the
//! job id at once.
//!
//! Options (`key=value,...`): `key` (the source key column; default `id`, else
//! the first other column), `chunk_size` / `chunk_overlap` (characters, default
//! 800 / 100), `m` / `ef_construction` / `ef_search` (HNSW, default 16 / 128 / 64).
//! Watch the job in `lakehouse.jobs`; the index is listed in
//! `lakehouse.vector_indexes` from the start.

use std::sync::{Arc, LazyLock};

use chrono::Utc;
use datafusion::arrow::array::{Int64Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::{TableFunctionImpl, TableProvider};
use datafusion::common::TableReference;
use datafusion::error::Result;
use datafusion::execution::context::SessionState;
use datafusion::logical_expr::Expr;
use datafusion::prelude::SessionContext;
use lakehouse_catalog::vector_index::{IndexState, VectorIndexDefinition};
use lakehouse_catalog::{CatalogError, TableIdent};
use lakehouse_ingest::chunker::SentenceChunker;

use crate::deferred::{DeferredRun, DeferredTable};
use crate::vector_index_build::{JOB_KIND, storage_type};
use crate::{FunctionEnv, SessionNotices, UdfError, args, run_blocking};

const FUNCTION: &str = "create_vector_index";
const OPTIONS: [&str; 6] = [
    "key",
    "chunk_size",
    "chunk_overlap",
    "m",
    "ef_construction",
    "ef_search",
];

fn result_schema() -> SchemaRef {
    static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
        Arc::new(Schema::new(vec![
            Field::new("job_id", DataType::Int64, false),
            Field::new("index_name", DataType::Utf8, false),
            Field::new("state", DataType::Utf8, false),
        ]))
    });
    SCHEMA.clone()
}

#[derive(Debug)]
pub struct CreateVectorIndex {
    env: FunctionEnv,
    user: String,
    notices: SessionNotices,
}

impl CreateVectorIndex {
    pub fn new(env: FunctionEnv, user: String, notices: SessionNotices) -> Self {
        CreateVectorIndex { env, user, notices }
    }
}

/// A parsed call.
#[derive(Debug, Clone)]
struct Request {
    name: String,
    source: TableIdent,
    text_column: String,
    key_column: Option<String>,
    chunk_size: usize,
    chunk_overlap: usize,
    m: usize,
    ef_construction: usize,
    ef_search: usize,
}

fn parse(call: &[Expr]) -> Result<Request, UdfError> {
    if !(3..=4).contains(&call.len()) {
        return Err(UdfError::InvalidArgument {
            function: FUNCTION,
            message: format!(
                "create_vector_index(name, table, text_column [, options]) takes 3 or 4 arguments, got {}",
                call.len()
            ),
        });
    }
    let defaults = SentenceChunker::default();
    let mut request = Request {
        name: args::required_text(call, 0, FUNCTION, "name")?,
        source: args::table_ident(
            &args::required_text(call, 1, FUNCTION, "table")?,
            FUNCTION,
            "table",
        )?,
        text_column: args::required_text(call, 2, FUNCTION, "text_column")?,
        key_column: None,
        chunk_size: defaults.size,
        chunk_overlap: defaults.overlap,
        m: 16,
        ef_construction: 128,
        ef_search: 64,
    };
    let options = args::text(call, 3, FUNCTION, "options")?;
    for (key, value) in args::options(options.as_deref(), FUNCTION, &OPTIONS)? {
        let int = || args::option_int(FUNCTION, &key, &value);
        match key.as_str() {
            "key" => request.key_column = Some(value.clone()),
            "chunk_size" => request.chunk_size = int()?,
            "chunk_overlap" => request.chunk_overlap = value.parse().unwrap_or(usize::MAX),
            "m" => request.m = int()?,
            "ef_construction" => request.ef_construction = int()?,
            _ => request.ef_search = int()?,
        }
    }
    if request.chunk_overlap >= request.chunk_size {
        return Err(UdfError::InvalidArgument {
            function: FUNCTION,
            message: format!(
                "chunk_overlap must be a number below chunk_size ({})",
                request.chunk_size
            ),
        });
    }
    if !(2..=64).contains(&request.m) {
        return Err(UdfError::InvalidArgument {
            function: FUNCTION,
            message: format!("m={} is outside 2..64", request.m),
        });
    }
    Ok(request)
}

impl TableFunctionImpl for CreateVectorIndex {
    fn call(&self, call: &[Expr]) -> Result<Arc<dyn TableProvider>> {
        let request = parse(call)?;
        let label = format!(
            "CreateVectorIndexExec: name={}, source={}({})",
            request.name, request.source, request.text_column
        );
        let (env, user, notices) = (self.env.clone(), self.user.clone(), self.notices.clone());
        let run: DeferredRun = Arc::new(move |session| {
            let (request, env, user, notices) =
                (request.clone(), env.clone(), user.clone(), notices.clone());
            Box::pin(async move { Ok(submit(request, env, user, notices, &session).await?) })
        });
        Ok(Arc::new(DeferredTable::new(label, result_schema(), run)))
    }
}

/// Checks the source, records the index and its job, starts the job.
async fn submit(
    request: Request,
    env: FunctionEnv,
    user: String,
    notices: SessionNotices,
    session: &SessionState,
) -> Result<RecordBatch, UdfError> {
    let ctx = SessionContext::new_with_state(session.clone());
    let table = ctx
        .table(TableReference::partial(
            request.source.schema.as_str(),
            request.source.table.as_str(),
        ))
        .await
        .map_err(|_| CatalogError::TableNotFound(request.source.to_string()))?;
    let schema = table.schema().as_arrow().clone();
    let column = |name: &str| {
        schema
            .field_with_name(name)
            .map_err(|_| UdfError::ColumnNotFound {
                function: FUNCTION,
                table: request.source.to_string(),
                column: name.to_string(),
            })
            .cloned()
    };
    let text = column(&request.text_column)?;
    if !matches!(
        text.data_type(),
        DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8
    ) {
        return Err(UdfError::NotText {
            function: FUNCTION,
            table: request.source.to_string(),
            column: request.text_column.clone(),
            actual: lakehouse_catalog::pg_types::postgres_type_name(text.data_type()),
        });
    }
    if env.vectors.definition(&request.name)?.is_some() {
        return Err(CatalogError::IndexExists(request.name.clone()).into());
    }
    let key = match &request.key_column {
        Some(key) => column(key)?,
        None if schema.field_with_name("id").is_ok() => column("id")?,
        None => schema
            .fields()
            .iter()
            .find(|f| f.name() != &request.text_column)
            .map(|f| f.as_ref().clone())
            .ok_or_else(|| UdfError::InvalidArgument {
                function: FUNCTION,
                message: format!(
                    "{} has no column besides \"{}\" to use as the key; pass key=<column>",
                    request.source, request.text_column
                ),
            })?,
    };

    let models = env.models.clone();
    let embedder = run_blocking(move || models.embedder())?;
    let job = env.jobs.submit(
        JOB_KIND,
        &request.name,
        &user,
        serde_json::json!({ "index": request.name }),
    )?;
    let definition = VectorIndexDefinition {
        name: request.name.clone(),
        source_schema: request.source.schema.clone(),
        source_table: request.source.table.clone(),
        text_column: request.text_column.clone(),
        key_column: key.name().clone(),
        key_type: storage_type(key.data_type()).to_string(),
        model_name: embedder.identity().name.clone(),
        model_sha256: embedder.identity().sha256.clone(),
        dims: embedder.dims() as i64,
        metric: "cosine".into(),
        chunk_size: request.chunk_size as i64,
        chunk_overlap: request.chunk_overlap as i64,
        m: request.m as i64,
        ef_construction: request.ef_construction as i64,
        ef_search: request.ef_search as i64,
        generation: 0,
        rows: 0,
        state: IndexState::Building,
        job_id: job.id,
        owner: user.clone(),
        created: Utc::now(),
    };
    if let Err(e) = env.vectors.create(&definition) {
        // The job never ran; record why instead of leaving it queued forever.
        let _ = env.jobs.update(job.id, |j| {
            j.state = lakehouse_catalog::JobState::Failed;
            j.error = Some(e.to_string());
            j.finished = Some(Utc::now());
        });
        return Err(e.into());
    }
    notices.push(format!(
        "building vector index \"{}\" over {}({}) as job {}; progress in lakehouse.jobs",
        request.name, request.source, request.text_column, job.id
    ));
    env.index_builder
        .spawn(job.id, session.clone(), Some(notices.clone()));
    Ok(RecordBatch::try_new(
        result_schema(),
        vec![
            Arc::new(Int64Array::from(vec![job.id])),
            Arc::new(StringArray::from(vec![request.name])),
            Arc::new(StringArray::from(vec!["queued"])),
        ],
    )?)
}
