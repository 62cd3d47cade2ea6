//! `pg_catalog.pg_description` rows for `COMMENT ON TABLE` / `COLUMN`.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, Int32Array, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::error::Result;

use super::CatalogSnapshot;
use super::pg_proc::{self, OwnFunction};

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

/// Comments on tables and columns, and the descriptions of `functions`.
pub(super) fn batch(snapshot: &CatalogSnapshot, functions: &[OwnFunction]) -> Result<RecordBatch> {
    let classoid = snapshot.oids.pg_class();
    // A function's classoid is `pg_proc`'s oid in `pg_class` (as
    // `'pg_proc'::regclass` gives it), PostgreSQL's 1255 if it has none.
    let pg_proc = snapshot
        .oids
        .relation("pg_catalog", "pg_proc")
        .unwrap_or(1255);
    // (objoid, classoid, objsubid, description)
    let rows: Vec<(i32, i32, i32, &str)> = relation_comments(snapshot)
        .map(|(oid, subid, text)| (oid, classoid, subid, text))
        .chain(pg_proc::descriptions(functions).map(|(oid, text)| (oid, pg_proc, 0, text)))
        .collect();
    let columns: Vec<ArrayRef> = vec![
        Arc::new(rows.iter().map(|c| c.0).collect::<Int32Array>()),
        Arc::new(rows.iter().map(|c| c.1).collect::<Int32Array>()),
        Arc::new(rows.iter().map(|c| c.2).collect::<Int32Array>()),
        Arc::new(rows.iter().map(|c| Some(c.3)).collect::<StringArray>()),
    ];
    Ok(RecordBatch::try_new(schema(), columns)?)
}
