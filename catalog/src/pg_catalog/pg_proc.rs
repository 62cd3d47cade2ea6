//! `pg_proc` and `pg_description` rows for lakehouse's own functions
//! (`embed`, `vector_search`, `ingest_csv`...), so that psql's `\df embed`
//! and `\df+`, pgjdbc's `getFunctions` and DBeaver list them with their
//! signatures and descriptions beside PostgreSQL's built-ins.
//!
//! The functions describe themselves ([`OwnFunction`], filled in by the
//! `udfs` crate); they are in the `public` schema, where PostgreSQL keeps
//! functions an installation adds, so a plain `\df` lists them too. Array
//! columns are text in datafusion-pg-catalog's spelling (`[25, 23]`,
//! `['i', 't']`), which `pg_get_function_arguments` reads back.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayRef, BooleanArray, Float32Array, Int16Array, Int32Array, RecordBatch, StringArray,
    new_null_array,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::error::Result;

use crate::pg_types::postgres_udt_name;

/// The oid of the first own function; the others follow in the order they
/// are given. No oid of datafusion-pg-catalog's tables lies in 9100..9300
/// (its highest is 13636), and relations it adds start at 16384.
pub const FIRST_OWN_FUNCTION_OID: i32 = 9200;

/// `pg_language.oid` of `internal`, the language of built-in functions.
const INTERNAL_LANGUAGE: i32 = 12;
/// `pg_type.oid` of `record`, the result of a set of rows.
const RECORD: i32 = 2249;

/// What a function returns.
#[derive(Debug, Clone)]
pub enum OwnFunctionResult {
    /// One value of this type per call.
    Value(DataType),
    /// Rows of these columns (`RETURNS TABLE (...)`).
    Rows(SchemaRef),
}

/// One of lakehouse's own SQL functions as the catalog lists it.
#[derive(Debug, Clone)]
pub struct OwnFunction {
    pub name: &'static str,
    /// Argument names and types, in order.
    pub arguments: Vec<(&'static str, DataType)>,
    /// The defaults of the trailing optional arguments, as SQL
    /// (`pg_get_function_arguments` prints `k integer DEFAULT 10`).
    pub defaults: Vec<&'static str>,
    pub result: OwnFunctionResult,
    /// Whether a call changes something (an ingest, an index build):
    /// `provolatile` `v`, else `s`.
    pub volatile: bool,
    /// `\df+`'s Description, `obj_description(oid, 'pg_proc')`.
    pub description: &'static str,
}

/// `pg_proc`'s columns as datafusion-pg-catalog has them, but `proacl` an
/// `aclitem[]` (as text items) as in PostgreSQL: psql's `\df+` calls
/// `array_to_string(p.proacl, ...)`, which needs an array.
pub(super) fn schema(fixed: &SchemaRef) -> SchemaRef {
    let fields: Vec<Field> = fixed
        .fields()
        .iter()
        .map(|f| match f.name().as_str() {
            "proacl" => Field::new("proacl", DataType::new_list(DataType::Utf8, true), true),
            _ => f.as_ref().clone(),
        })
        .collect();
    Arc::new(Schema::new(fields))
}

/// The oids of `functions`, in their order.
pub(super) fn own_function_oids(functions: &[OwnFunction]) -> impl Iterator<Item = i32> + '_ {
    (FIRST_OWN_FUNCTION_OID..).take(functions.len())
}

