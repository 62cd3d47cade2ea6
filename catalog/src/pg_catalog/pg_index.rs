//! The index behind each PRIMARY KEY and UNIQUE constraint, as PostgreSQL
//! shows one: a `pg_index` row and a `pg_class` row of kind `i` (btree),
//! named after the constraint. No index structure exists on disk (Delta
//! tables are scanned); the rows let clients that reflect unique constraints
//! through `pg_index` (SQLAlchemy joins `conindid` to `indexrelid`) see them.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayRef, BooleanArray, Int16Array, Int16Builder, Int32Array, Int32Builder, ListBuilder,
    StringArray,
};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::ScalarValue;
use datafusion::error::Result;

use super::pg_constraint::{ConstraintRow, quote_ident};
use crate::TableDefinition;

/// Index oids sit above the constraint oids.
pub(super) const INDEX_OID_OFFSET: i32 = 500_000_000;
/// `pg_am.oid` of btree.
const BTREE: i32 = 403;

/// One constraint-backing index.
pub(super) struct IndexRow {
    pub oid: i32,
    name: String,
    namespace: i32,
    relid: i32,
    primary: bool,
    key: Vec<i16>,
    columns: Vec<String>,
    /// `schema.table`, quoted as PostgreSQL prints it.
    table: String,
}

impl IndexRow {
    /// `pg_get_indexdef(oid)`: the CREATE INDEX statement.
    pub(super) fn definition(&self) -> String {
        let columns: Vec<String> = self.columns.iter().map(|c| quote_ident(c)).collect();
        format!(
            "CREATE UNIQUE INDEX {} ON {} USING btree ({})",
            quote_ident(&self.name),
            self.table,
            columns.join(", ")
        )
    }

    pub(super) fn column_count(&self) -> usize {
        self.columns.len()
    }

    /// `pg_get_indexdef(oid, n, pretty)`: the n-th key column (0: the whole).
    pub(super) fn column(&self, n: usize) -> Option<String> {
        match n {
            0 => Some(self.definition()),
            n => self.columns.get(n - 1).map(|c| quote_ident(c)),
        }
    }
}

/// The oid of the index behind a constraint (`pg_constraint.conindid`).
pub(super) fn index_oid(constraint: &ConstraintRow) -> i32 {
    constraint.oid + INDEX_OID_OFFSET
}

/// The index behind each primary key and unique constraint of `constraints`.
pub(super) fn index_rows(
    tables: &[(i32, TableDefinition)],
    constraints: &[ConstraintRow],
) -> Vec<IndexRow> {
    let names: HashMap<i32, String> = tables
        .iter()
        .map(|(oid, t)| {
            let name = format!(
                "{}.{}",
                quote_ident(&t.ident.schema),
                quote_ident(&t.ident.table)
            );
            (*oid, name)
        })
        .collect();
    constraints
        .iter()
        .filter(|c| c.has_index())
        .map(|c| IndexRow {
            oid: index_oid(c),
            primary: c.is_primary(),
            table: names.get(&c.relid).cloned().unwrap_or_default(),
            name: c.name.clone(),
            namespace: c.namespace,
            relid: c.relid,
            key: c.key.clone(),
            columns: c.columns.clone(),
        })
        .collect()
}

