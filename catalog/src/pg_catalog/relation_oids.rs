//! The oids datafusion-pg-catalog's `pg_class` gives relations. They are
//! handed out as relations are first listed and live only in that provider,
//! so the overlay reads them back from `pg_class` itself.

use std::collections::HashMap;

use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::datatypes::Int32Type;
use datafusion::catalog::{SchemaProvider, Session, TableProvider};
use datafusion::error::{DataFusionError, Result};

/// Relation and namespace oids, by name.
#[derive(Debug, Default)]
pub(super) struct RelationOids {
    namespaces: HashMap<String, i32>,
    relations: HashMap<(String, String), i32>,
}

impl RelationOids {
    /// Reads `pg_namespace` and `pg_class`; also returns `pg_class`'s batches
    /// so a scan of `pg_class` does not list the relations twice.
    pub(super) async fn read(
        pg_catalog: &dyn SchemaProvider,
        state: &dyn Session,
    ) -> Result<(RelationOids, Vec<RecordBatch>)> {
        let mut namespaces = HashMap::new();
        for batch in collect_table(pg_catalog, "pg_namespace", state).await? {
            let oid = int32_column(&batch, "oid")?;
            let name = string_column(&batch, "nspname")?;
            for row in 0..batch.num_rows() {
                if let Some(name) = name(row) {
                    namespaces.insert(oid.value(row), name);
                }
            }
        }
        let pg_class = collect_table(pg_catalog, "pg_class", state).await?;
        let mut relations = HashMap::new();
        for batch in &pg_class {
            let oid = int32_column(batch, "oid")?;
            let namespace = int32_column(batch, "relnamespace")?;
            let name = string_column(batch, "relname")?;
            for row in 0..batch.num_rows() {
                if let (Some(schema), Some(name)) =
                    (namespaces.get(&namespace.value(row)), name(row))
                {
                    relations.insert((schema.clone(), name), oid.value(row));
                }
            }
        }
        let namespaces = namespaces
            .into_iter()
            .map(|(oid, name)| (name, oid))
            .collect();
        Ok((
            RelationOids {
                namespaces,
                relations,
            },
            pg_class,
        ))
    }

    /// The oid of `schema.name`, if `pg_class` lists it.
    pub(super) fn relation(&self, schema: &str, name: &str) -> Option<i32> {
        self.relations
            .get(&(schema.to_string(), name.to_string()))
            .copied()
    }

    /// Every relation: (schema, name) -> oid.
    pub(super) fn relations(&self) -> &HashMap<(String, String), i32> {
        &self.relations
    }

    /// The oid of a schema, if `pg_namespace` lists it.
    pub(super) fn namespace(&self, schema: &str) -> Option<i32> {
        self.namespaces.get(schema).copied()
    }

    /// The oid of the `pg_class` catalog itself: the `classoid` of a
    /// relation's description (`'pg_catalog.pg_class'::regclass`).
    pub(super) fn pg_class(&self) -> i32 {
        self.relation("pg_catalog", "pg_class").unwrap_or(1259)
    }
}

async fn collect_table(
    pg_catalog: &dyn SchemaProvider,
    name: &str,
    state: &dyn Session,
) -> Result<Vec<RecordBatch>> {
    let table = pg_catalog
        .table(name)
        .await?
        .ok_or_else(|| DataFusionError::Internal(format!("pg_catalog.{name} is missing")))?;
    collect(table.as_ref(), state).await
}

/// Every row of a table provider.
pub(super) async fn collect(
    table: &dyn TableProvider,
    state: &dyn Session,
) -> Result<Vec<RecordBatch>> {
    let plan = table.scan(state, None, &[], None).await?;
    datafusion::physical_plan::collect(plan, state.task_ctx()).await
}

fn int32_column<'a>(
    batch: &'a RecordBatch,
    name: &str,
) -> Result<&'a datafusion::arrow::array::PrimitiveArray<Int32Type>> {
    batch
        .column_by_name(name)
        .and_then(|c| c.as_primitive_opt::<Int32Type>())
        .ok_or_else(|| DataFusionError::Internal(format!("pg_catalog column {name} is not int4")))
}

/// A string column of any Arrow string layout, as a row accessor.
fn string_column<'a>(
    batch: &'a RecordBatch,
    name: &str,
) -> Result<impl Fn(usize) -> Option<String> + 'a> {
    let column = batch
        .column_by_name(name)
        .ok_or_else(|| DataFusionError::Internal(format!("pg_catalog column {name} is missing")))?;
    let text =
        datafusion::arrow::compute::cast(column, &datafusion::arrow::datatypes::DataType::Utf8)?;
    Ok(move |row: usize| {
        let text = text.as_string::<i32>();
        (!text.is_null(row)).then(|| text.value(row).to_string())
    })
}
