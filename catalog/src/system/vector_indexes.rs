//! `lakehouse.vector_indexes`: every vector index, its model and serving generation.

use std::sync::{Arc, LazyLock};

use async_trait::async_trait;
use datafusion::arrow::array::{ArrayRef, Int64Array, StringArray, TimestampMillisecondArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::error::{DataFusionError, Result};

use super::SystemTableSource;
use crate::vector_index::{VectorIndexDefinition, VectorIndexStore};

static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    let ts = DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()));
    let text = |name: &str| Field::new(name, DataType::Utf8, false);
    let int = |name: &str| Field::new(name, DataType::Int64, false);
    Arc::new(Schema::new(vec![
        text("name"),
        text("source_schema"),
        text("source_table"),
        text("text_column"),
        text("key_column"),
        text("model_name"),
        text("model_sha256"),
        int("dims"),
        text("metric"),
        text("parameters"),
        int("m"),
        int("ef_construction"),
        int("ef_search"),
        text("quantization"),
        int("chunk_size"),
        int("chunk_overlap"),
        int("generation"),
        int("rows"),
        text("state"),
        int("job_id"),
        text("owner"),
        Field::new("created", ts, false),
    ]))
});

#[derive(Debug)]
pub struct VectorIndexesTable {
    vectors: VectorIndexStore,
}

impl VectorIndexesTable {
    pub fn new(vectors: VectorIndexStore) -> Self {
        VectorIndexesTable { vectors }
    }
}

#[async_trait]
impl SystemTableSource for VectorIndexesTable {
    fn schema(&self) -> SchemaRef {
        SCHEMA.clone()
    }

    async fn batch(&self) -> Result<RecordBatch> {
        let defs = self.vectors.definitions().map_err(DataFusionError::from)?;
        let text = |f: &dyn Fn(&VectorIndexDefinition) -> String| -> ArrayRef {
            Arc::new(StringArray::from_iter_values(defs.iter().map(f)))
        };
        let int = |f: &dyn Fn(&VectorIndexDefinition) -> i64| -> ArrayRef {
            Arc::new(Int64Array::from_iter_values(defs.iter().map(f)))
        };
        let created = TimestampMillisecondArray::from_iter_values(
            defs.iter().map(|d| d.created.timestamp_millis()),
        )
        .with_timezone("UTC");
        let arrays: Vec<ArrayRef> = vec![
            text(&|d| d.name.clone()),
            text(&|d| d.source_schema.clone()),
            text(&|d| d.source_table.clone()),
            text(&|d| d.text_column.clone()),
            text(&|d| d.key_column.clone()),
            text(&|d| d.model_name.clone()),
            text(&|d| d.model_sha256.clone()),
            int(&|d| d.dims),
            text(&|d| d.metric.clone()),
            text(&|d| {
                format!(
                    "m={} ef_construction={} ef_search={} quantization={} chunk_size={} chunk_overlap={}",
                    d.m,
                    d.ef_construction,
                    d.ef_search,
                    d.quantization.as_str(),
                    d.chunk_size,
                    d.chunk_overlap
                )
            }),
            int(&|d| d.m),
            int(&|d| d.ef_construction),
            int(&|d| d.ef_search),
            text(&|d| d.quantization.as_str().to_string()),
            int(&|d| d.chunk_size),
            int(&|d| d.chunk_overlap),
            int(&|d| d.generation),
            int(&|d| d.rows),
            text(&|d| d.state.as_str().to_string()),
            int(&|d| d.job_id),
            text(&|d| d.owner.clone()),
            Arc::new(created),
        ];
        Ok(RecordBatch::try_new(SCHEMA.clone(), arrays)?)
    }
}
