//! `vector_literal(text) -> real[]`: a vector from its text form, PostgreSQL's
//! `{0.1,0.2}` or pgvector's `[0.1,0.2]`.
//!
//! The server turns `'{...}'::real[]` and pgvector's `'[...]'::vector` into this
//! call before planning: a 768-element array literal planned as 768 constant
//! expressions costs milliseconds, one string costs microseconds. Table
//! functions (`vector_search`, `rag`) read the text straight from the call.

use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field};
use datafusion::error::Result;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use lakehouse_ingest::pg_array;

use crate::UdfError;

pub const NAME: &str = "vector_literal";

fn real_list() -> DataType {
    DataType::List(Arc::new(Field::new("item", DataType::Float32, true)))
}

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct VectorLiteral {
    signature: Signature,
}

pub fn vector_literal() -> ScalarUDF {
    ScalarUDF::new_from_impl(VectorLiteral {
        signature: Signature::string(1, Volatility::Immutable),
    })
}

impl ScalarUDFImpl for VectorLiteral {
    fn name(&self) -> &str {
        NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(real_list())
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let scalar = matches!(args.args[0], ColumnarValue::Scalar(_));
        let input = match &args.args[0] {
            ColumnarValue::Array(a) => a.clone(),
            ColumnarValue::Scalar(s) => s.to_array_of_size(1)?,
        };
        let text = cast(&input, &DataType::Utf8)?;
        let list = pg_array::cast_text_to_list(text.as_string::<i32>(), &real_list()).map_err(
            |(row, message)| UdfError::InvalidArgument {
                function: NAME,
                message: format!("row {}: {message}", row + 1),
            },
        )?;
        if scalar && list.len() == 1 {
            return Ok(ColumnarValue::Scalar(
                datafusion::common::ScalarValue::try_from_array(&list, 0)?,
            ));
        }
        Ok(ColumnarValue::Array(list))
    }
}
