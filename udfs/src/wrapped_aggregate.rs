//! A DataFusion built-in aggregate with one PostgreSQL rule changed: its
//! argument typing (`sum(bigint)` is `numeric`) or its final value
//! (`var_pop` of one infinite value is NaN). Everything else — naming,
//! states, group accumulators, simplification, statistics — is the
//! built-in's, so plans and EXPLAIN read the same as without the wrapper.

use std::fmt::Debug;
use std::hash::Hash;
use std::sync::Arc;

use crate::builtin_coercion::coerced_as_builtin;
use datafusion::arrow::array::ArrayRef;
use datafusion::arrow::datatypes::{DataType, FieldRef};
use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::expr::{
    AggregateFunction, AggregateFunctionParams, WindowFunctionParams,
};
use datafusion::logical_expr::function::{
    AccumulatorArgs, AggregateFunctionSimplification, StateFieldsArgs,
};
use datafusion::logical_expr::utils::AggregateOrderSensitivity;
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, Documentation, Expr, GroupsAccumulator, Operator,
    ReversedUDAF, SetMonotonicity, Signature, StatisticsArgs, Volatility,
};

/// What a wrapper changes about its built-in. Both default to the built-in.
pub(crate) trait AggregateRule:
    Debug + PartialEq + Eq + Hash + Send + Sync + 'static
{
    /// The argument types the aggregate runs on.
    fn coerce_types(
        &self,
        builtin: &AggregateUDF,
        arg_types: &[DataType],
    ) -> Result<Vec<DataType>> {
        coerced_as_builtin(builtin, arg_types)
    }

    /// The final value, given the built-in accumulator's state and value.
    fn finish(&self, _state: &[ScalarValue], value: ScalarValue) -> Result<ScalarValue> {
        Ok(value)
    }

    /// Whether [`Self::finish`] changes anything (then accumulators are
    /// wrapped). The built-in's group accumulator is used as it is: a rule
    /// corrects what the one-group accumulator gets wrong.
    fn changes_finish(&self) -> bool {
        false
    }
}

/// `builtin` under `rule`, registered under the built-in's name.
pub(crate) fn wrap_aggregate<R: AggregateRule + Clone>(
    builtin: Arc<AggregateUDF>,
    rule: R,
) -> AggregateUDF {
    AggregateUDF::new_from_impl(WrappedAggregate {
        inner: builtin,
        signature: Signature::user_defined(Volatility::Immutable),
        rule,
    })
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct WrappedAggregate<R> {
    inner: Arc<AggregateUDF>,
    signature: Signature,
    rule: R,
}

impl<R: AggregateRule + Clone> WrappedAggregate<R> {
    fn inner(&self) -> &Arc<dyn AggregateUDFImpl> {
        self.inner.inner()
    }

    fn wrapped(&self, accumulator: Box<dyn Accumulator>) -> Box<dyn Accumulator> {
        if !self.rule.changes_finish() {
            return accumulator;
        }
        Box::new(FinishedByRule {
            inner: accumulator,
            rule: self.rule.clone(),
        })
    }
}

/// A built-in accumulator whose final value goes through the rule.
#[derive(Debug)]
struct FinishedByRule<R> {
    inner: Box<dyn Accumulator>,
    rule: R,
}

impl<R: AggregateRule + Clone> Accumulator for FinishedByRule<R> {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        self.inner.update_batch(values)
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        let state = self.inner.state()?;
        let value = self.inner.evaluate()?;
        self.rule.finish(&state, value)
    }

    fn size(&self) -> usize {
        self.inner.size() + size_of::<Self>()
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        self.inner.state()
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        self.inner.merge_batch(states)
    }

    fn retract_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        self.inner.retract_batch(values)
    }

    fn supports_retract_batch(&self) -> bool {
        self.inner.supports_retract_batch()
    }
}

impl<R: AggregateRule + Clone> AggregateUDFImpl for WrappedAggregate<R> {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        self.rule.coerce_types(&self.inner, arg_types)
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        self.inner().return_type(arg_types)
    }

    fn return_field(&self, arg_fields: &[FieldRef]) -> Result<FieldRef> {
        self.inner().return_field(arg_fields)
    }

    fn accumulator(&self, acc_args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(self.wrapped(self.inner().accumulator(acc_args)?))
    }

    fn aliases(&self) -> &[String] {
        self.inner().aliases()
    }

    fn schema_name(&self, params: &AggregateFunctionParams) -> Result<String> {
        self.inner().schema_name(params)
    }

    fn human_display(&self, params: &AggregateFunctionParams) -> Result<String> {
        self.inner().human_display(params)
    }

    fn window_function_schema_name(&self, params: &WindowFunctionParams) -> Result<String> {
        self.inner().window_function_schema_name(params)
    }

    fn display_name(&self, params: &AggregateFunctionParams) -> Result<String> {
        self.inner().display_name(params)
    }

    fn window_function_display_name(&self, params: &WindowFunctionParams) -> Result<String> {
        self.inner().window_function_display_name(params)
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        self.inner().state_fields(args)
    }

    fn groups_accumulator_supported(&self, args: AccumulatorArgs) -> bool {
        self.inner().groups_accumulator_supported(args)
    }

    fn create_groups_accumulator(
        &self,
        args: AccumulatorArgs,
    ) -> Result<Box<dyn GroupsAccumulator>> {
        self.inner().create_groups_accumulator(args)
    }

    fn create_sliding_accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(self.wrapped(self.inner().create_sliding_accumulator(args)?))
    }

    fn order_sensitivity(&self) -> AggregateOrderSensitivity {
        self.inner().order_sensitivity()
    }

    fn simplify(&self) -> Option<AggregateFunctionSimplification> {
        self.inner().simplify()
    }

    fn simplify_expr_op_literal(
        &self,
        agg_function: &AggregateFunction,
        arg: &Expr,
        op: Operator,
        lit: &Expr,
        arg_is_left: bool,
    ) -> Result<Option<Expr>> {
        self.inner()
            .simplify_expr_op_literal(agg_function, arg, op, lit, arg_is_left)
    }

    fn reverse_expr(&self) -> ReversedUDAF {
        // The built-ins wrapped here are order-insensitive: keep the wrapper.
        ReversedUDAF::Identical
    }

    fn is_nullable(&self) -> bool {
        self.inner().is_nullable()
    }

    fn is_descending(&self) -> Option<bool> {
        self.inner().is_descending()
    }

    fn value_from_stats(&self, statistics_args: &StatisticsArgs) -> Option<ScalarValue> {
        self.inner().value_from_stats(statistics_args)
    }

    fn default_value(&self, data_type: &DataType) -> Result<ScalarValue> {
        self.inner().default_value(data_type)
    }

    fn supports_null_handling_clause(&self) -> bool {
        self.inner().supports_null_handling_clause()
    }

    fn supports_within_group_clause(&self) -> bool {
        self.inner().supports_within_group_clause()
    }

    fn set_monotonicity(&self, data_type: &DataType) -> SetMonotonicity {
        self.inner().set_monotonicity(data_type)
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.inner().documentation()
    }
}
