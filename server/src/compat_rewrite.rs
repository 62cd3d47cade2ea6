//! Rewrites of client SQL applied before the pg-catalog compatibility parser,
//! for Postgres behaviour drivers rely on that DataFusion lacks:
//!
//! - `SELECT current_user, session_user` names its columns after the registers.
//!   The compatibility rewrite turns both into `session_user()` calls, which
//!   DataFusion would name alike (and refuse as duplicates), so an unaliased
//!   special register in a select list gets its own name as alias first.
//! - `uuid` is stored and compared as text (DataFusion has no uuid type):
//!   `::uuid` casts and `uuid` columns become `text`.
//! - `'{...}'::real[]` (any float array type) and pgvector's `'[...]'::vector`
//!   become `vector_literal('...')`: one string to plan instead of one
//!   constant expression per element (milliseconds for a 768-d vector).
//! - `generate_subscripts(a, d)` (SQLAlchemy pairs it with `unnest(a)` to
//!   number key columns) becomes `unnest(generate_series(1, array_length(a, d)))`:
//!   DataFusion zips the unnests of one select list as PostgreSQL does.
//! - pgjdbc's `information_schema._pg_expandarray(a)` (a set-returning function
//!   of `(x, n)` records) becomes `unnest(_pg_expandarray(a))` over a list of
//!   structs, and `(expr).field` becomes `get_field(expr, 'field')`.
//! - A boolean scalar subquery as a WHERE condition (`... OR (SELECT c.relkind
//!   = 'c' FROM pg_class c WHERE c.oid = t.typrelid)`, pgjdbc's getTypeInfo)
//!   becomes `EXISTS (SELECT 1 ... WHERE <its filter> AND <its value>)`: the same
//!   rows pass (no row or a NULL/false value fails either way), and DataFusion
//!   plans EXISTS where it refuses an unaggregated correlated scalar subquery.
//! - In asyncpg's type introspection, `CASE WHEN t.typtype = 'd' | 'c' THEN
//!   (correlated subquery) END` (a domain's base type, a composite's
//!   attributes) is NULL: lakehouse has no domain or composite types of its
//!   own, and DataFusion cannot run a correlated subquery inside CASE.
//! - `'pg_catalog.array_in'::regproc` becomes `'array_in'`: pg_type's
//!   `typinput` / `typoutput` hold function names here, not oids.
//! - Unaliased select-list expressions get PostgreSQL's column names
//!   (`count`, `?column?`), in queries that are not psql's own catalog queries.
//! - `'pg_x'::regclass` looks in pg_catalog; a computed `::regclass` calls
//!   `to_regclass()`; a selected `column::regclass` in a constraint listing
//!   prints the name (`regclass_name()`); `pg_partition_ancestors(r)` is `r`.
//! - `x::regtype[]` of pg_proc's text type lists is `regtype_names(x)`, and
//!   `x::regtype::text` is `format_type(x, NULL)`.
//! - Scalar functions in FROM (`string_to_array(...) s`) become one-row derived
//!   tables; `generate_series` over computed bounds unnests the array function.
//! - An ORDER BY key holding a subquery is computed in a derived table.
//! - `x = ANY($1)` with an untyped parameter reads it as `text[]`.
//! - `ARRAY(SELECT ...)` as a select-list item is an `array_agg` subquery;
//!   over `unnest(x.reloptions)` (psql's TOAST options) a NULL `text[]`.
//! - pgcli's lateral key-column subquery is `column_names(rel, keys)`.
//! - `$n::oid` / `$n::oid[]` placeholders are recorded: DataFusion plans them as
//!   integers, but drivers expect the oid types in the parameter description
//!   (asyncpg decodes `oid[]` natively, not `int4[]`).
//!
//! SQL that does not parse is passed on untouched, for the real parser to report.

use std::borrow::Cow;
use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{
    AccessExpr, ArrayElemTypeDef, BinaryOperator, CastKind, DataType, Expr, Function, FunctionArg,
    FunctionArgExpr, FunctionArgumentList, FunctionArguments, GroupByExpr, Ident, ObjectName,
    OrderBy, OrderByKind, Query, SelectItem, SetExpr, Statement, TableFactor, Value, VisitMut,
    VisitorMut, visit_expressions, visit_expressions_mut,
};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::parser::Parser;
use pgwire::api::Type;

/// Parenthesis-less special registers that Postgres names after themselves.
const SPECIAL_REGISTERS: [&str; 6] = [
    "current_user",
    "session_user",
    "user",
    "current_role",
    "current_catalog",
    "current_schema",
];

/// Placeholders cast to oid types: 0-based parameter index and the type.
pub type OidParams = Vec<(usize, Type)>;

pub struct Rewritten<'a> {
    pub sql: Cow<'a, str>,
    pub oid_params: OidParams,
}

