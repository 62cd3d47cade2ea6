//! `lakehouse.columns`: one row per column of every table, from its Delta schema.

use std::sync::{Arc, LazyLock};

use async_trait::async_trait;
use datafusion::arrow::array::{ArrayRef, BooleanBuilder, Int32Builder, StringBuilder};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::error::{DataFusionError, Result};

use super::SystemTableSource;
use crate::DeltaTableStore;
use crate::pg_types::postgres_type_name;
use crate::schema_provider::table_arrow_schema;

static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        Field::new("dataset", DataType::Utf8, false),
        Field::new("schema", DataType::Utf8, false),
        Field::new("column_name", DataType::Utf8, false),
        Field::new("ordinal", DataType::Int32, false),
        Field::new("data_type", DataType::Utf8, false),
        Field::new("nullable", DataType::Boolean, false),
        Field::new("pii_kind", DataType::Utf8, true),
        Field::new("sensitivity", DataType::Utf8, true),
        Field::new("description", DataType::Utf8, true),
    ]))
});

#[derive(Debug)]
pub struct ColumnsTable {
    store: DeltaTableStore,
}

impl ColumnsTable {
    pub fn new(store: DeltaTableStore) -> Self {
        ColumnsTable { store }
    }
}

#[async_trait]
impl SystemTableSource for ColumnsTable {
    fn schema(&self) -> SchemaRef {
        SCHEMA.clone()
    }

    async fn batch(&self) -> Result<RecordBatch> {
        let mut dataset = StringBuilder::new();
        let mut schema = StringBuilder::new();
        let mut column = StringBuilder::new();
        let mut ordinal = Int32Builder::new();
        let mut data_type = StringBuilder::new();
        let mut nullable = BooleanBuilder::new();
        let mut pii = StringBuilder::new();
        let mut sensitivity = StringBuilder::new();
        let mut description = StringBuilder::new();
        for (ident, table) in self.store.open_all().await.map_err(DataFusionError::from)? {
            for (i, field) in table_arrow_schema(&table)?.fields().iter().enumerate() {
                dataset.append_value(&ident.table);
                schema.append_value(&ident.schema);
                column.append_value(field.name());
                ordinal.append_value(i as i32 + 1);
                data_type.append_value(postgres_type_name(field.data_type()));
                nullable.append_value(field.is_nullable());
                pii.append_null();
                sensitivity.append_null();
                description.append_option(field.metadata().get("comment"));
            }
        }
        let arrays: Vec<ArrayRef> = vec![
            Arc::new(dataset.finish()),
            Arc::new(schema.finish()),
            Arc::new(column.finish()),
            Arc::new(ordinal.finish()),
            Arc::new(data_type.finish()),
            Arc::new(nullable.finish()),
            Arc::new(pii.finish()),
            Arc::new(sensitivity.finish()),
            Arc::new(description.finish()),
        ];
        Ok(RecordBatch::try_new(SCHEMA.clone(), arrays)?)
    }
}
