//! `obj_description(oid [, catalog])`, `col_description(table_oid, column)`,
//! `pg_get_constraintdef(oid [, pretty])` and
//! `pg_get_indexdef(oid [, column, pretty])`, `pg_get_triggerdef(oid [, pretty])`,
//! `pg_table_size(oid)`: the lookups psql, SQLAlchemy,
//! Metabase and DBeaver make by oid after reading `pg_class` or
//! `pg_constraint`. They answer from the snapshot those scans leave in
//! [`PgAnnotations`] (see `lakehouse_catalog::pg_catalog`); an unknown oid
//! gives NULL, as in PostgreSQL.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Int64Array, StringArray};
use datafusion::arrow::datatypes::{DataType, Int64Type};
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use lakehouse_catalog::pg_catalog::PgAnnotations;

use crate::search_path::schemas_searched;
use crate::session_settings::SessionSettings;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Lookup {
    ObjDescription,
    ColDescription,
    ConstraintDef,
    IndexDef,
    /// lakehouse has no triggers (`pg_trigger` is empty): always NULL, as
    /// PostgreSQL answers for an oid that is not a trigger. psql asks for
    /// them when a table has foreign keys.
    TriggerDef,
    /// Bytes of a table's data files (psql `\dt+`); other relations NULL.
    TableSize,
}

#[derive(Debug)]
pub struct CatalogLookup {
    lookup: Lookup,
    signature: Signature,
    annotations: PgAnnotations,
    /// The session's search path decides how constraint definitions name
    /// referenced tables.
    settings: Arc<dyn SessionSettings>,
}

impl PartialEq for CatalogLookup {
    fn eq(&self, other: &Self) -> bool {
        self.lookup == other.lookup
    }
}
impl Eq for CatalogLookup {}
impl std::hash::Hash for CatalogLookup {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.lookup.hash(state)
    }
}

/// The lookups, over one snapshot.
pub fn catalog_lookup_functions(
    annotations: &PgAnnotations,
    settings: &Arc<dyn SessionSettings>,
) -> Vec<ScalarUDF> {
    [
        Lookup::ObjDescription,
        Lookup::ColDescription,
        Lookup::ConstraintDef,
        Lookup::IndexDef,
        Lookup::TriggerDef,
        Lookup::TableSize,
    ]
    .into_iter()
    .map(|lookup| {
        ScalarUDF::new_from_impl(CatalogLookup {
            lookup,
            signature: Signature::user_defined(Volatility::Stable),
            annotations: annotations.clone(),
            settings: settings.clone(),
        })
    })
    .collect()
}

impl ScalarUDFImpl for CatalogLookup {
    fn name(&self) -> &str {
        match self.lookup {
            Lookup::ObjDescription => "obj_description",
            Lookup::ColDescription => "col_description",
            Lookup::ConstraintDef => "pg_get_constraintdef",
            Lookup::IndexDef => "pg_get_indexdef",
            Lookup::TriggerDef => "pg_get_triggerdef",
            Lookup::TableSize => "pg_table_size",
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    /// Oids and column numbers as int8; the second argument of
    /// obj_description is the catalog name, of pg_get_constraintdef `pretty`.
    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        let rest = match self.lookup {
            Lookup::ObjDescription => vec![DataType::Utf8],
            Lookup::ColDescription => vec![DataType::Int64],
            Lookup::ConstraintDef | Lookup::TriggerDef => vec![DataType::Boolean],
            Lookup::IndexDef => vec![DataType::Int64, DataType::Boolean],
            Lookup::TableSize => vec![],
        };
        let arity_ok = match self.lookup {
            Lookup::ColDescription => arg_types.len() == 2,
            Lookup::TableSize => arg_types.len() == 1,
            Lookup::IndexDef => matches!(arg_types.len(), 1 | 3),
            _ => (1..=2).contains(&arg_types.len()),
        };
        if !arity_ok {
            return Err(DataFusionError::Plan(format!(
                "function {}({}) does not exist",
                self.name(),
                arg_types
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        Ok(std::iter::once(DataType::Int64)
            .chain(rest.into_iter().take(arg_types.len() - 1))
            .collect())
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(match self.lookup {
            Lookup::TableSize => DataType::Int64,
            _ => DataType::Utf8,
        })
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let arrays = args
            .args
            .iter()
            .map(|a| a.to_array(rows))
            .collect::<Result<Vec<ArrayRef>>>()?;
        let oids = arrays[0].as_primitive::<Int64Type>();
        if self.lookup == Lookup::TableSize {
            let sizes: Int64Array = oids
                .iter()
                .map(|oid| self.annotations.table_size(i32::try_from(oid?).ok()?))
                .collect();
            return Ok(ColumnarValue::Array(Arc::new(sizes)));
        }
        let searched = match self.lookup {
            Lookup::ConstraintDef => schemas_searched(self.settings.as_ref()),
            _ => Vec::new(),
        };
        let out: StringArray = (0..rows)
            .map(|row| {
                if oids.is_null(row) {
                    return None;
                }
                let oid = i32::try_from(oids.value(row)).ok()?;
                match self.lookup {
                    Lookup::ObjDescription => {
                        // Relations have comments here, lakehouse's own
                        // functions descriptions.
                        let catalog = arrays.get(1).map(|a| a.as_string::<i32>());
                        match catalog {
                            Some(c) if c.is_null(row) => None,
                            Some(c) if c.value(row) == "pg_proc" => {
                                self.annotations.function_description(oid)
                            }
                            Some(c) if c.value(row) != "pg_class" => None,
                            _ => self.annotations.description(oid, 0),
                        }
                    }
                    Lookup::ColDescription => {
                        let columns = arrays[1].as_primitive::<Int64Type>();
                        if columns.is_null(row) {
                            return None;
                        }
                        let column = i32::try_from(columns.value(row)).ok()?;
                        self.annotations.description(oid, column)
                    }
                    Lookup::ConstraintDef => self.annotations.constraint_def(oid, &searched),
                    Lookup::TriggerDef | Lookup::TableSize => None,
                    Lookup::IndexDef => {
                        let column = match arrays.get(1) {
                            Some(c) => {
                                let c = c.as_primitive::<Int64Type>();
                                if c.is_null(row) {
                                    return None;
                                }
                                usize::try_from(c.value(row)).ok()?
                            }
                            None => 0,
                        };
                        self.annotations.index_def(oid, column)
                    }
                }
            })
            .collect();
        Ok(ColumnarValue::Array(Arc::new(out)))
    }
}
