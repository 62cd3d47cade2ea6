//! `hnsw_apply(index, trial_id)`: makes a trial's parameters the index's
//! serving generation.
//!
//! When the trial's graph is kept (trials keep theirs), the swap happens in the
//! statement: the graph is loaded and becomes generation n+1 (see
//! `VectorIndexStore::swap_generation`). Otherwise a background job (kind
//! `hnsw_apply` in `lakehouse.jobs`) builds it and then swaps; an interrupted
//! job starts again at the next server start. Searches never wait or fail
//! during a swap: they use the old generation until the new one is cached.

use lakehouse_catalog::pg_catalog::{OwnFunction, OwnFunctionResult};
use std::sync::{Arc, LazyLock};

use chrono::Utc;
use datafusion::arrow::array::{Int64Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::{TableFunctionImpl, TableProvider};
use datafusion::error::Result;
use datafusion::logical_expr::Expr;
use lakehouse_catalog::JobState;
use lakehouse_catalog::vector_index::HnswParams;

use crate::deferred::DeferredTable;
use crate::{FunctionEnv, SessionNotices, UdfError, args};

const FUNCTION: &str = "hnsw_apply";
/// `lakehouse.jobs.kind` of swaps that need a build first.
pub const JOB_KIND: &str = "hnsw_apply";

fn result_schema() -> SchemaRef {
    static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
        let int = |n: &str| Field::new(n, DataType::Int64, false);
        Arc::new(Schema::new(vec![
            Field::new("index_name", DataType::Utf8, false),
            int("trial_id"),
            int("m"),
            int("ef_construction"),
            int("ef_search"),
            Field::new("quantization", DataType::Utf8, false),
            Field::new("generation", DataType::Int64, true),
            Field::new("state", DataType::Utf8, false),
            Field::new("job_id", DataType::Int64, true),
        ]))
    });
    SCHEMA.clone()
}

#[derive(Debug)]
pub struct HnswApply {
    env: FunctionEnv,
    user: String,
    notices: SessionNotices,
}

impl HnswApply {
    pub fn new(env: FunctionEnv, user: String, notices: SessionNotices) -> Self {
        HnswApply { env, user, notices }
    }
}

impl TableFunctionImpl for HnswApply {
    fn call(&self, call: &[Expr]) -> Result<Arc<dyn TableProvider>> {
        args::arity(call, 2..=2, FUNCTION, "hnsw_apply(index, trial_id)")?;
        let index = args::required_text(call, 0, FUNCTION, "index")?;
        let trial_id = args::positive_int(call, 1, FUNCTION, "trial_id")?.unwrap_or(0) as i64;
        let label = format!("HnswApplyExec: index={index}, trial={trial_id}");
        let (env, user, notices) = (self.env.clone(), self.user.clone(), self.notices.clone());
        Ok(Arc::new(DeferredTable::from_fn(
            label,
            result_schema(),
            move |_session| {
                let (env, user, notices, index) =
                    (env.clone(), user.clone(), notices.clone(), index.clone());
                async move { Ok(apply(env, &index, trial_id, &user, notices).await?) }
            },
        )))
    }
}