/// `pg_proc` rows for `functions`, in `schema` (the built-in table's);
/// `type_oids` maps `pg_type.typname` to its oid; `public` is the oid of
/// the schema they are listed in.
pub(super) fn batch(
    schema: &SchemaRef,
    functions: &[OwnFunction],
    type_oids: &HashMap<String, i32>,
    public: i32,
) -> Result<RecordBatch> {
    let type_oid = |t: &DataType| type_oids.get(&postgres_udt_name(t)).copied().unwrap_or(0);
    let n = functions.len();
    let text = |f: &dyn Fn(&OwnFunction) -> Option<String>| -> ArrayRef {
        Arc::new(functions.iter().map(f).collect::<StringArray>())
    };
    let int = |f: &dyn Fn(&OwnFunction) -> i32| -> ArrayRef {
        Arc::new(functions.iter().map(f).collect::<Int32Array>())
    };
    let int2 = |f: &dyn Fn(&OwnFunction) -> usize| -> ArrayRef {
        Arc::new(
            functions
                .iter()
                .map(|x| i16::try_from(f(x)).unwrap_or(i16::MAX))
                .collect::<Int16Array>(),
        )
    };
    let flag = |f: &dyn Fn(&OwnFunction) -> bool| -> ArrayRef {
        Arc::new(
            functions
                .iter()
                .map(|x| Some(f(x)))
                .collect::<BooleanArray>(),
        )
    };
    let list = |items: Vec<String>| format!("[{}]", items.join(", "));
    let table_columns = |f: &OwnFunction| match &f.result {
        OwnFunctionResult::Rows(schema) => schema
            .fields()
            .iter()
            .map(|c| (c.name().clone(), c.data_type().clone()))
            .collect(),
        OwnFunctionResult::Value(_) => Vec::new(),
    };
    let oids: Vec<i32> = own_function_oids(functions).collect();
    let columns = schema
        .fields()
        .iter()
        .map(|field| -> Result<ArrayRef> {
            let column: ArrayRef = match field.name().as_str() {
                "oid" => Arc::new(Int32Array::from(oids.clone())),
                "proname" | "prosrc" => text(&|f| Some(f.name.to_string())),
                "pronamespace" => int(&|_| public),
                "proowner" => int(&|_| 10),
                "prolang" => int(&|_| INTERNAL_LANGUAGE),
                "procost" => Arc::new(Float32Array::from(vec![1.0; n])),
                "prorows" => Arc::new(Float32Array::from(
                    functions
                        .iter()
                        .map(|f| match f.result {
                            OwnFunctionResult::Rows(_) => 1000.0,
                            OwnFunctionResult::Value(_) => 0.0,
                        })
                        .collect::<Vec<f32>>(),
                )),
                "provariadic" => int(&|_| 0),
                "prosupport" => text(&|_| Some("-".to_string())),
                "prokind" => text(&|_| Some("f".to_string())),
                "prosecdef" | "proleakproof" => flag(&|_| false),
                "proisstrict" => flag(&|_| false),
                "proretset" => flag(&|f| matches!(f.result, OwnFunctionResult::Rows(_))),
                "provolatile" => text(&|f| Some(if f.volatile { "v" } else { "s" }.to_string())),
                "proparallel" => text(&|_| Some("u".to_string())),
                "pronargs" => int2(&|f| f.arguments.len()),
                "pronargdefaults" => int2(&|f| f.defaults.len()),
                "prorettype" => int(&|f| match &f.result {
                    OwnFunctionResult::Value(t) => type_oid(t),
                    OwnFunctionResult::Rows(_) => RECORD,
                }),
                "proargtypes" => text(&|f| {
                    let oids: Vec<String> = f
                        .arguments
                        .iter()
                        .map(|(_, t)| type_oid(t).to_string())
                        .collect();
                    Some(oids.join(" "))
                }),
                "proallargtypes" => text(&|f| {
                    let columns = table_columns(f);
                    (!columns.is_empty()).then(|| {
                        list(
                            f.arguments
                                .iter()
                                .map(|(_, t)| t)
                                .chain(columns.iter().map(|(_, t)| t))
                                .map(|t| type_oid(t).to_string())
                                .collect(),
                        )
                    })
                }),
                "proargmodes" => text(&|f| {
                    let columns = table_columns(f);
                    (!columns.is_empty()).then(|| {
                        let modes = std::iter::repeat_n("'i'", f.arguments.len())
                            .chain(std::iter::repeat_n("'t'", columns.len()));
                        list(modes.map(str::to_string).collect())
                    })
                }),
                "proargnames" => text(&|f| {
                    let names = f
                        .arguments
                        .iter()
                        .map(|(name, _)| name.to_string())
                        .chain(table_columns(f).into_iter().map(|(name, _)| name));
                    Some(list(names.map(|n| format!("'{n}'")).collect()))
                }),
                // Not a node tree: the defaults as SQL, which only
                // `pg_get_function_arguments` reads (it tells them apart).
                "proargdefaults" => text(&|f| {
                    (!f.defaults.is_empty())
                        .then(|| serde_json::to_string(&f.defaults).unwrap_or_default())
                }),
                _ => new_null_array(field.data_type(), n),
            };
            Ok(if column.data_type() == field.data_type() {
                column
            } else {
                cast(&column, field.data_type())?
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(RecordBatch::try_new(schema.clone(), columns)?)
}

/// The oid and description of each of `functions`.
pub(super) fn descriptions(functions: &[OwnFunction]) -> impl Iterator<Item = (i32, &str)> {
    own_function_oids(functions)
        .zip(functions)
        .map(|(oid, f)| (oid, f.description))
}