pub fn rewrite(sql: &str) -> Rewritten<'_> {
    let unchanged = |oid_params| Rewritten {
        sql: Cow::Borrowed(sql),
        oid_params,
    };
    let lower = sql.to_ascii_lowercase();
    let has_registers = SPECIAL_REGISTERS.iter().any(|r| lower.contains(r));
    let has_vectors = lower.contains("[]") || lower.contains("::vector");
    // Every query: its columns get PostgreSQL's names.
    let is_query = ["select", "with", "values", "("]
        .iter()
        .any(|k| lower.trim_start().starts_with(k));
    if !is_query
        && !has_registers
        && !has_vectors
        && !lower.contains("oid")
        && !lower.contains("uuid")
        && !lower.contains("generate_subscripts")
        && !lower.contains("_pg_expandarray")
        // Subqueries are only rewritten in catalog queries; a user's
        // subquery is not worth a second parse.
        && !(lower.contains("(select") && lower.contains("pg_"))
        && !lower.contains("regproc")
        && !lower.contains("typtype")
        && !lower.contains("regclass")
    {
        return unchanged(Vec::new());
    }
    let Ok(mut statements) = Parser::parse_sql(&PostgreSqlDialect {}, sql) else {
        return unchanged(Vec::new());
    };
    let oid_params = oid_placeholders(&statements);
    let mut changed = false;
    // psql's own catalog queries are matched by their text in the
    // pg-catalog parser (its blacklist of queries it answers itself), so
    // the rewrites that any query may need leave them as they are.
    let general = !lower.contains("pg_catalog.");
    for statement in &mut statements {
        if general {
            changed |= postgres_column_names(statement);
            changed |= scalar_functions_in_from(statement);
        }
        changed |= name_special_registers(statement);
        changed |= uuid_as_text(statement);
        changed |= vector_literals(statement);
        changed |= attname_lists(statement);
        changed |= generate_subscripts(statement);
        changed |= expand_arrays(statement);
        changed |= boolean_subqueries_as_exists(statement);
        changed |= regproc_literals(statement);
        changed |= domain_and_composite_lookups(statement);
        changed |= catalog_regclass_literals(statement);
        changed |= computed_regclass_casts(statement);
        changed |= regtype_lists(statement);
        // Only in constraint listings: rewriting a statement changes its
        // text, and psql's other catalog queries are answered by the
        // pg-catalog parser's blacklist only as psql writes them.
        if lower.contains("pg_constraint") {
            changed |= selected_regclass_names(statement);
        }
        changed |= selected_in_subqueries(statement);
        changed |= subqueries_in_order_by(statement);
        changed |= untyped_any_parameters(statement);
        changed |= array_subqueries(statement);
    }
    if !changed {
        return unchanged(oid_params);
    }
    let sql = statements
        .iter()
        .map(|s| s.to_string())
        .collect::<Vec<_>>()
        .join(";\n");
    Rewritten {
        sql: Cow::Owned(sql),
        oid_params,
    }
}

fn name_special_registers(statement: &mut Statement) -> bool {
    let Statement::Query(query) = statement else {
        return false;
    };
    let SetExpr::Select(select) = query.body.as_mut() else {
        return false;
    };
    let mut changed = false;
    for item in &mut select.projection {
        let SelectItem::UnnamedExpr(expr) = item else {
            continue;
        };
        let name = match &*expr {
            Expr::Function(f) if matches!(f.args, FunctionArguments::None) => {
                f.name.to_string().to_ascii_lowercase()
            }
            Expr::Identifier(ident) if ident.quote_style.is_none() => {
                ident.value.to_ascii_lowercase()
            }
            _ => continue,
        };
        if SPECIAL_REGISTERS.contains(&name.as_str()) {
            *item = SelectItem::ExprWithAlias {
                expr: expr.clone(),
                alias: Ident::with_quote('"', name),
            };
            changed = true;
        }
    }
    changed
}

fn uuid_as_text(statement: &mut Statement) -> bool {
    let mut changed = false;
    if let Statement::CreateTable(create) = statement {
        for column in &mut create.columns {
            if column.data_type == DataType::Uuid {
                column.data_type = DataType::Text;
                changed = true;
            }
        }
    }
    let _ = visit_expressions_mut(statement, |expr| {
        if let Expr::Cast { data_type, .. } = expr
            && *data_type == DataType::Uuid
        {
            *data_type = DataType::Text;
            changed = true;
        }
        ControlFlow::<()>::Continue(())
    });
    changed
}

/// `'{1,2}'::real[]` / `'[1,2]'::vector(2)` -> `vector_literal('{1,2}')`.
fn vector_literals(statement: &mut Statement) -> bool {
    let mut changed = false;
    let _ = visit_expressions_mut(statement, |expr| {
        if let Expr::Cast {
            expr: inner,
            data_type,
            ..
        } = expr
            && is_vector_type(data_type)
            && let Expr::Value(value) = inner.as_ref()
            && let Value::SingleQuotedString(text) = &value.value
            && text.trim_start().starts_with(['{', '['])
        {
            let literal = text.clone();
            *expr = Expr::Function(Function {
                name: ObjectName::from(vec![Ident::new("vector_literal")]),
                uses_odbc_syntax: false,
                parameters: FunctionArguments::None,
                args: FunctionArguments::List(FunctionArgumentList {
                    duplicate_treatment: None,
                    args: vec![FunctionArg::Unnamed(FunctionArgExpr::Expr(Expr::Value(
                        Value::SingleQuotedString(literal).with_empty_span(),
                    )))],
                    clauses: Vec::new(),
                }),
                filter: None,
                null_treatment: None,
                over: None,
                within_group: Vec::new(),
            });
            changed = true;
        }
        ControlFlow::<()>::Continue(())
    });
    changed
}

/// pgcli's foreign-key query names key columns with a lateral subquery:
/// `(SELECT array_agg(attname ORDER BY i) FROM (SELECT unnest(K) AS attnum,
/// generate_subscripts(K, 1) AS i) x JOIN pg_catalog.pg_attribute c
/// USING (attnum) WHERE c.attrelid = R)` -> `column_names(R, K)`.
fn attname_lists(statement: &mut Statement) -> bool {
    let mut changed = false;
    let _ = visit_expressions_mut(statement, |expr| {
        if let Expr::Subquery(query) = expr {
            // Compared without whitespace: only identifiers vary.
            let text: String = query
                .to_string()
                .to_ascii_lowercase()
                .split_whitespace()
                .collect();
            let keys = text
                .strip_prefix("selectarray_agg(attnameorderbyi)from(selectunnest(")
                .and_then(|rest| rest.split_once(")asattnum,generate_subscripts("))
                .filter(|(keys, rest)| rest.starts_with(&format!("{keys},1)asi)")))
                .map(|(keys, _)| keys.to_string());
            let relation = text
                .split_once("using(attnum)wherec.attrelid=")
                .map(|(_, r)| r.to_string());
            if let (Some(keys), Some(relation)) = (keys, relation)
                && text.contains("joinpg_catalog.pg_attribute")
                && let Ok(call) = Parser::new(&PostgreSqlDialect {})
                    .try_with_sql(&format!("column_names({relation}, {keys})"))
                    .and_then(|mut p| p.parse_expr())
            {
                *expr = call;
                changed = true;
            }
        }
        ControlFlow::<()>::Continue(())
    });
    changed
}

