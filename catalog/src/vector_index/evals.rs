//! Evaluation sets for HNSW trials (`lakehouse.hnsw_evals`).
//!
//! An eval set is a seeded sample of an index's own vectors used as queries,
//! with their exact top-`k` neighbours found by brute force. It stores row ids,
//! not vectors: the vectors come from the embedding cache when a trial runs.

use std::sync::{Arc, LazyLock};

use chrono::{DateTime, Utc};
use datafusion::arrow::array::{
    ArrayRef, AsArray, Int64Array, ListArray, RecordBatch, StringArray, TimestampMicrosecondArray,
};
use datafusion::arrow::buffer::OffsetBuffer;
use datafusion::arrow::datatypes::{DataType, Field, Int64Type, Schema, SchemaRef, TimeUnit};

use crate::CatalogError;
use crate::append_only_table::AppendOnlyTable;
use crate::data_dir::DataDir;

/// Name of the journal in `lakehouse`.
pub const EVALS_TABLE: &str = "hnsw_evals";

pub(crate) fn timestamp_type() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

fn int_list() -> DataType {
    DataType::List(Arc::new(Field::new("item", DataType::Int64, true)))
}

static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        Field::new("index_name", DataType::Utf8, false),
        Field::new("eval_name", DataType::Utf8, false),
        Field::new("n_queries", DataType::Int64, false),
        Field::new("k", DataType::Int64, false),
        Field::new("created", timestamp_type(), false),
        Field::new("seed", DataType::Int64, false),
        Field::new("query_rows", int_list(), false),
        Field::new("ground_truth", int_list(), false),
    ]))
});

/// One eval set.
#[derive(Debug, Clone, PartialEq)]
pub struct HnswEvalSet {
    pub index_name: String,
    pub eval_name: String,
    pub k: usize,
    pub seed: u64,
    pub created: DateTime<Utc>,
    /// Chunk rows whose vectors are the queries.
    pub query_rows: Vec<i64>,
    /// Exact nearest rows of each query, `k` per query, nearest first.
    pub ground_truth: Vec<Vec<i64>>,
}

fn list(values: &[Vec<i64>]) -> ListArray {
    ListArray::new(
        Arc::new(Field::new("item", DataType::Int64, true)),
        OffsetBuffer::from_lengths(values.iter().map(Vec::len)),
        Arc::new(Int64Array::from(values.concat())),
        None,
    )
}

impl HnswEvalSet {
    fn to_batch(&self) -> Result<RecordBatch, CatalogError> {
        let flat: Vec<i64> = self.ground_truth.concat();
        let columns: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from(vec![self.index_name.clone()])),
            Arc::new(StringArray::from(vec![self.eval_name.clone()])),
            Arc::new(Int64Array::from(vec![self.query_rows.len() as i64])),
            Arc::new(Int64Array::from(vec![self.k as i64])),
            Arc::new(
                TimestampMicrosecondArray::from(vec![self.created.timestamp_micros()])
                    .with_timezone("UTC"),
            ),
            Arc::new(Int64Array::from(vec![self.seed as i64])),
            Arc::new(list(std::slice::from_ref(&self.query_rows))),
            Arc::new(list(&[flat])),
        ];
        Ok(RecordBatch::try_new(SCHEMA.clone(), columns)?)
    }

    fn from_row(batch: &RecordBatch, row: usize) -> Option<HnswEvalSet> {
        let text = |i: usize| batch.column(i).as_string_opt::<i32>().map(|a| a.value(row));
        let int = |i: usize| {
            batch
                .column(i)
                .as_primitive_opt::<Int64Type>()
                .map(|a| a.value(row))
        };
        let ints = |i: usize| -> Option<Vec<i64>> {
            let list = batch.column(i).as_list_opt::<i32>()?;
            let values = list.value(row);
            Some(values.as_primitive_opt::<Int64Type>()?.values().to_vec())
        };
        let k = int(3)? as usize;
        let created = batch
            .column(4)
            .as_primitive_opt::<datafusion::arrow::datatypes::TimestampMicrosecondType>()?
            .value(row);
        let truth = ints(7)?;
        Some(HnswEvalSet {
            index_name: text(0)?.to_string(),
            eval_name: text(1)?.to_string(),
            k,
            seed: int(5)? as u64,
            created: DateTime::from_timestamp_micros(created)?,
            query_rows: ints(6)?,
            ground_truth: truth.chunks(k.max(1)).map(<[i64]>::to_vec).collect(),
        })
    }
}

/// The `lakehouse.hnsw_evals` journal.
#[derive(Debug, Clone)]
pub struct HnswEvalStore {
    table: AppendOnlyTable,
}

impl HnswEvalStore {
    pub fn new(dir: &DataDir) -> Self {
        HnswEvalStore {
            table: AppendOnlyTable::new(dir, EVALS_TABLE, SCHEMA.clone()),
        }
    }

    pub fn table(&self) -> &AppendOnlyTable {
        &self.table
    }

    pub async fn all(&self) -> Result<Vec<HnswEvalSet>, CatalogError> {
        let batch = self.table.read().await?;
        (0..batch.num_rows())
            .map(|row| {
                HnswEvalSet::from_row(&batch, row).ok_or_else(|| CatalogError::Corrupt {
                    path: format!("lakehouse.{EVALS_TABLE}"),
                    message: format!("row {row} does not decode"),
                })
            })
            .collect()
    }

    pub async fn get(&self, index: &str, eval: &str) -> Result<Option<HnswEvalSet>, CatalogError> {
        Ok(self
            .all()
            .await?
            .into_iter()
            .find(|e| e.index_name == index && e.eval_name == eval))
    }

    /// Records a new eval set; a name already used for the index is an error.
    pub async fn create(&self, eval: &HnswEvalSet, user: &str) -> Result<(), CatalogError> {
        let _writer = self.table.lock().await;
        if self.get(&eval.index_name, &eval.eval_name).await?.is_some() {
            return Err(CatalogError::EvalExists {
                index: eval.index_name.clone(),
                eval: eval.eval_name.clone(),
            });
        }
        self.table.append(eval.to_batch()?, user).await
    }
}
