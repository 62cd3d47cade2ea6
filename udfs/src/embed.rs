//! `embed(text) -> real[]`: the sentence embedding of each text (384 unit-length
//! float4s with all-MiniLM-L6-v2). NULL in, NULL out.
//!
//! One call receives a whole batch of rows; the embedder sorts them by length and
//! runs one forward pass per `embed_batch_size` texts.

use lakehouse_catalog::pg_catalog::{OwnFunction, OwnFunctionResult};
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, FixedSizeListArray, Float32Array};
use datafusion::arrow::buffer::NullBuffer;
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field};
use datafusion::error::Result;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

use crate::models::Models;
use crate::{UdfError, run_blocking};

/// The Arrow type of an embedding of `dims` values.
pub fn embedding_type(dims: usize) -> DataType {
    DataType::FixedSizeList(
        Arc::new(Field::new("item", DataType::Float32, true)),
        dims as i32,
    )
}

#[derive(Debug)]
pub struct Embed {
    models: Arc<Models>,
    signature: Signature,
}

impl PartialEq for Embed {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.models, &other.models)
    }
}

impl Eq for Embed {}

impl std::hash::Hash for Embed {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        "embed".hash(state)
    }
}

impl Embed {
    pub fn udf(models: Arc<Models>) -> ScalarUDF {
        ScalarUDF::new_from_impl(Embed {
            models,
            signature: Signature::string(1, Volatility::Immutable),
        })
    }
}

impl ScalarUDFImpl for Embed {
    fn name(&self) -> &str {
        "embed"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        // The width is the configured model's; loading it here makes a missing
        // model an error at planning, before any row is read.
        let models = self.models.clone();
        let dims = run_blocking(move || models.embedder().map(|m| m.dims()))?;
        Ok(embedding_type(dims))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let input = match &args.args[0] {
            ColumnarValue::Array(a) => a.clone(),
            ColumnarValue::Scalar(s) => s.to_array_of_size(1)?,
        };
        let texts = cast(&input, &DataType::Utf8)?;
        let texts = texts.as_string::<i32>();
        let present: Vec<String> = texts.iter().flatten().map(str::to_string).collect();
        let models = self.models.clone();
        let (dims, vectors) = run_blocking(move || -> Result<_, UdfError> {
            let embedder = models.embedder()?;
            let refs: Vec<&str> = present.iter().map(String::as_str).collect();
            Ok((embedder.dims(), embedder.embed(&refs)?))
        })?;
        let mut values = Vec::with_capacity(texts.len() * dims);
        let mut vectors = vectors.into_iter();
        for i in 0..texts.len() {
            if texts.is_null(i) {
                values.extend(std::iter::repeat_n(0.0, dims));
            } else {
                values.extend(vectors.next().unwrap_or_default());
            }
        }
        let nulls = texts
            .nulls()
            .cloned()
            .map(|n| NullBuffer::new(n.into_inner()));
        let list = FixedSizeListArray::try_new(
            Arc::new(Field::new("item", DataType::Float32, true)),
            dims as i32,
            Arc::new(Float32Array::from(values)),
            nulls,
        )?;
        let out: ArrayRef = Arc::new(list);
        match &args.args[0] {
            ColumnarValue::Scalar(_) => Ok(ColumnarValue::Scalar(
                datafusion::common::ScalarValue::try_from_array(&out, 0)?,
            )),
            _ => Ok(ColumnarValue::Array(out)),
        }
    }
}

/// How `pg_proc` lists `embed`.
pub(crate) fn description() -> OwnFunction {
    OwnFunction {
        name: "embed",
        arguments: vec![("text", DataType::Utf8)],
        defaults: Vec::new(),
        result: OwnFunctionResult::Value(DataType::new_list(DataType::Float32, true)),
        volatile: false,
        description: "embedding of the text by the configured sentence model (real[])",
    }
}
