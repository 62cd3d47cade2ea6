//! `length(bytea)` and `octet_length(bytea)`: the number of bytes, as in
//! PostgreSQL. DataFusion's `length` (`character_length`) and
//! `octet_length` take text only; these wrap them, take `bytea` too and
//! leave text to them.

use std::sync::Arc;

use crate::builtin_coercion::coerced_as_builtin;
use datafusion::arrow::compute::kernels::length::length;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::Result;
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
    Volatility,
};

/// `length` and `octet_length` over DataFusion's, bytea included.
pub(crate) fn length_functions() -> Vec<ScalarUDF> {
    [
        datafusion::functions::unicode::character_length(),
        datafusion::functions::string::octet_length(),
    ]
    .into_iter()
    .map(|inner| {
        ScalarUDF::new_from_impl(WithByteaLength {
            inner,
            signature: Signature::user_defined(Volatility::Immutable),
        })
    })
    .collect()
}

fn is_bytea(data_type: &DataType) -> bool {
    matches!(
        data_type,
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView
    )
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct WithByteaLength {
    inner: Arc<ScalarUDF>,
    signature: Signature,
}

impl ScalarUDFImpl for WithByteaLength {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn aliases(&self) -> &[String] {
        self.inner.aliases()
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        if let [t] = arg_types
            && is_bytea(t)
        {
            return Ok(vec![t.clone()]);
        }
        coerced_as_builtin(self.inner.as_ref(), arg_types)
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        match arg_types {
            [DataType::LargeBinary] => Ok(DataType::Int64),
            [t] if is_bytea(t) => Ok(DataType::Int32),
            _ => self.inner.return_type(arg_types),
        }
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        match args.args.as_slice() {
            [value] if is_bytea(&value.data_type()) => {
                let scalar = matches!(value, ColumnarValue::Scalar(_));
                let lengths = length(value.to_array(args.number_rows)?.as_ref())?;
                Ok(if scalar {
                    ColumnarValue::Scalar(datafusion::common::ScalarValue::try_from_array(
                        &lengths, 0,
                    )?)
                } else {
                    ColumnarValue::Array(lengths)
                })
            }
            _ => self.inner.invoke_with_args(args),
        }
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.inner.documentation()
    }
}
