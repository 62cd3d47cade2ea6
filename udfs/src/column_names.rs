//! `column_names(table oid, attnums smallint[]) -> text[]`: the names of a
//! table's columns by number, in the order given (NULL for a number the table
//! does not have). pgcli's foreign-key query asks this with a lateral join
//! over `unnest(conkey)` that DataFusion cannot plan; the SQL pre-pass turns
//! that subquery into a call of this function. It answers from the catalog
//! snapshot ([`PgAnnotations`]), refreshed before the statement is planned.

use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray, ListBuilder, StringBuilder};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, Int64Type};
use datafusion::error::Result;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use lakehouse_catalog::pg_catalog::PgAnnotations;

#[derive(Debug)]
pub struct ColumnNames {
    signature: Signature,
    annotations: PgAnnotations,
}

same_function_identity!(ColumnNames, "column_names");

pub fn column_names(annotations: PgAnnotations) -> ScalarUDF {
    ScalarUDF::new_from_impl(ColumnNames {
        signature: Signature::any(2, Volatility::Stable),
        annotations,
    })
}

impl ScalarUDFImpl for ColumnNames {
    fn name(&self) -> &str {
        "column_names"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::List(Arc::new(Field::new_list_field(
            DataType::Utf8,
            true,
        ))))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let oids = cast(&args.args[0].to_array(rows)?, &DataType::Int64)?;
        let oids = oids.as_primitive::<Int64Type>();
        let numbers = args.args[1].to_array(rows)?;
        let numbers = cast(
            &numbers,
            &DataType::List(Arc::new(Field::new_list_field(DataType::Int64, true))),
        )?;
        let numbers = numbers.as_list::<i32>();
        let mut out = ListBuilder::new(StringBuilder::new());
        for row in 0..rows {
            if oids.is_null(row) || numbers.is_null(row) {
                out.append_null();
                continue;
            }
            let oid = i32::try_from(oids.value(row)).ok();
            let attnums = numbers.value(row);
            let attnums = attnums.as_primitive::<Int64Type>();
            for attnum in attnums.iter() {
                let name = oid.zip(attnum.and_then(|n| i32::try_from(n).ok()));
                out.values()
                    .append_option(name.and_then(|(oid, n)| self.annotations.column_name(oid, n)));
            }
            out.append(true);
        }
        Ok(ColumnarValue::Array(Arc::new(out.finish())))
    }
}