/// `generate_subscripts(a, d)` -> `unnest(generate_series(1, array_length(a, d)))`.
fn generate_subscripts(statement: &mut Statement) -> bool {
    let mut changed = false;
    let _ = visit_expressions_mut(statement, |expr| {
        if let Expr::Function(f) = expr
            && f.name
                .to_string()
                .eq_ignore_ascii_case("generate_subscripts")
            && let FunctionArguments::List(list) = &f.args
            && let [
                FunctionArg::Unnamed(FunctionArgExpr::Expr(array)),
                FunctionArg::Unnamed(FunctionArgExpr::Expr(dim)),
            ] = list.args.as_slice()
        {
            let sql =
                format!("unnest(generate_series(1, CAST(array_length({array}, {dim}) AS BIGINT)))");
            if let Ok(replacement) = Parser::new(&PostgreSqlDialect {})
                .try_with_sql(&sql)
                .and_then(|mut p| p.parse_expr())
            {
                *expr = replacement;
                changed = true;
            }
        }
        ControlFlow::<()>::Continue(())
    });
    changed
}

/// A call of `name(args)` as an expression.
fn call(name: &str, args: Vec<Expr>) -> Expr {
    Expr::Function(Function {
        name: ObjectName::from(vec![Ident::new(name)]),
        uses_odbc_syntax: false,
        parameters: FunctionArguments::None,
        args: FunctionArguments::List(FunctionArgumentList {
            duplicate_treatment: None,
            args: args
                .into_iter()
                .map(|a| FunctionArg::Unnamed(FunctionArgExpr::Expr(a)))
                .collect(),
            clauses: Vec::new(),
        }),
        filter: None,
        null_treatment: None,
        over: None,
        within_group: Vec::new(),
    })
}

/// `[information_schema.]_pg_expandarray(a)` -> `unnest(_pg_expandarray(a))`;
/// `(expr).f` -> `get_field(expr, 'f')`.
fn expand_arrays(statement: &mut Statement) -> bool {
    let mut changed = false;
    let _ = visit_expressions_mut(statement, |expr| {
        match expr {
            Expr::Function(f)
                if f.name
                    .0
                    .last()
                    .is_some_and(|p| p.to_string().eq_ignore_ascii_case("_pg_expandarray"))
                    && f.name.0.len() <= 2 =>
            {
                let mut inner = f.clone();
                inner.name = ObjectName::from(vec![Ident::new("_pg_expandarray")]);
                *expr = call("unnest", vec![Expr::Function(inner)]);
                changed = true;
            }
            Expr::CompoundFieldAccess { root, access_chain }
                if matches!(root.as_ref(), Expr::Nested(_))
                    && access_chain
                        .iter()
                        .all(|a| matches!(a, AccessExpr::Dot(Expr::Identifier(_)))) =>
            {
                let mut out = match root.as_ref() {
                    Expr::Nested(inner) => inner.as_ref().clone(),
                    other => other.clone(),
                };
                for access in access_chain.iter() {
                    if let AccessExpr::Dot(Expr::Identifier(field)) = access {
                        let name = Expr::Value(
                            Value::SingleQuotedString(field.value.to_lowercase()).with_empty_span(),
                        );
                        out = call("get_field", vec![out, name]);
                    }
                }
                *expr = out;
                changed = true;
            }
            _ => {}
        }
        ControlFlow::<()>::Continue(())
    });
    changed
}

/// WHERE conditions (through AND / OR / parentheses) that are boolean scalar
/// subqueries become EXISTS.
fn boolean_subqueries_as_exists(statement: &mut Statement) -> bool {
    fn condition(expr: &mut Expr) -> bool {
        match expr {
            Expr::BinaryOp {
                left,
                op: BinaryOperator::And | BinaryOperator::Or,
                right,
            } => condition(left) | condition(right),
            Expr::Nested(inner) => condition(inner),
            Expr::Subquery(query) => {
                let SetExpr::Select(select) = query.body.as_mut() else {
                    return false;
                };
                let [SelectItem::UnnamedExpr(value)] = select.projection.as_slice() else {
                    return false;
                };
                let is_boolean = matches!(
                    value,
                    Expr::BinaryOp {
                        op: BinaryOperator::Eq
                            | BinaryOperator::NotEq
                            | BinaryOperator::Lt
                            | BinaryOperator::LtEq
                            | BinaryOperator::Gt
                            | BinaryOperator::GtEq,
                        ..
                    }
                );
                // An aggregate (`count(*) = 0`) makes the subquery a valid
                // scalar one already, and could not move into WHERE.
                let mut calls_function = false;
                let _ = visit_expressions(value, |e| {
                    calls_function |= matches!(e, Expr::Function(_));
                    ControlFlow::<()>::Continue(())
                });
                if !is_boolean
                    || calls_function
                    || select.group_by != GroupByExpr::Expressions(vec![], vec![])
                    || select.having.is_some()
                {
                    return false;
                }
                let value = value.clone();
                select.selection = Some(match select.selection.take() {
                    Some(filter) => Expr::BinaryOp {
                        left: Box::new(Expr::Nested(Box::new(filter))),
                        op: BinaryOperator::And,
                        right: Box::new(Expr::Nested(Box::new(value))),
                    },
                    None => value,
                });
                select.projection = vec![SelectItem::UnnamedExpr(Expr::Value(
                    Value::Number("1".into(), false).with_empty_span(),
                ))];
                *expr = Expr::Exists {
                    subquery: query.clone(),
                    negated: false,
                };
                true
            }
            _ => false,
        }
    }
    struct Rewriter(bool);
    impl VisitorMut for Rewriter {
        type Break = ();
        fn pre_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
            if let SetExpr::Select(select) = query.body.as_mut()
                && let Some(selection) = select.selection.as_mut()
            {
                self.0 |= condition(selection);
            }
            ControlFlow::Continue(())
        }
    }
    let mut rewriter = Rewriter(false);
    let _ = statement.visit(&mut rewriter);
    rewriter.0
}

