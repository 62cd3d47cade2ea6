//! `lakehouse.jobs`: background jobs (index builds) and their progress.

use std::sync::{Arc, LazyLock};

use async_trait::async_trait;
use datafusion::arrow::array::{
    ArrayRef, Float64Builder, Int64Builder, StringBuilder, TimestampMillisecondBuilder,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::error::Result;

use super::SystemTableSource;
use crate::JobStore;

static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    let ts = DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()));
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("kind", DataType::Utf8, false),
        Field::new("target", DataType::Utf8, false),
        Field::new("state", DataType::Utf8, false),
        Field::new("progress", DataType::Float64, false),
        Field::new("rows_done", DataType::Int64, false),
        Field::new("rows_total", DataType::Int64, false),
        Field::new("started", ts.clone(), true),
        Field::new("finished", ts, true),
        Field::new("error", DataType::Utf8, true),
        Field::new("owner", DataType::Utf8, false),
        Field::new("attempts", DataType::Int64, false),
    ]))
});

#[derive(Debug)]
pub struct JobsTable {
    jobs: JobStore,
}

impl JobsTable {
    pub fn new(jobs: JobStore) -> Self {
        JobsTable { jobs }
    }
}

#[async_trait]
impl SystemTableSource for JobsTable {
    fn schema(&self) -> SchemaRef {
        SCHEMA.clone()
    }

    async fn batch(&self) -> Result<RecordBatch> {
        let mut id = Int64Builder::new();
        let mut kind = StringBuilder::new();
        let mut target = StringBuilder::new();
        let mut state = StringBuilder::new();
        let mut progress = Float64Builder::new();
        let mut rows_done = Int64Builder::new();
        let mut rows_total = Int64Builder::new();
        let mut started = TimestampMillisecondBuilder::new().with_timezone("UTC");
        let mut finished = TimestampMillisecondBuilder::new().with_timezone("UTC");
        let mut error = StringBuilder::new();
        let mut owner = StringBuilder::new();
        let mut attempts = Int64Builder::new();
        for job in self.jobs.list() {
            id.append_value(job.id);
            kind.append_value(&job.kind);
            target.append_value(&job.target);
            state.append_value(job.state.as_str());
            progress.append_value(job.progress());
            rows_done.append_value(job.rows_done);
            rows_total.append_value(job.rows_total);
            started.append_option(job.started.map(|t| t.timestamp_millis()));
            finished.append_option(job.finished.map(|t| t.timestamp_millis()));
            error.append_option(job.error.as_deref());
            owner.append_value(&job.owner);
            attempts.append_value(job.attempts);
        }
        let arrays: Vec<ArrayRef> = vec![
            Arc::new(id.finish()),
            Arc::new(kind.finish()),
            Arc::new(target.finish()),
            Arc::new(state.finish()),
            Arc::new(progress.finish()),
            Arc::new(rows_done.finish()),
            Arc::new(rows_total.finish()),
            Arc::new(started.finish()),
            Arc::new(finished.finish()),
            Arc::new(error.finish()),
            Arc::new(owner.finish()),
            Arc::new(attempts.finish()),
        ];
        Ok(RecordBatch::try_new(SCHEMA.clone(), arrays)?)
    }
}
