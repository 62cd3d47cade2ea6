//! `to_regtype(text) -> regtype`: the oid of a type named in text, or NULL
//! when there is no such type. psycopg (and SQLAlchemy's psycopg dialect)
//! look types up with it (`WHERE t.oid = to_regtype('hstore')`). Names are
//! resolved against `pg_catalog.pg_type`, read once at start, with SQL's
//! spellings (`integer`, `double precision`, `character varying`...), an
//! optional `pg_catalog.` prefix and `[]` for the array type.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray, Int32Array, RecordBatch};
use datafusion::arrow::datatypes::{DataType, Int32Type};
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use lakehouse_catalog::pg_types::SQL_TYPE_NAMES;

/// `pg_type` by name: each type's oid and its array type's oid.
#[derive(Debug, Default)]
pub struct TypeOids {
    by_name: HashMap<String, (i32, i32)>,
    by_oid: HashMap<i32, String>,
}

impl TypeOids {
    /// From the rows of `SELECT typname, oid, typarray FROM pg_catalog.pg_type`.
    pub fn from_pg_type(batches: &[RecordBatch]) -> Result<Self> {
        let mut by_name = HashMap::new();
        let mut by_oid = HashMap::new();
        for batch in batches {
            let name = datafusion::arrow::compute::cast(batch.column(0), &DataType::Utf8)?;
            let name = name.as_string::<i32>();
            let int4 = |i: usize| {
                batch
                    .column(i)
                    .as_primitive_opt::<Int32Type>()
                    .ok_or_else(|| {
                        DataFusionError::Internal("pg_type oid columns are not int4".into())
                    })
            };
            let (oid, array) = (int4(1)?, int4(2)?);
            for row in 0..batch.num_rows() {
                if !name.is_null(row) {
                    by_oid.insert(oid.value(row), name.value(row).to_string());
                    by_name.insert(
                        name.value(row).to_string(),
                        (oid.value(row), array.value(row)),
                    );
                }
            }
        }
        Ok(TypeOids { by_name, by_oid })
    }

    /// How PostgreSQL prints a type in a signature: its SQL name where it has
    /// one (`integer`), else its `typname`; `_x` arrays as `x[]`.
    pub fn sql_name(&self, oid: i32) -> Option<String> {
        let typname = self.by_oid.get(&oid)?;
        let (base, array) = match typname.strip_prefix('_') {
            Some(element) => (element, "[]"),
            None => (typname.as_str(), ""),
        };
        let sql = SQL_TYPE_NAMES
            .iter()
            .find(|(sql, name)| *name == base && !matches!(*sql, "int" | "float" | "char"))
            .map_or(base, |(sql, _)| sql);
        // The one-byte type prints quoted, as in PostgreSQL.
        let sql = if sql == "char" { "\"char\"" } else { sql };
        Some(format!("{sql}{array}"))
    }

    /// The oid `to_regtype(name)` returns.
    fn resolve(&self, name: &str) -> Option<i32> {
        let name = name.trim().to_ascii_lowercase();
        let name = name.strip_prefix("pg_catalog.").unwrap_or(&name);
        let (base, array) = match name.strip_suffix("[]") {
            Some(base) => (base.trim_end(), true),
            None => (name, false),
        };
        let base = SQL_TYPE_NAMES
            .iter()
            .find(|(sql, _)| *sql == base)
            .map_or(base, |(_, typname)| typname);
        let (oid, array_oid) = *self.by_name.get(base)?;
        match array {
            false => Some(oid),
            true if array_oid != 0 => Some(array_oid),
            true => None,
        }
    }
}

#[derive(Debug)]
pub struct ToRegtype {
    signature: Signature,
    types: Arc<TypeOids>,
}

same_function_identity!(ToRegtype, "to_regtype");

pub fn to_regtype(types: Arc<TypeOids>) -> ScalarUDF {
    ScalarUDF::new_from_impl(ToRegtype {
        signature: Signature::string(1, Volatility::Stable),
        types,
    })
}

impl ScalarUDFImpl for ToRegtype {
    fn name(&self) -> &str {
        "to_regtype"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Int32)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let names = args.args[0].to_array(args.number_rows)?;
        let names = datafusion::arrow::compute::cast(&names, &DataType::Utf8)?;
        let names = names.as_string::<i32>();
        let oids: Int32Array = (0..names.len())
            .map(|i| {
                if names.is_null(i) {
                    None
                } else {
                    self.types.resolve(names.value(i))
                }
            })
            .collect();
        Ok(ColumnarValue::Array(Arc::new(oids)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sql_spellings_prefixes_and_arrays() {
        let types = TypeOids {
            by_name: HashMap::from([("int4".to_string(), (23, 1007)), ("void".into(), (2278, 0))]),
            by_oid: HashMap::from([(23, "int4".to_string()), (1007, "_int4".to_string())]),
        };
        assert_eq!(types.sql_name(23).as_deref(), Some("integer"));
        assert_eq!(types.sql_name(1007).as_deref(), Some("integer[]"));
        assert_eq!(types.resolve("integer"), Some(23));
        assert_eq!(types.resolve("pg_catalog.INT4"), Some(23));
        assert_eq!(types.resolve("int4[]"), Some(1007));
        assert_eq!(types.resolve("void[]"), None);
        assert_eq!(types.resolve("hstore"), None);
    }
}