/// `CASE WHEN x.typtype = 'd' | 'c' THEN <subquery> [ELSE NULL] END` -> NULL,
/// and psql's `CASE WHEN t.tgparentid != 0 THEN <parent trigger> END`.
fn domain_and_composite_lookups(statement: &mut Statement) -> bool {
    let mut changed = false;
    let _ = visit_expressions_mut(statement, |expr| {
        if let Expr::Case {
            conditions,
            else_result,
            operand: None,
            ..
        } = expr
            && else_result.as_deref().is_none_or(is_null)
            && !conditions.is_empty()
            && conditions.iter().all(|when| {
                let tests_kind = matches!(
                    &when.condition,
                    Expr::BinaryOp { left, op: BinaryOperator::Eq, right }
                        if left.to_string().to_ascii_lowercase().ends_with("typtype")
                            && matches!(right.to_string().as_str(), "'d'" | "'c'")
                ) || matches!(
                    // psql's parent trigger of a partition (no partitions here).
                    &when.condition,
                    Expr::BinaryOp { left, op: BinaryOperator::NotEq, right }
                        if left.to_string().to_ascii_lowercase().ends_with("tgparentid")
                            && right.to_string() == "0"
                );
                tests_kind && matches!(&when.result, Expr::Subquery(_))
            })
        {
            *expr = Expr::Value(Value::Null.with_empty_span());
            changed = true;
        }
        ControlFlow::<()>::Continue(())
    });
    changed
}

/// `'pg_class'::regclass` -> `'pg_catalog.pg_class'::regclass`: PostgreSQL
/// looks in pg_catalog before the search path; the regclass lookup that
/// follows (datafusion-pg-catalog's) only in the current schema.
fn catalog_regclass_literals(statement: &mut Statement) -> bool {
    let mut changed = false;
    let _ = visit_expressions_mut(statement, |expr| {
        if let Expr::Cast {
            expr: operand,
            data_type,
            ..
        } = expr
            && type_name(data_type) == "regclass"
            && let Expr::Value(value) = operand.as_mut()
            && let Value::SingleQuotedString(name) = &mut value.value
            && name.starts_with("pg_")
            && !name.contains('.')
        {
            *name = format!("pg_catalog.{name}");
            changed = true;
        }
        ControlFlow::<()>::Continue(())
    });
    changed
}

/// `CAST(<computed text> AS regclass)` (Metabase's `format('%I.%I', schema,
/// table)::regclass`) -> `to_regclass(<text>)`, looked up when the row is.
/// String literals are left to the pg-catalog rewrite, columns (oid ->
/// regclass) to its type planner.
fn computed_regclass_casts(statement: &mut Statement) -> bool {
    let mut changed = false;
    let _ = visit_expressions_mut(statement, |expr| {
        if let Expr::Cast {
            expr: operand,
            data_type,
            ..
        } = expr
            && type_name(data_type) == "regclass"
            && matches!(
                operand.as_ref(),
                Expr::Function(_) | Expr::BinaryOp { .. } | Expr::Nested(_)
            )
        {
            *expr = call("to_regclass", vec![operand.as_ref().clone()]);
            changed = true;
        }
        ControlFlow::<()>::Continue(())
    });
    changed
}

/// Whether `expr` holds a subquery (`ARRAY(SELECT ...)` included).
fn has_subquery(expr: &Expr) -> bool {
    visit_expressions(expr, |e| match e {
        Expr::Subquery(_) | Expr::InSubquery { .. } | Expr::Exists { .. } => ControlFlow::Break(()),
        Expr::Function(f) if matches!(f.args, FunctionArguments::Subquery(_)) => {
            ControlFlow::Break(())
        }
        _ => ControlFlow::Continue(()),
    })
    .is_break()
}

/// `SELECT a AS x FROM t ORDER BY <expr with a subquery>` (Grafana's table
/// list, ordered by "is the schema on the search path") -> the order key
/// computed as a column of a derived table, which DataFusion can plan:
/// `SELECT a AS x FROM (SELECT *, <expr> AS __order_1 FROM t) ORDER BY __order_1`.
/// The select list stays in its own projection: the same subquery in the
/// select list and the key, side by side, would be merged by DataFusion's
/// common-subexpression pass where its subquery planning no longer finds it.
fn subqueries_in_order_by(statement: &mut Statement) -> bool {
    let Statement::Query(query) = statement else {
        return false;
    };
    let Some(OrderBy {
        kind: OrderByKind::Expressions(order),
        ..
    }) = &query.order_by
    else {
        return false;
    };
    let SetExpr::Select(select) = query.body.as_ref() else {
        return false;
    };
    if !order.iter().any(|o| has_subquery(&o.expr)) {
        return false;
    }
    // The outer query sees the inner one's columns unqualified, and computes
    // the select list as written: only plain selects qualify.
    let qualified = |expr: &Expr| {
        visit_expressions(expr, |e| match e {
            Expr::CompoundIdentifier(_) => ControlFlow::Break(()),
            _ => ControlFlow::Continue(()),
        })
        .is_break()
    };
    let plain_items = select.projection.iter().all(|item| match item {
        SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => !qualified(e),
        _ => false,
    });
    let grouped = !matches!(&select.group_by, GroupByExpr::Expressions(e, _) if e.is_empty());
    if !plain_items
        || grouped
        || select.having.is_some()
        || select.distinct.is_some()
        || order.iter().any(|o| qualified(&o.expr))
    {
        return false;
    }
    let mut inner = select.clone();
    inner.projection = vec![SelectItem::Wildcard(Default::default())];
    let mut keys = Vec::new();
    for (i, o) in order.iter().enumerate() {
        let mut key = o.clone();
        if has_subquery(&o.expr) {
            let name = format!("__order_{}", i + 1);
            inner.projection.push(SelectItem::ExprWithAlias {
                expr: o.expr.clone(),
                alias: Ident::new(&name),
            });
            key.expr = Expr::Identifier(Ident::new(name));
        }
        keys.push(key.to_string());
    }
    let items: Vec<String> = select.projection.iter().map(|i| i.to_string()).collect();
    let mut sql = format!(
        "SELECT {} FROM ({inner}) AS __ordered ORDER BY {}",
        items.join(", "),
        keys.join(", ")
    );
    if let Some(limit) = &query.limit_clause {
        sql.push_str(&format!(" {limit}"));
    }
    if let Some(with) = &query.with {
        sql = format!("{with} {sql}");
    }
    match Parser::parse_sql(&PostgreSqlDialect {}, &sql) {
        Ok(mut parsed) if parsed.len() == 1 => {
            *statement = parsed.remove(0);
            true
        }
        _ => false,
    }
}

