//! `ingest_csv(path, dataset [, options])`: load a CSV file into a Delta table.
//!
//! Planning only builds a [`DeferredTable`] with the summary schema, so Parse
//! and Describe never touch a file; the work runs when the plan executes:
//! resolve the path under the import roots, profile the file (validate, hash,
//! infer), skip it if that content already went into the dataset, otherwise
//! stream it into the table as a single Delta commit.

use lakehouse_catalog::pg_catalog::{OwnFunction, OwnFunctionResult};
use std::path::PathBuf;
use std::sync::{Arc, LazyLock};
use std::time::Instant;

use datafusion::arrow::array::{Int64Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::streaming::StreamingTable;
use datafusion::catalog::{TableFunctionArgs, TableFunctionImpl, TableProvider};
use datafusion::common::{ScalarValue, plan_err};
use datafusion::datasource::provider_as_source;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::context::SessionState;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::{Expr, LogicalPlanBuilder, cast, col, lit};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::streaming::PartitionStream;
use lakehouse_catalog::{CatalogError, Lineage, TableIdent, WriteMode};
use lakehouse_ingest::csv::{CsvBatches, CsvOptions, CsvProfile, WriteMode as CsvMode};

use crate::args;
use crate::deferred::{DeferredRun, DeferredTable};
use crate::{FunctionEnv, UdfError};

/// Columns of the summary row every ingest function returns.
pub fn ingest_summary_schema() -> SchemaRef {
    static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
        Arc::new(Schema::new(vec![
            Field::new("dataset", DataType::Utf8, false),
            Field::new("rows", DataType::Int64, false),
            Field::new("columns", DataType::Int64, false),
            Field::new("bytes", DataType::Int64, false),
            Field::new("sha256", DataType::Utf8, false),
            Field::new("status", DataType::Utf8, false),
            Field::new("elapsed_ms", DataType::Int64, false),
        ]))
    });
    SCHEMA.clone()
}

/// The table function, registered per session so it knows the user.
#[derive(Debug)]
pub struct IngestCsv {
    env: FunctionEnv,
    user: String,
}

impl IngestCsv {
    pub fn new(env: FunctionEnv, user: String) -> Self {
        IngestCsv { env, user }
    }
}

/// A fully parsed call.
#[derive(Debug, Clone)]
struct IngestRequest {
    path: String,
    target: TableIdent,
    options: CsvOptions,
}

impl TableFunctionImpl for IngestCsv {
    fn call_with_args(&self, call: TableFunctionArgs) -> Result<Arc<dyn TableProvider>> {
        let args = call.exprs();
        // An unqualified dataset goes where CREATE TABLE would put it: the
        // session's current schema (first existing schema of its search_path).
        let default_schema = &call.session().config().options().catalog.default_schema;
        if !(2..=3).contains(&args.len()) {
            return plan_err!(
                "ingest_csv(path, dataset [, options]) takes 2 or 3 arguments, got {}",
                args.len()
            );
        }
        let path = args::required_text(args, 0, "ingest_csv", "path")?;
        let dataset = args::required_text(args, 1, "ingest_csv", "dataset")?;
        let options = match args::text(args, 2, "ingest_csv", "options")? {
            Some(text) => CsvOptions::parse(&text).map_err(UdfError::from)?,
            None => CsvOptions::default(),
        };
        let request = IngestRequest {
            path,
            target: args::table_ident(&dataset, default_schema, "ingest_csv", "dataset")?,
            options,
        };
        let label = format!(
            "IngestCsvExec: path={}, dataset={}",
            request.path, request.target
        );
        let (env, user) = (self.env.clone(), self.user.clone());
        let run: DeferredRun = Arc::new(move |session| {
            Box::pin(run_ingest(
                request.clone(),
                env.clone(),
                user.clone(),
                session,
            ))
        });
        Ok(Arc::new(DeferredTable::new(
            label,
            ingest_summary_schema(),
            run,
        )))
    }
}

