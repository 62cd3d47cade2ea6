//! `create_vector_index(name, table, text_column [, options])`: starts a
//! background job that chunks, embeds and indexes a text column; returns the
//! job id at once.
//!
//! Options (`key=value,...`): `key` (the source key column; default `id`, else
//! the first other column), `chunk_size` / `chunk_overlap` (characters, default
//! 800 / 100), `m` / `ef_construction` / `ef_search` (HNSW, default 16 / 128 / 64),
//! `quantization` (`f32`, `f16` or `i8`: how the graph stores its vectors).
//! The column is text (chunked and embedded with the configured model) or a
//! `real[]` / `double precision[]` column of vectors you computed yourself
//! (indexed as they are, one chunk per row; queries must then be vectors).
//! Watch the job in `lakehouse.jobs`; the index is listed in
//! `lakehouse.vector_indexes` from the start.

use lakehouse_catalog::pg_catalog::{OwnFunction, OwnFunctionResult};
use std::sync::{Arc, LazyLock};

use chrono::Utc;
use datafusion::arrow::array::{Int64Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::{TableFunctionArgs, TableFunctionImpl, TableProvider};
use datafusion::common::TableReference;
use datafusion::error::Result;
use datafusion::execution::context::SessionState;
use datafusion::logical_expr::Expr;
use datafusion::prelude::SessionContext;
use lakehouse_catalog::vector_index::{IndexState, Quantization, VectorIndexDefinition};
use lakehouse_catalog::{CatalogError, TableIdent};
use lakehouse_ingest::chunker::SentenceChunker;

use crate::deferred::{DeferredRun, DeferredTable};
use crate::vector_index_build::{JOB_KIND, storage_type};
use crate::{FunctionEnv, SessionNotices, UdfError, args, run_blocking};

const FUNCTION: &str = "create_vector_index";
const OPTIONS: [&str; 7] = [
    "key",
    "chunk_size",
    "chunk_overlap",
    "m",
    "ef_construction",
    "ef_search",
    "quantization",
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
    quantization: Quantization,
}

/// The call's arguments; an unqualified table is in `default_schema`.
fn parse(call: &[Expr], default_schema: &str) -> Result<Request, UdfError> {
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
            default_schema,
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
        quantization: Quantization::F32,
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
            "quantization" => {
                request.quantization =
                    value.parse().map_err(|message| UdfError::InvalidArgument {
                        function: FUNCTION,
                        message,
                    })?
            }
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
    crate::hnsw_trial::check_m(request.m, FUNCTION)?;
    Ok(request)
}

impl TableFunctionImpl for CreateVectorIndex {
    fn call_with_args(&self, call: TableFunctionArgs) -> Result<Arc<dyn TableProvider>> {
        let default_schema = &call.session().config().options().catalog.default_schema;
        let request = parse(call.exprs(), default_schema)?;
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
    let vector_column = is_vector_type(text.data_type());
    if !vector_column
        && !matches!(
            text.data_type(),
            DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8
        )
    {
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

    let (model_name, model_sha256, dims) = if vector_column {
        let dims = vector_dims(&ctx, &request, &text).await?;
        (String::new(), String::new(), dims)
    } else {
        let models = env.models.clone();
        let embedder = run_blocking(move || models.embedder())?;
        let identity = embedder.identity();
        (
            identity.name.clone(),
            identity.sha256.clone(),
            embedder.dims() as i64,
        )
    };
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
        vector_column,
        model_name,
        model_sha256,
        dims,
        metric: "cosine".into(),
        chunk_size: request.chunk_size as i64,
        chunk_overlap: request.chunk_overlap as i64,
        m: request.m as i64,
        ef_construction: request.ef_construction as i64,
        ef_search: request.ef_search as i64,
        quantization: request.quantization,
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

/// A list of floats: a column of precomputed vectors.
pub(crate) fn is_vector_type(data_type: &DataType) -> bool {
    match data_type {
        DataType::List(item) | DataType::LargeList(item) | DataType::FixedSizeList(item, _) => {
            matches!(item.data_type(), DataType::Float32 | DataType::Float64)
        }
        _ => false,
    }
}

/// Dimensions of a vector column: its fixed size, else the length of its
/// first non-NULL value.
async fn vector_dims(
    ctx: &SessionContext,
    request: &Request,
    column: &Field,
) -> Result<i64, UdfError> {
    if let DataType::FixedSizeList(_, size) = column.data_type() {
        return Ok(i64::from(*size));
    }
    let name = datafusion::logical_expr::ident(column.name());
    let batches = ctx
        .table(TableReference::partial(
            request.source.schema.as_str(),
            request.source.table.as_str(),
        ))
        .await?
        .filter(name.clone().is_not_null())?
        .select(vec![datafusion::functions_nested::expr_fn::cardinality(
            name,
        )])?
        .limit(0, Some(1))?
        .collect()
        .await?;
    let dims = batches
        .iter()
        .find(|b| b.num_rows() > 0)
        .and_then(|b| {
            datafusion::arrow::compute::cast(b.column(0), &DataType::Int64)
                .ok()
                .and_then(|a| a.as_any().downcast_ref::<Int64Array>().map(|a| a.value(0)))
        })
        .unwrap_or(0);
    if dims == 0 {
        return Err(UdfError::InvalidArgument {
            function: FUNCTION,
            message: format!(
                "column \"{}\" of {} has no non-empty vector to take the dimensions from",
                request.text_column, request.source
            ),
        });
    }
    Ok(dims)
}

/// How `pg_proc` lists `create_vector_index`.
pub(crate) fn description() -> OwnFunction {
    OwnFunction {
        name: FUNCTION,
        arguments: vec![
            ("name", DataType::Utf8),
            ("table", DataType::Utf8),
            ("text_column", DataType::Utf8),
            ("options", DataType::Utf8),
        ],
        defaults: vec!["''"],
        result: OwnFunctionResult::Rows(result_schema()),
        volatile: true,
        description: "chunks, embeds and indexes a text column (HNSW) as a background job",
    }
}