async fn apply(
    env: FunctionEnv,
    index: &str,
    trial_id: i64,
    user: &str,
    notices: SessionNotices,
) -> Result<RecordBatch, UdfError> {
    let definition = env.vectors.require(index)?;
    let trial = env.vectors.trials().get(trial_id).await?;
    if trial.index_name != index {
        return Err(UdfError::InvalidArgument {
            function: FUNCTION,
            message: format!(
                "trial {trial_id} was run on vector index \"{}\", not \"{index}\"",
                trial.index_name
            ),
        });
    }
    let params = trial.params;
    let kept = env.vectors.trial_graph_path(index, params);
    let row = |generation: Option<i64>, state: &str, job_id: Option<i64>| {
        RecordBatch::try_new(
            result_schema(),
            vec![
                Arc::new(StringArray::from(vec![index])),
                Arc::new(Int64Array::from(vec![trial_id])),
                Arc::new(Int64Array::from(vec![params.m as i64])),
                Arc::new(Int64Array::from(vec![params.ef_construction as i64])),
                Arc::new(Int64Array::from(vec![params.ef_search as i64])),
                Arc::new(StringArray::from(vec![params.quantization.as_str()])),
                Arc::new(Int64Array::from(vec![generation])),
                Arc::new(StringArray::from(vec![state])),
                Arc::new(Int64Array::from(vec![job_id])),
            ],
        )
    };
    if kept.exists() {
        let serving = env.vectors.swap_generation(index, &kept, params).await?;
        notices.push(format!(
            "vector index \"{index}\" now serves generation {} (trial {trial_id}; generation {} dropped)",
            serving.generation, definition.generation
        ));
        return Ok(row(Some(serving.generation), "serving", None)?);
    }
    let job = env.jobs.submit(
        JOB_KIND,
        index,
        user,
        serde_json::json!({ "index": index, "trial_id": trial_id }),
    )?;
    notices.push(format!(
        "trial {trial_id}'s graph is not kept; building it as job {} (see lakehouse.jobs), then swapping",
        job.id
    ));
    spawn(env, job.id, index.to_string(), params, Some(notices));
    Ok(row(None, "queued", Some(job.id))?)
}

/// Runs an apply job: build the graph, swap it in, record the outcome.
fn spawn(
    env: FunctionEnv,
    job_id: i64,
    index: String,
    params: HnswParams,
    notices: Option<SessionNotices>,
) {
    tokio::spawn(async move {
        let started = env.jobs.update(job_id, |j| {
            j.state = JobState::Running;
            j.attempts += 1;
            j.started.get_or_insert_with(Utc::now);
        });
        if started.is_err() {
            return;
        }
        let result = async {
            let path = env.vectors.build_trial_graph(&index, params).await?;
            env.vectors.swap_generation(&index, &path, params).await
        }
        .await;
        let message = match &result {
            Ok(d) => format!(
                "vector index \"{index}\" now serves generation {} (job {job_id})",
                d.generation
            ),
            Err(e) => format!("hnsw_apply job {job_id} on \"{index}\" failed: {e}"),
        };
        let _ = env.jobs.update(job_id, |j| {
            j.finished = Some(Utc::now());
            match &result {
                Ok(_) => j.state = JobState::Done,
                Err(e) => {
                    j.state = JobState::Failed;
                    j.error = Some(e.to_string());
                }
            }
        });
        if let Some(n) = notices {
            n.push(message);
        }
    });
}

/// Restarts the apply jobs a stop interrupted (their graph is rebuilt).
pub fn resume_unfinished(env: &FunctionEnv) {
    for job in env.jobs.list() {
        if job.kind != JOB_KIND || !job.state.is_unfinished() {
            continue;
        }
        let trial_id = job.spec.get("trial_id").and_then(|t| t.as_i64());
        let (env, index) = (env.clone(), job.target.clone());
        tokio::spawn(async move {
            let trial = match trial_id {
                Some(id) => env.vectors.trials().get(id).await,
                None => Err(lakehouse_catalog::CatalogError::TrialNotFound(0)),
            };
            match trial {
                Ok(trial) => spawn(env, job.id, index, trial.params, None),
                Err(e) => {
                    let _ = env.jobs.update(job.id, |j| {
                        j.state = JobState::Failed;
                        j.finished = Some(Utc::now());
                        j.error = Some(e.to_string());
                    });
                }
            }
        });
    }
}

/// How `pg_proc` lists `hnsw_apply`.
pub(crate) fn description() -> OwnFunction {
    OwnFunction {
        name: FUNCTION,
        arguments: vec![("index", DataType::Utf8), ("trial_id", DataType::Int64)],
        defaults: Vec::new(),
        result: OwnFunctionResult::Rows(result_schema()),
        volatile: true,
        description: "makes a trial's HNSW generation the one a vector index serves, without blocking readers",
    }
}