/// What happened to the dataset.
#[derive(Debug, Clone, Copy)]
enum Status {
    Created,
    Appended,
    Replaced,
    Unchanged,
}

impl Status {
    fn as_str(self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Appended => "appended",
            Status::Replaced => "replaced",
            Status::Unchanged => "unchanged",
        }
    }
}

async fn run_ingest(
    request: IngestRequest,
    env: FunctionEnv,
    user: String,
    session: Arc<SessionState>,
) -> Result<RecordBatch> {
    let started = Instant::now();
    let path = env.import_roots.resolve(&request.path)?;
    if path.is_dir() {
        return Err(UdfError::InvalidArgument {
            function: "ingest_csv",
            message: format!("\"{}\" is a directory, not a CSV file", request.path),
        }
        .into());
    }
    let display = request.path.clone();
    let profile = {
        let (path, display, options) = (path.clone(), display.clone(), request.options.clone());
        tokio::task::spawn_blocking(move || {
            lakehouse_ingest::csv::profile(&path, &display, &options)
        })
        .await
        .map_err(|e| DataFusionError::External(Box::new(e)))?
        .map_err(UdfError::from)?
    };

    // Naming a new schema in the dataset creates it, as a directory would.
    env.store
        .create_schema(&request.target.schema, true)
        .map_err(UdfError::from)?;
    let existing = env
        .store
        .open(&request.target)
        .await
        .map_err(UdfError::from)?;
    let mode = match (&existing, request.options.mode) {
        (None, _) => WriteMode::Create,
        (Some(_), CsvMode::Append) => WriteMode::Append,
        (Some(_), CsvMode::Replace) => WriteMode::Replace,
    };
    if let (Some(table), WriteMode::Append) = (&existing, mode)
        && env
            .store
            .contains_source_hash(table, &profile.sha256)
            .await
            .map_err(UdfError::from)?
    {
        return summary(&request, &profile, Status::Unchanged, started);
    }

    let target_schema = match (&existing, mode) {
        (Some(_), WriteMode::Append) => {
            let provider = session
                .catalog_list()
                .catalog(session.config().options().catalog.default_catalog.as_str())
                .and_then(|c| c.schema(&request.target.schema));
            match provider {
                Some(schema) => schema
                    .table(&request.target.table)
                    .await?
                    .map(|t| t.schema()),
                None => None,
            }
        }
        _ => None,
    };
    let plan = csv_plan(
        &path,
        &display,
        &request.options,
        &profile,
        env.ingest_batch_rows,
    )?;
    let plan = match &target_schema {
        Some(target) => conform_to(plan, &profile.schema, target, &request.target)?,
        None => plan,
    };
    let lineage = Lineage {
        operation: "ingest_csv".into(),
        source: Some(path.display().to_string()),
        sha256: Some(profile.sha256.clone()),
        user: user.clone(),
    };
    env.store
        .write_plan(&request.target, plan, session, mode, &user, Some(&lineage))
        .await
        .map_err(UdfError::from)?;
    let status = match mode {
        WriteMode::Create => Status::Created,
        WriteMode::Append => Status::Appended,
        WriteMode::Replace => Status::Replaced,
    };
    summary(&request, &profile, status, started)
}

fn summary(
    request: &IngestRequest,
    profile: &CsvProfile,
    status: Status,
    started: Instant,
) -> Result<RecordBatch> {
    let rows = match status {
        Status::Unchanged => 0,
        _ => profile.rows as i64,
    };
    Ok(RecordBatch::try_new(
        ingest_summary_schema(),
        vec![
            Arc::new(StringArray::from(vec![request.target.to_string()])),
            Arc::new(Int64Array::from(vec![rows])),
            Arc::new(Int64Array::from(vec![profile.schema.fields().len() as i64])),
            Arc::new(Int64Array::from(vec![profile.bytes as i64])),
            Arc::new(StringArray::from(vec![profile.sha256.clone()])),
            Arc::new(StringArray::from(vec![status.as_str()])),
            Arc::new(Int64Array::from(vec![started.elapsed().as_millis() as i64])),
        ],
    )?)
}

