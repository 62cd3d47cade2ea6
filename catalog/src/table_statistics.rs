//! What the Delta log says exactly about a table's rows, handed to the
//! planner so that `count(*)`, `min` and `max` over a whole table are
//! answered from the log without opening a data file.
//!
//! Every file's add action carries its row count and, per column, null
//! count, min and max. delta-rs reports the row count as exact but every
//! column statistic as unknown, so DataFusion's aggregate-statistics rule
//! could not answer `SELECT count(*), max(id) FROM t`: it opened every
//! file (a table fed by single-row INSERTs has one per commit until
//! compaction). Here the statistics are summed over the files, exact only
//! where the log's values are exact: integer, date and decimal columns
//! (strings are truncated in the log; float min/max leave NaN out;
//! timestamps are rounded), and never for a table with deletion vectors
//! (a file's row count then includes deleted rows). A scan with filters or
//! staged rows is not given them.

use std::sync::{Arc, OnceLock};

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Int64Array};
use datafusion::arrow::compute::kernels::aggregate;
use datafusion::arrow::datatypes::{DataType, Int64Type, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::stats::Precision;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{ColumnStatistics, Result, ScalarValue, Statistics};
use datafusion::config::ConfigOptions;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_plan::filter_pushdown::{
    ChildPushdownResult, FilterDescription, FilterPushdownPhase, FilterPushdownPropagation,
};
use datafusion::physical_plan::{
    ChildStats, DisplayAs, DisplayFormatType, ExecutionPlan, PlanProperties, StatisticsArgs,
};
use deltalake::DeltaTable;

/// The statistics of every row of `table`, for the columns of `schema`
/// (the scan's output); `None` when the log cannot say even the row count.
fn exact_table_statistics(table: &DeltaTable, schema: &SchemaRef) -> Option<Statistics> {
    let files = table.snapshot().ok()?.add_actions_table(true).ok()?;
    if has_deletion_vectors(&files) {
        return None;
    }
    let records = files
        .column_by_name("num_records")?
        .as_primitive_opt::<Int64Type>()?;
    if records.null_count() > 0 {
        return None;
    }
    let num_rows = usize::try_from(aggregate::sum(records).unwrap_or(0)).ok()?;
    let column_statistics = schema
        .fields()
        .iter()
        .map(|field| column_statistics(&files, records, field.name(), field.data_type()))
        .collect();
    Some(Statistics {
        num_rows: Precision::Exact(num_rows),
        total_byte_size: Precision::Absent,
        column_statistics,
    })
}

fn has_deletion_vectors(files: &RecordBatch) -> bool {
    files.schema().fields().iter().enumerate().any(|(i, f)| {
        f.name().starts_with("deletion_vector") && files.column(i).null_count() < files.num_rows()
    })
}

/// Whether the log's min and max of a column of this type are its exact
/// values.
fn exact_bounds(data_type: &DataType) -> bool {
    matches!(
        data_type,
        DataType::Int8
            | DataType::Int16
            | DataType::Int32
            | DataType::Int64
            | DataType::Date32
            | DataType::Decimal128(..)
            | DataType::Boolean
    )
}

fn column_statistics(
    files: &RecordBatch,
    records: &Int64Array,
    name: &str,
    data_type: &DataType,
) -> ColumnStatistics {
    let mut stats = ColumnStatistics::new_unknown();
    let Some(nulls) = files
        .column_by_name(&format!("null_count.{name}"))
        .and_then(|c| c.as_primitive_opt::<Int64Type>())
    else {
        return stats;
    };
    if nulls.null_count() > 0 {
        return stats;
    }
    if let Ok(total) = usize::try_from(aggregate::sum(nulls).unwrap_or(0)) {
        stats.null_count = Precision::Exact(total);
    }
    if !exact_bounds(data_type) {
        return stats;
    }
    let (Some(min), Some(max)) = (
        files.column_by_name(&format!("min.{name}")),
        files.column_by_name(&format!("max.{name}")),
    ) else {
        return stats;
    };
    // A file without a min holds only NULLs in this column, or has no
    // statistics for it: then nothing exact can be said.
    for file in 0..files.num_rows() {
        let all_null = nulls.value(file) == records.value(file);
        if (min.is_null(file) || max.is_null(file)) && !all_null {
            return stats;
        }
    }
    if let (Some(lowest), Some(highest)) =
        (bound(min, data_type, true), bound(max, data_type, false))
    {
        stats.min_value = Precision::Exact(lowest);
        stats.max_value = Precision::Exact(highest);
    }
    stats
}

/// The least (or greatest) non-null value of `values`, as `data_type`.
fn bound(values: &ArrayRef, data_type: &DataType, least: bool) -> Option<ScalarValue> {
    if values.data_type() != data_type {
        return None;
    }
    let mut best: Option<ScalarValue> = None;
    for row in 0..values.len() {
        if values.is_null(row) {
            continue;
        }
        let value = ScalarValue::try_from_array(values, row).ok()?;
        let better = match &best {
            None => true,
            Some(b) => {
                let order = value.partial_cmp(b)?;
                if least { order.is_lt() } else { order.is_gt() }
            }
        };
        if better {
            best = Some(value);
        }
    }
    best
}

/// A table scan that reports the table's exact statistics: execution,
/// partitioning and pushdowns are its input's. The statistics are summed
/// only when a planner rule asks for them (a plain scan never does).
#[derive(Debug, Clone)]
pub(crate) struct ExactStatisticsExec {
    input: Arc<dyn ExecutionPlan>,
    /// The version the input reads.
    table: DeltaTable,
    statistics: Arc<OnceLock<Option<Arc<Statistics>>>>,
}

impl ExactStatisticsExec {
    pub(crate) fn new(input: Arc<dyn ExecutionPlan>, table: DeltaTable) -> Self {
        ExactStatisticsExec {
            input,
            table,
            statistics: Arc::default(),
        }
    }

    fn exact(&self) -> Option<&Arc<Statistics>> {
        self.statistics
            .get_or_init(|| exact_table_statistics(&self.table, &self.input.schema()).map(Arc::new))
            .as_ref()
    }
}

impl DisplayAs for ExactStatisticsExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(f, "ExactStatisticsExec")
    }
}

