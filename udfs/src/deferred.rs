//! `DeferredTable`: the result of a table function whose rows are produced only
//! when its plan executes.
//!
//! Table functions with side effects (ingest, index builds) or costly work (model
//! inference, searches) return one of these: Parse and Describe plan them, see the
//! schema, and nothing runs. `execute` calls the function's closure once and
//! streams the batch it returns, projected to the columns the query reads.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::datasource::TableType;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::context::SessionState;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::Expr;
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, Partitioning, PlanProperties,
};
use futures::future::BoxFuture;

/// The work behind a deferred table: given the executing session, the rows.
pub type DeferredRun =
    Arc<dyn Fn(Arc<SessionState>) -> BoxFuture<'static, Result<RecordBatch>> + Send + Sync>;

pub struct DeferredTable {
    /// Shown in EXPLAIN, e.g. `IngestCsvExec: path=a.csv`.
    label: String,
    schema: SchemaRef,
    run: DeferredRun,
}

impl fmt::Debug for DeferredTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.label)
    }
}

impl DeferredTable {
    pub fn new(label: String, schema: SchemaRef, run: DeferredRun) -> Self {
        DeferredTable { label, schema, run }
    }

    /// A deferred table whose work is the future `work` returns.
    pub fn from_fn<F, Fut>(label: String, schema: SchemaRef, work: F) -> Self
    where
        F: Fn(Arc<SessionState>) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = Result<RecordBatch>> + Send + 'static,
    {
        Self::new(
            label,
            schema,
            Arc::new(move |session| Box::pin(work(session))),
        )
    }
}

#[async_trait]
impl TableProvider for DeferredTable {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Temporary
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        _limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let session = state
            .as_any()
            .downcast_ref::<SessionState>()
            .cloned()
            .ok_or_else(|| {
                DataFusionError::Internal(format!("{} needs a SessionState", self.label))
            })?;
        let schema = match projection {
            Some(p) => Arc::new(self.schema.project(p)?),
            None => self.schema.clone(),
        };
        let properties = Arc::new(PlanProperties::new(
            EquivalenceProperties::new(schema),
            Partitioning::UnknownPartitioning(1),
            EmissionType::Final,
            Boundedness::Bounded,
        ));
        Ok(Arc::new(DeferredExec {
            label: self.label.clone(),
            run: self.run.clone(),
            session: Arc::new(session),
            projection: projection.cloned(),
            properties,
        }))
    }
}

struct DeferredExec {
    label: String,
    run: DeferredRun,
    session: Arc<SessionState>,
    projection: Option<Vec<usize>>,
    properties: Arc<PlanProperties>,
}

impl fmt::Debug for DeferredExec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.label)
    }
}

impl DisplayAs for DeferredExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(&self.label)
    }
}

impl ExecutionPlan for DeferredExec {
    fn name(&self) -> &str {
        "DeferredExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn with_new_children(
        self: Arc<Self>,
        _children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        Ok(self)
    }

    fn execute(
        &self,
        _partition: usize,
        _context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let work = (self.run)(self.session.clone());
        let projection = self.projection.clone();
        let fut = async move {
            let batch = work.await?;
            match projection {
                Some(p) => Ok(batch.project(&p)?),
                None => Ok(batch),
            }
        };
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            self.properties.eq_properties.schema().clone(),
            futures::stream::once(fut),
        )))
    }
}