/// A batch of `schema` where the named columns hold `values` and every other
/// column its type's default (0, false, empty) or NULL where allowed.
fn rows_with_defaults(
    schema: &SchemaRef,
    rows: usize,
    mut values: HashMap<&str, ArrayRef>,
) -> Result<RecordBatch> {
    let columns = schema
        .fields()
        .iter()
        .map(|f| match values.remove(f.name().as_str()) {
            Some(array) => Ok(datafusion::arrow::compute::cast(&array, f.data_type())?),
            None if f.is_nullable() => Ok(datafusion::arrow::array::new_null_array(
                f.data_type(),
                rows,
            )),
            None => ScalarValue::new_default(f.data_type())?.to_array_of_size(rows),
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(RecordBatch::try_new(schema.clone(), columns)?)
}

/// The `pg_class` rows of the indexes, in `pg_class`'s own schema.
pub(super) fn pg_class_rows(schema: &SchemaRef, indexes: &[IndexRow]) -> Result<RecordBatch> {
    let n = indexes.len();
    let int4 = |f: &dyn Fn(&IndexRow) -> i32| -> ArrayRef {
        Arc::new(indexes.iter().map(f).collect::<Int32Array>())
    };
    let text = |v: &str| -> ArrayRef { Arc::new(StringArray::from(vec![v; n])) };
    let values: HashMap<&str, ArrayRef> = HashMap::from([
        ("oid", int4(&|i| i.oid)),
        (
            "relname",
            Arc::new(
                indexes
                    .iter()
                    .map(|i| Some(i.name.as_str()))
                    .collect::<StringArray>(),
            ) as ArrayRef,
        ),
        ("relnamespace", int4(&|i| i.namespace)),
        ("relam", int4(&|_| BTREE)),
        ("relkind", text("i")),
        ("relpersistence", text("p")),
        ("relreplident", text("n")),
        (
            "relnatts",
            Arc::new(
                indexes
                    .iter()
                    .map(|i| i.key.len() as i16)
                    .collect::<Int16Array>(),
            ),
        ),
    ]);
    rows_with_defaults(schema, n, values)
}

/// `pg_index` rows, in the overlay's `pg_index` schema.
pub(super) fn pg_index_rows(schema: &SchemaRef, indexes: &[IndexRow]) -> Result<RecordBatch> {
    let n = indexes.len();
    let int2_lists = |f: &dyn Fn(&IndexRow) -> Vec<i16>| -> ArrayRef {
        let mut builder = ListBuilder::new(Int16Builder::new());
        for index in indexes {
            builder.values().append_slice(&f(index));
            builder.append(true);
        }
        Arc::new(builder.finish())
    };
    let zero_oids = || -> ArrayRef {
        let mut builder = ListBuilder::new(Int32Builder::new());
        for index in indexes {
            builder.values().append_slice(&vec![0; index.key.len()]);
            builder.append(true);
        }
        Arc::new(builder.finish())
    };
    let boolean = |v: bool| -> ArrayRef { Arc::new(BooleanArray::from(vec![v; n])) };
    let natts: ArrayRef = Arc::new(
        indexes
            .iter()
            .map(|i| i.key.len() as i16)
            .collect::<Int16Array>(),
    );
    let values: HashMap<&str, ArrayRef> = HashMap::from([
        (
            "indexrelid",
            Arc::new(indexes.iter().map(|i| i.oid).collect::<Int32Array>()) as ArrayRef,
        ),
        (
            "indrelid",
            Arc::new(indexes.iter().map(|i| i.relid).collect::<Int32Array>()),
        ),
        ("indnatts", natts.clone()),
        ("indnkeyatts", natts),
        ("indisunique", boolean(true)),
        ("indnullsnotdistinct", boolean(false)),
        (
            "indisprimary",
            Arc::new(
                indexes
                    .iter()
                    .map(|i| Some(i.primary))
                    .collect::<BooleanArray>(),
            ),
        ),
        ("indisexclusion", boolean(false)),
        ("indimmediate", boolean(true)),
        ("indisclustered", boolean(false)),
        ("indisvalid", boolean(true)),
        ("indcheckxmin", boolean(false)),
        ("indisready", boolean(true)),
        ("indislive", boolean(true)),
        ("indisreplident", boolean(false)),
        ("indkey", int2_lists(&|i| i.key.clone())),
        ("indoption", int2_lists(&|i| vec![0; i.key.len()])),
        ("indcollation", zero_oids()),
        ("indclass", zero_oids()),
    ]);
    rows_with_defaults(schema, n, values)
}
