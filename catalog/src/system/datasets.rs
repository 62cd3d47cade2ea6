//! `lakehouse.datasets`: one row per table, from its Delta snapshot and history.

use std::sync::{Arc, LazyLock};

use async_trait::async_trait;
use datafusion::arrow::array::{
    ArrayRef, Int64Builder, ListBuilder, StringBuilder, TimestampMillisecondBuilder,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::error::{DataFusionError, Result};
use serde_json::json;

use super::SystemTableSource;
use crate::DeltaTableStore;
use crate::schema_provider::table_arrow_schema;

static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    let ts = DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()));
    let text_list = DataType::List(Arc::new(Field::new("item", DataType::Utf8, true)));
    Arc::new(Schema::new(vec![
        Field::new("name", DataType::Utf8, false),
        Field::new("schema", DataType::Utf8, false),
        Field::new("rows", DataType::Int64, false),
        Field::new("bytes", DataType::Int64, false),
        Field::new("files", DataType::Int64, false),
        Field::new("columns", DataType::Int64, false),
        Field::new("version", DataType::Int64, false),
        Field::new("description", DataType::Utf8, true),
        Field::new("owner", DataType::Utf8, true),
        Field::new("sensitivity", DataType::Utf8, true),
        Field::new("tags", text_list.clone(), true),
        Field::new("source", DataType::Utf8, true),
        Field::new("lineage", DataType::Utf8, true),
        Field::new("content_hashes", text_list, true),
        Field::new("created", ts.clone(), true),
        Field::new("updated", ts, true),
    ]))
});

#[derive(Debug)]
pub struct DatasetsTable {
    store: DeltaTableStore,
}

impl DatasetsTable {
    pub fn new(store: DeltaTableStore) -> Self {
        DatasetsTable { store }
    }
}

#[async_trait]
impl SystemTableSource for DatasetsTable {
    fn schema(&self) -> SchemaRef {
        SCHEMA.clone()
    }

    async fn batch(&self) -> Result<RecordBatch> {
        let mut name = StringBuilder::new();
        let mut schema = StringBuilder::new();
        let mut rows = Int64Builder::new();
        let mut bytes = Int64Builder::new();
        let mut files = Int64Builder::new();
        let mut columns = Int64Builder::new();
        let mut version = Int64Builder::new();
        let mut description = StringBuilder::new();
        let mut owner = StringBuilder::new();
        let mut sensitivity = StringBuilder::new();
        let mut tags = ListBuilder::new(StringBuilder::new());
        let mut source = StringBuilder::new();
        let mut lineage = StringBuilder::new();
        let mut hashes = ListBuilder::new(StringBuilder::new());
        let mut created = TimestampMillisecondBuilder::new().with_timezone("UTC");
        let mut updated = TimestampMillisecondBuilder::new().with_timezone("UTC");

        for (ident, table) in self.store.open_all().await.map_err(DataFusionError::from)? {
            let stats = self
                .store
                .stats(&table)
                .await
                .map_err(DataFusionError::from)?;
            let arrow = table_arrow_schema(&table)?;
            name.append_value(&ident.table);
            schema.append_value(&ident.schema);
            rows.append_value(stats.rows);
            bytes.append_value(stats.bytes);
            files.append_value(stats.files);
            columns.append_value(arrow.fields().len() as i64);
            version.append_value(stats.version);
            description.append_option(stats.description.as_deref());
            owner.append_option(stats.owner.as_deref());
            sensitivity.append_null();
            tags.append_null();
            source.append_option(
                stats
                    .lineage
                    .iter()
                    .rev()
                    .find_map(|(_, l)| l.source.as_deref()),
            );
            if stats.lineage.is_empty() {
                lineage.append_null();
            } else {
                let entries: Vec<_> = stats
                    .lineage
                    .iter()
                    .map(|(v, l)| {
                        json!({"version": v, "operation": l.operation, "source": l.source,
                                   "sha256": l.sha256, "user": l.user})
                    })
                    .collect();
                lineage.append_value(serde_json::Value::Array(entries).to_string());
            }
            let digests: Vec<Option<String>> = stats
                .lineage
                .iter()
                .filter_map(|(_, l)| l.sha256.clone().map(Some))
                .collect();
            hashes.append_value(digests);
            created.append_option(stats.created_ms);
            updated.append_option(stats.updated_ms);
        }
        let arrays: Vec<ArrayRef> = vec![
            Arc::new(name.finish()),
            Arc::new(schema.finish()),
            Arc::new(rows.finish()),
            Arc::new(bytes.finish()),
            Arc::new(files.finish()),
            Arc::new(columns.finish()),
            Arc::new(version.finish()),
            Arc::new(description.finish()),
            Arc::new(owner.finish()),
            Arc::new(sensitivity.finish()),
            Arc::new(tags.finish()),
            Arc::new(source.finish()),
            Arc::new(lineage.finish()),
            Arc::new(hashes.finish()),
            Arc::new(created.finish()),
            Arc::new(updated.finish()),
        ];
        Ok(RecordBatch::try_new(SCHEMA.clone(), arrays)?)
    }
}