/// A logical plan that streams the file's batches (read on a blocking thread).
fn csv_plan(
    path: &std::path::Path,
    display: &str,
    options: &CsvOptions,
    profile: &CsvProfile,
    batch_rows: usize,
) -> Result<datafusion::logical_expr::LogicalPlan> {
    let partition = CsvPartition {
        path: path.to_path_buf(),
        display: display.to_string(),
        options: options.clone(),
        profile: profile.clone(),
        batch_rows,
    };
    let table = StreamingTable::try_new(profile.schema.clone(), vec![Arc::new(partition)])?;
    LogicalPlanBuilder::scan("ingest_csv", provider_as_source(Arc::new(table)), None)?.build()
}

/// Casts the file's columns to an existing table's types, by name; table
/// columns the file lacks become NULL. A file column the table lacks is an error.
fn conform_to(
    plan: datafusion::logical_expr::LogicalPlan,
    file: &SchemaRef,
    table: &SchemaRef,
    ident: &TableIdent,
) -> Result<datafusion::logical_expr::LogicalPlan> {
    if let Some(extra) = file
        .fields()
        .iter()
        .find(|f| table.field_with_name(f.name()).is_err())
    {
        return Err(UdfError::Catalog(CatalogError::SchemaMismatch {
            table: ident.to_string(),
            message: format!(
                "the file has column \"{}\" which the table does not (use mode=replace to redefine it)",
                extra.name()
            ),
        })
        .into());
    }
    let exprs: Vec<Expr> = table
        .fields()
        .iter()
        .map(|f| {
            let source = if file.field_with_name(f.name()).is_ok() {
                col(datafusion::common::Column::from_name(f.name()))
            } else {
                lit(ScalarValue::Null)
            };
            cast(source, f.data_type().clone()).alias(f.name())
        })
        .collect();
    LogicalPlanBuilder::from(plan).project(exprs)?.build()
}

/// One pass-two read of the file, as a DataFusion partition stream.
#[derive(Debug)]
struct CsvPartition {
    path: PathBuf,
    display: String,
    options: CsvOptions,
    profile: CsvProfile,
    batch_rows: usize,
}

impl PartitionStream for CsvPartition {
    fn schema(&self) -> &SchemaRef {
        &self.profile.schema
    }

    fn execute(&self, _ctx: Arc<TaskContext>) -> SendableRecordBatchStream {
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<RecordBatch>>(2);
        let (path, display, options, profile, batch_rows) = (
            self.path.clone(),
            self.display.clone(),
            self.options.clone(),
            self.profile.clone(),
            self.batch_rows,
        );
        tokio::task::spawn_blocking(move || {
            let batches = match CsvBatches::open(&path, &display, &options, &profile, batch_rows) {
                Ok(b) => b,
                Err(e) => {
                    let _ = tx.blocking_send(Err(UdfError::from(e).into()));
                    return;
                }
            };
            for batch in batches {
                let item = batch.map_err(|e| UdfError::from(e).into());
                let failed = item.is_err();
                if tx.blocking_send(item).is_err() || failed {
                    return;
                }
            }
        });
        let stream = futures::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|item| (item, rx))
        });
        Box::pin(RecordBatchStreamAdapter::new(
            self.profile.schema.clone(),
            stream,
        ))
    }
}

/// How `pg_proc` lists `ingest_csv`.
pub(crate) fn description() -> OwnFunction {
    OwnFunction {
        name: "ingest_csv",
        arguments: vec![
            ("path", DataType::Utf8),
            ("dataset", DataType::Utf8),
            ("options", DataType::Utf8),
        ],
        defaults: vec!["''"],
        result: OwnFunctionResult::Rows(ingest_summary_schema()),
        volatile: true,
        description: "loads a CSV file under the import roots into a table (created, appended, replaced or unchanged)",
    }
}
