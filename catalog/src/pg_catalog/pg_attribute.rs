//! `pg_attribute` with the type modifiers of lakehouse's columns:
//! `numeric(10,2)`, `character varying(5)` and `character(3)` as declared,
//! where datafusion-pg-catalog gives every column `atttypmod` -1 and a
//! declared `varchar(n)` the type of its storage, `text`. psql's `\d`,
//! SQLAlchemy's and pgjdbc's column reflection read the type from
//! `format_type(atttypid, atttypmod)` and these two columns.

use std::collections::HashMap;

use datafusion::arrow::array::{Array, AsArray, Int32Array, RecordBatch};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Int32Type};
use datafusion::error::Result;

use super::CatalogSnapshot;

/// `pg_type.oid` of `varchar` and `bpchar`.
const VARCHAR: i32 = 1043;
const BPCHAR: i32 = 1042;
/// PostgreSQL stores a length or precision modifier plus this header size.
const VARHDRSZ: i32 = 4;

/// (type oid override, typmod) of column `attnum` of each table, by oid.
pub(super) type ColumnTypmods = HashMap<(i32, i32), (Option<i32>, i32)>;

/// The type modifiers of every column of `snapshot`'s tables that has one.
pub(super) fn column_typmods(snapshot: &CatalogSnapshot) -> ColumnTypmods {
    let mut typmods = HashMap::new();
    for (oid, table) in &snapshot.tables {
        for (i, ((name, _), data_type)) in table.columns.iter().zip(&table.column_types).enumerate()
        {
            let attnum = i as i32 + 1;
            if let Some(declared) = table.constraints.column_lengths.get(name) {
                let typid = if declared.blank_padded {
                    BPCHAR
                } else {
                    VARCHAR
                };
                let length = i32::try_from(declared.length).unwrap_or(i32::MAX - VARHDRSZ);
                typmods.insert((*oid, attnum), (Some(typid), length + VARHDRSZ));
            } else if let DataType::Decimal128(p, s) | DataType::Decimal256(p, s) = data_type {
                let typmod = ((i32::from(*p) << 16) | (i32::from(*s) & 0xffff)) + VARHDRSZ;
                typmods.insert((*oid, attnum), (None, typmod));
            }
        }
    }
    typmods
}

/// `batch` (rows of `pg_attribute`) with `atttypid` / `atttypmod` set from
/// `typmods`; rows of other relations are unchanged.
pub(super) fn with_typmods(batch: RecordBatch, typmods: &ColumnTypmods) -> Result<RecordBatch> {
    let schema = batch.schema();
    let (Ok(relid), Ok(attnum), Ok(typid), Ok(typmod)) = (
        schema.index_of("attrelid"),
        schema.index_of("attnum"),
        schema.index_of("atttypid"),
        schema.index_of("atttypmod"),
    ) else {
        return Ok(batch);
    };
    let int32 = |i: usize| cast(batch.column(i), &DataType::Int32);
    let (relids, attnums) = (int32(relid)?, int32(attnum)?);
    let (relids, attnums) = (
        relids.as_primitive::<Int32Type>(),
        attnums.as_primitive::<Int32Type>(),
    );
    let (typids, mods) = (int32(typid)?, int32(typmod)?);
    let (typids, mods) = (
        typids.as_primitive::<Int32Type>(),
        mods.as_primitive::<Int32Type>(),
    );
    let own = |row: usize| {
        (!relids.is_null(row) && !attnums.is_null(row))
            .then(|| typmods.get(&(relids.value(row), attnums.value(row))))
            .flatten()
    };
    let keep = |column: &datafusion::arrow::array::Int32Array, row: usize| {
        (!column.is_null(row)).then(|| column.value(row))
    };
    let new_typids: Int32Array = (0..batch.num_rows())
        .map(|row| match own(row) {
            Some((Some(typid), _)) => Some(*typid),
            _ => keep(typids, row),
        })
        .collect();
    let new_mods: Int32Array = (0..batch.num_rows())
        .map(|row| match own(row) {
            Some((_, typmod)) => Some(*typmod),
            None => keep(mods, row),
        })
        .collect();
    let mut columns = batch.columns().to_vec();
    columns[typid] = cast(&new_typids, schema.field(typid).data_type())?;
    columns[typmod] = cast(&new_mods, schema.field(typmod).data_type())?;
    Ok(RecordBatch::try_new(schema, columns)?)
}
