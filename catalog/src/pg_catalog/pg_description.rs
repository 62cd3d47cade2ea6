//! `pg_catalog.pg_description` rows for `COMMENT ON TABLE` / `COLUMN`.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, Int32Array, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::error::Result;

use super::CatalogSnapshot;

/// Every table and column comment as (objoid, objsubid, text): objsubid 0 is
/// the table, n its n-th column.
pub(super) fn relation_comments(
    snapshot: &CatalogSnapshot,
) -> impl Iterator<Item = (i32, i32, &str)> {
    snapshot.tables.iter().flat_map(|(oid, table)| {
        let columns = table
            .columns
            .iter()
            .enumerate()
            .filter_map(move |(i, (_, comment))| {
                comment.as_deref().map(|c| (*oid, i as i32 + 1, c))
            });
        table
            .comment
            .as_deref()
            .map(|c| (*oid, 0, c))
            .into_iter()
            .chain(columns)
    })
}

pub(super) fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("objoid", DataType::Int32, true),
        Field::new("classoid", DataType::Int32, true),
        Field::new("objsubid", DataType::Int32, true),
        Field::new("description", DataType::Utf8, true),
    ]))
}

pub(super) fn batch(snapshot: &CatalogSnapshot) -> Result<RecordBatch> {
    let comments: Vec<_> = relation_comments(snapshot).collect();
    let classoid = snapshot.oids.pg_class();
    let columns: Vec<ArrayRef> = vec![
        Arc::new(comments.iter().map(|c| c.0).collect::<Int32Array>()),
        Arc::new(Int32Array::from(vec![classoid; comments.len()])),
        Arc::new(comments.iter().map(|c| c.1).collect::<Int32Array>()),
        Arc::new(comments.iter().map(|c| Some(c.2)).collect::<StringArray>()),
    ];
    Ok(RecordBatch::try_new(schema(), columns)?)
}