/// `x [NOT] IN (SELECT v ...)` in a select-list item or an ORDER BY key ->
/// `[NOT] array_has((SELECT array_agg(v) FROM (SELECT v ...) AS __in(v)), x)`:
/// DataFusion plans IN subqueries only in filters and joins, but a scalar
/// subquery anywhere. (Where `x` is NULL or the list holds NULLs, IN is NULL
/// and this false: the same in a CASE condition, Grafana's use.)
fn selected_in_subqueries(statement: &mut Statement) -> bool {
    fn as_array_lookup(expr: &mut Expr) -> bool {
        let mut changed = false;
        let _ = visit_expressions_mut(expr, |e| {
            if let Expr::InSubquery {
                expr: needle,
                subquery,
                negated,
            } = e
            {
                let sql = format!(
                    "{}array_has((SELECT array_agg(__v) FROM ({subquery}) AS __in(__v)), {needle})",
                    if *negated { "NOT " } else { "" }
                );
                if let Ok(lookup) = Parser::new(&PostgreSqlDialect {})
                    .try_with_sql(&sql)
                    .and_then(|mut p| p.parse_expr())
                {
                    *e = lookup;
                    changed = true;
                }
            }
            ControlFlow::<()>::Continue(())
        });
        changed
    }
    let Statement::Query(query) = statement else {
        return false;
    };
    let mut changed = false;
    if let Some(OrderBy {
        kind: OrderByKind::Expressions(order),
        ..
    }) = &mut query.order_by
    {
        for key in order {
            changed |= as_array_lookup(&mut key.expr);
        }
    }
    if let SetExpr::Select(select) = query.body.as_mut() {
        for item in &mut select.projection {
            if let SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } = item {
                changed |= as_array_lookup(e);
            }
        }
    }
    changed
}

/// A type's name without `pg_catalog.`, lower case (`REGCLASS` -> `regclass`).
fn type_name(data_type: &DataType) -> String {
    let name = data_type.to_string().to_ascii_lowercase();
    name.strip_prefix("pg_catalog.")
        .unwrap_or(&name)
        .to_string()
}

/// `CAST(expr AS TEXT[])`.
fn as_text_array(expr: Expr) -> Expr {
    Expr::Cast {
        kind: CastKind::Cast,
        expr: Box::new(expr),
        data_type: DataType::Array(ArrayElemTypeDef::SquareBracket(
            Box::new(DataType::Text),
            None,
        )),
        array: false,
        format: None,
    }
}

/// `x = ANY($1)` with an untyped parameter -> `x = ANY(CAST($1 AS TEXT[]))`.
/// psycopg sends a list of strings as an untyped array literal (pgcli's
/// `relkind = ANY(%s)`), which PostgreSQL types from `ANY`; DataFusion would
/// take the parameter for one string. Where `x` is not text, planning makes
/// the parameter an array of x's type instead (`params::retype_any_parameters`).
fn untyped_any_parameters(statement: &mut Statement) -> bool {
    let mut changed = false;
    let _ = visit_expressions_mut(statement, |expr| {
        if let Expr::AnyOp { right, .. } | Expr::AllOp { right, .. } = expr
            && let Expr::Value(v) = right.as_ref()
            && matches!(v.value, Value::Placeholder(_))
        {
            **right = as_text_array(right.as_ref().clone());
            changed = true;
        }
        ControlFlow::<()>::Continue(())
    });
    changed
}

