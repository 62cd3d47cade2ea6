//! `pg_get_serial_sequence(table text, column text) -> text`: the sequence a
//! serial or identity column draws from, as `schema.name`, or NULL. ORMs
//! (SQLAlchemy's inspector, pandas `read_sql_table`, Rails) call it to find
//! auto-incrementing keys. As in PostgreSQL, the table name is parsed as an
//! SQL name (unquoted parts fold to lower case, unqualified ones follow the
//! `search_path`); the column name is taken literally.

use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray, StringArray};
use datafusion::arrow::datatypes::DataType;
use datafusion::error::Result;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use lakehouse_catalog::pg_catalog::quote_ident;
use lakehouse_catalog::{DeltaTableStore, SequenceStore, TableIdent};

use crate::args::text_column;
use crate::search_path::path_schemas;
use crate::session_settings::SessionSettings;

#[derive(Debug)]
pub struct PgGetSerialSequence {
    signature: Signature,
    store: DeltaTableStore,
    sequences: SequenceStore,
    settings: Arc<dyn SessionSettings>,
}

same_function_identity!(PgGetSerialSequence, "pg_get_serial_sequence");

pub fn pg_get_serial_sequence(
    store: DeltaTableStore,
    sequences: SequenceStore,
    settings: Arc<dyn SessionSettings>,
) -> ScalarUDF {
    ScalarUDF::new_from_impl(PgGetSerialSequence {
        signature: Signature::exact(vec![DataType::Utf8, DataType::Utf8], Volatility::Stable),
        store,
        sequences,
        settings,
    })
}

impl PgGetSerialSequence {
    fn lookup(&self, table: &str, column: &str) -> Option<String> {
        let table = match crate::to_regclass::name_parts(table)?.as_slice() {
            [schema, table] => TableIdent::new(schema, table),
            [table] => path_schemas(self.settings.as_ref())
                .into_iter()
                .map(|schema| TableIdent::new(schema, table))
                .find(|ident| self.store.table_exists(ident))?,
            _ => return None,
        };
        let sequence = self.sequences.owned_by_column(&table, column)?;
        Some(format!(
            "{}.{}",
            quote_ident(&sequence.schema),
            quote_ident(&sequence.table)
        ))
    }
}

impl ScalarUDFImpl for PgGetSerialSequence {
    fn name(&self) -> &str {
        "pg_get_serial_sequence"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let tables = text_column(&args.args[0], rows)?;
        let columns = text_column(&args.args[1], rows)?;
        let (tables, columns) = (tables.as_string::<i32>(), columns.as_string::<i32>());
        let names: StringArray = (0..rows)
            .map(|row| {
                if tables.is_null(row) || columns.is_null(row) {
                    return None;
                }
                self.lookup(tables.value(row), columns.value(row))
            })
            .collect();
        Ok(ColumnarValue::Array(Arc::new(names)))
    }
}