impl ExecutionPlan for ExactStatisticsExec {
    fn name(&self) -> &str {
        "ExactStatisticsExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        self.input.properties()
    }

    fn maintains_input_order(&self) -> Vec<bool> {
        vec![true]
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    /// A new input may read other rows (a filter pushed into it): its own
    /// statistics then stand.
    fn with_new_children(
        self: Arc<Self>,
        mut children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        match children.pop() {
            Some(child) if children.is_empty() => {
                if Arc::ptr_eq(&child, &self.input) {
                    Ok(self)
                } else {
                    Ok(child)
                }
            }
            _ => Err(datafusion::error::DataFusionError::Internal(
                "ExactStatisticsExec takes one input".into(),
            )),
        }
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        self.input.execute(partition, context)
    }

    fn child_stats_requests(&self, partition: Option<usize>) -> Vec<ChildStats> {
        vec![ChildStats::At(partition)]
    }

    /// The whole table's exact statistics; a partition's (or the table's
    /// when the log cannot say) are the input's.
    fn statistics_from_inputs(
        &self,
        input_stats: &[Arc<Statistics>],
        args: &StatisticsArgs,
    ) -> Result<Arc<Statistics>> {
        let exact = args.partition().is_none().then(|| self.exact()).flatten();
        Ok(match (exact, input_stats.first()) {
            (Some(exact), _) => exact.clone(),
            (None, Some(input)) => input.clone(),
            (None, None) => Arc::new(Statistics::new_unknown(&self.schema())),
        })
    }

    fn gather_filters_for_pushdown(
        &self,
        _phase: FilterPushdownPhase,
        parent_filters: Vec<Arc<dyn PhysicalExpr>>,
        _config: &ConfigOptions,
    ) -> Result<FilterDescription> {
        FilterDescription::from_children(parent_filters, &self.children())
    }

    fn handle_child_pushdown_result(
        &self,
        _phase: FilterPushdownPhase,
        child_pushdown_result: ChildPushdownResult,
        _config: &ConfigOptions,
    ) -> Result<FilterPushdownPropagation<Arc<dyn ExecutionPlan>>> {
        Ok(FilterPushdownPropagation::if_all(child_pushdown_result))
    }
}