/// `ARRAY(SELECT e FROM ... [ORDER BY o])`, which DataFusion does not know:
/// - as a select-list item (psql's `\du` member list) ->
///   `(SELECT array_agg(e [ORDER BY o]) FROM ...)`; no row gives NULL where
///   PostgreSQL gives `{}`;
/// - over `unnest(x.reloptions)` (psql's `\d+` toast options: lakehouse has no
///   TOAST tables, so the joined toast relation is always missing) -> a NULL
///   `text[]`, which `||` leaves out as PostgreSQL does `{}`.
fn array_subqueries(statement: &mut Statement) -> bool {
    fn subquery_of(expr: &Expr) -> Option<&Query> {
        match expr {
            Expr::Function(f) if f.name.to_string().eq_ignore_ascii_case("array") => {
                match &f.args {
                    FunctionArguments::Subquery(q) => Some(q),
                    _ => None,
                }
            }
            _ => None,
        }
    }
    fn aggregated(query: &Query) -> Option<Expr> {
        let SetExpr::Select(select) = query.body.as_ref() else {
            return None;
        };
        let [SelectItem::UnnamedExpr(element) | SelectItem::ExprWithAlias { expr: element, .. }] =
            select.projection.as_slice()
        else {
            return None;
        };
        let order = match &query.order_by {
            Some(OrderBy {
                kind: OrderByKind::Expressions(keys),
                ..
            }) => format!(
                " ORDER BY {}",
                keys.iter()
                    .map(|k| k.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            _ => String::new(),
        };
        let mut inner = select.as_ref().clone();
        let sql = format!("array_agg({element}{order})");
        let aggregate = Parser::new(&PostgreSqlDialect {})
            .try_with_sql(&sql)
            .and_then(|mut p| p.parse_expr())
            .ok()?;
        inner.projection = vec![SelectItem::UnnamedExpr(aggregate)];
        let sql = format!("({inner})");
        Parser::new(&PostgreSqlDialect {})
            .try_with_sql(&sql)
            .and_then(|mut p| p.parse_expr())
            .ok()
    }
    fn over_toast_options(query: &Query) -> bool {
        let SetExpr::Select(select) = query.body.as_ref() else {
            return false;
        };
        matches!(
            select.from.as_slice(),
            [from] if from.joins.is_empty()
                && from.relation.to_string().to_ascii_lowercase().contains("unnest(")
                && from.relation.to_string().to_ascii_lowercase().contains("reloptions")
        )
    }
    let mut changed = false;
    if let Statement::Query(query) = statement
        && let SetExpr::Select(select) = query.body.as_mut()
    {
        for item in &mut select.projection {
            let (SelectItem::UnnamedExpr(expr) | SelectItem::ExprWithAlias { expr, .. }) = item
            else {
                continue;
            };
            if let Some(replacement) = subquery_of(expr).and_then(aggregated) {
                *expr = replacement;
                changed = true;
            }
        }
    }
    let _ = visit_expressions_mut(statement, |expr| {
        if subquery_of(expr).is_some_and(over_toast_options) {
            *expr = as_text_array(Expr::Value(Value::Null.with_empty_span()));
            changed = true;
        }
        ControlFlow::<()>::Continue(())
    });
    changed
}

/// `column::regtype[]` -> `regtype_names(column)` (type names as text; pg_proc
/// keeps its type lists as text), and `column::regtype::text` ->
/// `format_type(column, NULL)`: what PostgreSQL prints for them.
fn regtype_lists(statement: &mut Statement) -> bool {
    let mut changed = false;
    let _ = visit_expressions_mut(statement, |expr| {
        let Expr::Cast {
            expr: operand,
            data_type,
            ..
        } = expr
        else {
            return ControlFlow::<()>::Continue(());
        };
        let target = type_name(data_type);
        if target == "regtype[]"
            && matches!(
                operand.as_ref(),
                Expr::Identifier(_) | Expr::CompoundIdentifier(_)
            )
        {
            *expr = call("regtype_names", vec![operand.as_ref().clone()]);
            changed = true;
        } else if target == "text"
            && let Expr::Cast {
                expr: column,
                data_type: inner,
                ..
            } = operand.as_ref()
            && type_name(inner) == "regtype"
            && matches!(
                column.as_ref(),
                Expr::Identifier(_) | Expr::CompoundIdentifier(_)
            )
        {
            let null = Expr::Value(Value::Null.with_empty_span());
            *expr = call("format_type", vec![column.as_ref().clone(), null]);
            changed = true;
        }
        ControlFlow::<()>::Continue(())
    });
    changed
}

/// In select lists (any query level): `column::regclass` -> `regclass_name(column)`,
/// the name PostgreSQL prints for a regclass (psql's `conrelid::regclass AS
/// ontable`); and `pg_partition_ancestors(rel)` -> `rel::regclass`: a relation
/// that is not a partition is its own only ancestor, and lakehouse has no
/// partitions (psql's "Referenced by" query).
fn selected_regclass_names(statement: &mut Statement) -> bool {
    struct Names(bool);
    impl VisitorMut for Names {
        type Break = ();
        fn pre_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
            let SetExpr::Select(select) = query.body.as_mut() else {
                return ControlFlow::Continue(());
            };
            for item in &mut select.projection {
                let (SelectItem::UnnamedExpr(expr) | SelectItem::ExprWithAlias { expr, .. }) = item
                else {
                    continue;
                };
                match expr {
                    Expr::Cast {
                        expr: operand,
                        data_type,
                        ..
                    } if type_name(data_type) == "regclass"
                        && matches!(
                            operand.as_ref(),
                            Expr::Identifier(_) | Expr::CompoundIdentifier(_)
                        ) =>
                    {
                        *expr = call("regclass_name", vec![operand.as_ref().clone()]);
                        self.0 = true;
                    }
                    Expr::Function(f)
                        if f.name.0.last().is_some_and(|n| {
                            n.to_string().eq_ignore_ascii_case("pg_partition_ancestors")
                        }) =>
                    {
                        if let FunctionArguments::List(list) = &f.args
                            && let [FunctionArg::Unnamed(FunctionArgExpr::Expr(relation))] =
                                list.args.as_slice()
                        {
                            *expr = Expr::Cast {
                                kind: CastKind::DoubleColon,
                                expr: Box::new(relation.clone()),
                                data_type: DataType::Regclass,
                                array: false,
                                format: None,
                            };
                            self.0 = true;
                        }
                    }
                    _ => {}
                }
            }
            ControlFlow::Continue(())
        }
    }
    let mut names = Names(false);
    let _ = statement.visit(&mut names);
    names.0
}

/// Scalar functions PostgreSQL accepts in FROM as a one-row table
/// (Grafana's `..., string_to_array(current_setting('search_path'), ',') s`).
const SCALAR_FUNCTIONS_IN_FROM: [&str; 4] = [
    "string_to_array",
    "regexp_split_to_array",
    "current_schemas",
    "parse_ident",
];

fn all_literals(args: &[FunctionArg]) -> bool {
    args.iter().all(|a| {
        matches!(
            a,
            FunctionArg::Unnamed(FunctionArgExpr::Expr(Expr::Value(_) | Expr::UnaryOp { .. }))
        )
    })
}

/// `FROM f(args) [AS] s` for a scalar `f` -> `FROM (SELECT f(args) AS s) AS s`;
/// `generate_series` over computed bounds -> `unnest` of the array function.
fn scalar_functions_in_from(statement: &mut Statement) -> bool {
    struct Lift(bool);
    impl VisitorMut for Lift {
        type Break = ();
        fn pre_visit_table_factor(&mut self, factor: &mut TableFactor) -> ControlFlow<()> {
            if let TableFactor::Table {
                name,
                alias,
                args: Some(args),
                ..
            } = factor
                && let Some(function) = name.0.last().map(|p| p.to_string().to_ascii_lowercase())
                && (SCALAR_FUNCTIONS_IN_FROM.contains(&function.as_str())
                    || (function == "generate_series" && !all_literals(&args.args)))
            {
                let column = alias
                    .as_ref()
                    .and_then(|a| a.columns.first().map(|c| c.name.clone()))
                    .or_else(|| alias.as_ref().map(|a| a.name.clone()))
                    .unwrap_or_else(|| Ident::new(function.clone()));
                let table = alias
                    .as_ref()
                    .map(|a| a.name.clone())
                    .unwrap_or_else(|| Ident::new(function.clone()));
                let args: Vec<String> = args.args.iter().map(|a| a.to_string()).collect();
                // DataFusion's generate_series table function takes only
                // literals; its array function, unnested, takes expressions.
                let call = format!("{name}({})", args.join(", "));
                let value = if function == "generate_series" {
                    format!("unnest({call})")
                } else {
                    call
                };
                let sql = format!("(SELECT {value} AS {column}) AS {table}");
                if let Ok(lifted) = Parser::new(&PostgreSqlDialect {})
                    .try_with_sql(&sql)
                    .and_then(|mut p| p.parse_table_factor())
                {
                    *factor = lifted;
                    self.0 = true;
                }
            }
            ControlFlow::Continue(())
        }
    }
    let mut lift = Lift(false);
    let _ = statement.visit(&mut lift);
    lift.0
}

/// PostgreSQL's name for an unaliased select-list expression (what
/// `FigureColname` gives): a column's name, a function's, a cast's operand's
/// or else its type's, `case`, `exists`, `array`, or `?column?`. `None` keeps
/// DataFusion's name (a plain column reference already has the right one).
fn postgres_column_name(expr: &Expr) -> Option<String> {
    fn figure(expr: &Expr) -> Option<String> {
        match expr {
            Expr::Identifier(ident) => Some(ident.value.clone()),
            Expr::CompoundIdentifier(parts) => parts.last().map(|p| p.value.clone()),
            Expr::Function(f) => f.name.0.last().map(|p| match p.as_ident() {
                Some(ident) if ident.quote_style.is_some() => ident.value.clone(),
                _ => p.to_string().to_ascii_lowercase(),
            }),
            Expr::Cast {
                expr, data_type, ..
            } => figure(expr).or_else(|| {
                // An array type is named by its element type (`int[]`: int4).
                let name = type_name(data_type);
                let name = name.trim_end_matches("[]");
                Some(
                    lakehouse_catalog::pg_types::pg_type_name(name)
                        .unwrap_or(name)
                        .to_string(),
                )
            }),
            Expr::Nested(inner) => figure(inner),
            // `(expr).field` is named by its field.
            Expr::CompoundFieldAccess { access_chain, .. } => match access_chain.last() {
                Some(AccessExpr::Dot(Expr::Identifier(field))) => Some(field.value.clone()),
                _ => None,
            },
            Expr::Case { .. } => Some("case".into()),
            Expr::Exists { .. } => Some("exists".into()),
            Expr::Array(_) => Some("array".into()),
            _ => None,
        }
    }
    match expr {
        Expr::Identifier(_) | Expr::CompoundIdentifier(_) => None,
        _ => Some(figure(expr).unwrap_or_else(|| "?column?".into())),
    }
}

/// Unaliased select-list expressions get PostgreSQL's column names
/// (`SELECT 1` is `?column?`, `SELECT count(*)` is `count`), unless a name
/// would repeat: DataFusion refuses duplicate names, PostgreSQL does not.
fn postgres_column_names(statement: &mut Statement) -> bool {
    let Statement::Query(query) = statement else {
        return false;
    };
    let mut body = query.body.as_mut();
    // A set operation's columns are named by its first branch.
    while let SetExpr::SetOperation { left, .. } = body {
        body = left.as_mut();
    }
    let SetExpr::Select(select) = body else {
        return false;
    };
    let mut taken: Vec<String> = select
        .projection
        .iter()
        .filter_map(|item| match item {
            SelectItem::ExprWithAlias { alias, .. } => Some(alias.value.clone()),
            SelectItem::UnnamedExpr(expr @ (Expr::Identifier(_) | Expr::CompoundIdentifier(_))) => {
                postgres_column_name(&Expr::Nested(Box::new(expr.clone())))
            }
            _ => None,
        })
        .collect();
    let mut changed = false;
    for item in &mut select.projection {
        let SelectItem::UnnamedExpr(expr) = item else {
            continue;
        };
        // Special registers are named by name_special_registers; the
        // pg-catalog parser's own rewrites look for unaliased subqueries.
        if matches!(expr, Expr::Function(f) if matches!(f.args, FunctionArguments::None))
            || has_subquery(expr)
        {
            continue;
        }
        let Some(name) = postgres_column_name(expr) else {
            continue;
        };
        if taken.contains(&name) {
            continue;
        }
        taken.push(name.clone());
        *item = SelectItem::ExprWithAlias {
            expr: expr.clone(),
            alias: Ident::with_quote('"', name),
        };
        changed = true;
    }
    changed
}

fn is_null(expr: &Expr) -> bool {
    matches!(expr, Expr::Value(v) if v.value == Value::Null)
}

/// `'[pg_catalog.]name'::regproc` -> `'name'`.
fn regproc_literals(statement: &mut Statement) -> bool {
    let mut changed = false;
    let _ = visit_expressions_mut(statement, |expr| {
        if let Expr::Cast {
            expr: inner,
            data_type: DataType::Custom(name, _),
            ..
        } = expr
            && name
                .0
                .last()
                .is_some_and(|p| p.to_string().eq_ignore_ascii_case("regproc"))
            && let Expr::Value(value) = inner.as_ref()
            && let Value::SingleQuotedString(text) = &value.value
        {
            let function = text.strip_prefix("pg_catalog.").unwrap_or(text).to_string();
            *expr = Expr::Value(Value::SingleQuotedString(function).with_empty_span());
            changed = true;
        }
        ControlFlow::<()>::Continue(())
    });
    changed
}

/// `real[]`, `float4[]`, `double precision[]`... and pgvector's `vector(n)`.
fn is_vector_type(data_type: &DataType) -> bool {
    match data_type {
        DataType::Array(
            ArrayElemTypeDef::SquareBracket(item, _) | ArrayElemTypeDef::AngleBracket(item),
        ) => matches!(
            item.as_ref(),
            DataType::Real
                | DataType::Float4
                | DataType::Float(_)
                | DataType::Float8
                | DataType::Double(_)
                | DataType::DoublePrecision
        ),
        DataType::Custom(name, _) => name.to_string().eq_ignore_ascii_case("vector"),
        _ => false,
    }
}

#[allow(clippy::ptr_arg)] // sqlparser implements Visit for Vec, not slices
fn oid_placeholders(statements: &Vec<Statement>) -> OidParams {
    let mut found = Vec::new();
    let _ = visit_expressions(statements, |expr| {
        if let Expr::Cast {
            expr: inner,
            data_type,
            ..
        } = expr
            && let Expr::Value(v) = inner.as_ref()
            && let Value::Placeholder(p) = &v.value
            && let Some(n) = p.strip_prefix('$').and_then(|n| n.parse::<usize>().ok())
            && n > 0
        {
            match data_type.to_string().to_ascii_lowercase().as_str() {
                "oid" => found.push((n - 1, Type::OID)),
                "oid[]" => found.push((n - 1, Type::OID_ARRAY)),
                _ => {}
            }
        }
        ControlFlow::<()>::Continue(())
    });
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vector_casts_become_one_string() {
        let rewritten = rewrite(
            "SELECT '{3}'::real[], '{a}'::text[], ARRAY[1.0]::real[] FROM vector_search('i', '[1, 2]'::vector(2), 5)",
        );
        assert_eq!(
            rewritten.sql,
            "SELECT vector_literal('{3}') AS \"float4\", '{a}'::TEXT[] AS \"text\", ARRAY[1.0]::REAL[] AS \"array\" FROM vector_search('i', vector_literal('[1, 2]'), 5)"
        );
    }

    #[test]
    fn registers_get_their_names_and_uuid_becomes_text() {
        let r = rewrite("SELECT current_user, session_user, $1::uuid, $2::oid[]");
        assert_eq!(
            r.sql,
            "SELECT current_user AS \"current_user\", session_user AS \"session_user\", $1::TEXT AS \"uuid\", $2::oid[] AS \"oid\""
        );
        assert_eq!(r.oid_params, vec![(1, Type::OID_ARRAY)]);
        assert_eq!(
            rewrite(
                "SELECT (information_schema._pg_expandarray(i.indkey)).n, (r.keys).x FROM i, r"
            )
            .sql,
            "SELECT get_field(unnest(_pg_expandarray(i.indkey)), 'n') AS \"n\", get_field(r.keys, 'x') AS \"x\" FROM i, r"
        );
        assert_eq!(
            rewrite("SELECT t.typname FROM pg_type t WHERE t.typrelid = 0 OR (SELECT c.relkind = 'c' FROM pg_class c WHERE c.oid = t.typrelid)").sql,
            "SELECT t.typname FROM pg_type t WHERE t.typrelid = 0 OR EXISTS (SELECT 1 FROM pg_class c WHERE (c.oid = t.typrelid) AND (c.relkind = 'c'))"
        );
        assert_eq!(
            rewrite("SELECT (CASE WHEN t.typtype = 'c' THEN (SELECT 1 FROM c WHERE c.r = t.oid) END) AS a, t.typtype FROM pg_type t").sql,
            "SELECT (NULL) AS a, t.typtype FROM pg_type t"
        );
        assert_eq!(
            rewrite("SELECT (CASE WHEN t.typtype = 'd' THEN (SELECT 1) ELSE NULL END) AS b FROM pg_type t").sql,
            "SELECT (NULL) AS b FROM pg_type t"
        );
        assert_eq!(
            rewrite(
                "SELECT 1, 2, count(*), a, t.b, x::int, '1'::integer, CASE WHEN a THEN 1 END FROM t"
            )
            .sql,
            "SELECT 1 AS \"?column?\", 2, count(*) AS \"count\", a, t.b, x::INT AS \"x\", '1'::INTEGER AS \"int4\", CASE WHEN a THEN 1 END AS \"case\" FROM t"
        );
        assert_eq!(
            rewrite("SELECT s[i] AS p FROM generate_series(1, array_upper(string_to_array(x, ','), 1)) AS i, string_to_array(x, ',') s").sql,
            "SELECT s[i] AS p FROM (SELECT unnest(generate_series(1, array_upper(string_to_array(x, ','), 1))) AS i) AS i, (SELECT string_to_array(x, ',') AS s) AS s"
        );
        assert_eq!(
            rewrite("SELECT col_description(format('%I.%I', s, t)::regclass, 1), 'pg_class'::regclass AS c").sql,
            "SELECT col_description(to_regclass(format('%I.%I', s, t)), 1) AS \"col_description\", 'pg_catalog.pg_class'::REGCLASS AS c"
        );
        assert_eq!(
            rewrite("SELECT a AS x FROM t ORDER BY CASE WHEN a IN (SELECT b FROM u) THEN 0 ELSE 1 END, 1 LIMIT 5").sql,
            "SELECT a AS x FROM (SELECT *, CASE WHEN array_has((SELECT array_agg(__v) FROM (SELECT b FROM u) AS __in (__v)), a) THEN 0 ELSE 1 END AS __order_1 FROM t) AS __ordered ORDER BY __order_1, 1 LIMIT 5"
        );
        let aggregated = "SELECT t.a FROM t WHERE (SELECT count(*) = 0 FROM u WHERE u.id = t.id)";
        assert_eq!(rewrite(aggregated).sql, aggregated);
        assert_eq!(
            rewrite("SELECT typinput = 'pg_catalog.array_in'::regproc FROM pg_type").sql,
            "SELECT typinput = 'array_in' FROM pg_type"
        );
        assert_eq!(
            rewrite("SELECT unnest(conkey), generate_subscripts(conkey, $1) FROM c").sql,
            "SELECT unnest(conkey) AS \"unnest\", unnest(generate_series(1, CAST(array_length(conkey, $1) AS BIGINT))) AS \"generate_subscripts\" FROM c"
        );
        assert!(matches!(rewrite("SELECT a FROM t").sql, Cow::Borrowed(_)));
        assert!(matches!(
            rewrite("INSERT INTO t VALUES (1)").sql,
            Cow::Borrowed(_)
        ));
    }
}
