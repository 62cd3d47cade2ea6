//! `_pg_expandarray(anyarray)`: PostgreSQL's `information_schema._pg_expandarray`
//! gives one `(x, n)` record per element (the element and its 1-based
//! position); pgjdbc's getPrimaryKeys and getIndexInfo number key columns
//! with it. Here it returns the list of those records, which the SQL pre-pass
//! unnests (`unnest(_pg_expandarray(a))`) to make the rows.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Int32Array, ListArray, StructArray};
use datafusion::arrow::buffer::OffsetBuffer;
use datafusion::arrow::datatypes::{DataType, Field, Fields};
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct PgExpandArray {
    signature: Signature,
}

pub fn pg_expandarray() -> ScalarUDF {
    ScalarUDF::new_from_impl(PgExpandArray {
        signature: Signature::any(1, Volatility::Immutable),
    })
}

/// The record type: the element `x` and its position `n`.
fn record_fields(element: &DataType) -> Fields {
    Fields::from(vec![
        Field::new("x", element.clone(), true),
        Field::new("n", DataType::Int32, false),
    ])
}

fn element_type(list: &DataType) -> Result<DataType> {
    match list {
        DataType::List(f) | DataType::LargeList(f) | DataType::FixedSizeList(f, _) => {
            Ok(f.data_type().clone())
        }
        other => Err(DataFusionError::Plan(format!(
            "function _pg_expandarray({other}) does not exist: it takes an array"
        ))),
    }
}

impl ScalarUDFImpl for PgExpandArray {
    fn name(&self) -> &str {
        "_pg_expandarray"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        let element = element_type(&arg_types[0])?;
        Ok(DataType::List(Arc::new(Field::new(
            "item",
            DataType::Struct(record_fields(&element)),
            true,
        ))))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let input = args.args[0].to_array(args.number_rows)?;
        let element = element_type(input.data_type())?;
        let lists = datafusion::arrow::compute::cast(
            &input,
            &DataType::List(Arc::new(Field::new("item", element.clone(), true))),
        )?;
        let lists = lists.as_list::<i32>();
        // Positions restart at 1 in every row's list.
        let offsets = lists.value_offsets();
        let positions: Int32Array = (0..lists.len())
            .flat_map(|row| {
                let len = (offsets[row + 1] - offsets[row]) as i32;
                1..=len
            })
            .collect();
        let first = offsets[0] as usize;
        let values = lists
            .values()
            .slice(first, offsets[lists.len()] as usize - first);
        let records = StructArray::try_new(
            record_fields(&element),
            vec![values, Arc::new(positions) as ArrayRef],
            None,
        )?;
        let rebased: Vec<i32> = offsets.iter().map(|o| o - offsets[0]).collect();
        let out = ListArray::try_new(
            Arc::new(Field::new(
                "item",
                DataType::Struct(record_fields(&element)),
                true,
            )),
            OffsetBuffer::new(rebased.into()),
            Arc::new(records),
            lists.nulls().cloned(),
        )?;
        Ok(ColumnarValue::Array(Arc::new(out)))
    }
}
