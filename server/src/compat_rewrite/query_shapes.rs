//! Query shapes PostgreSQL accepts and DataFusion cannot plan as written:
//! boolean subqueries as WHERE conditions, subqueries in select lists and
//! ORDER BY, and scalar functions (or computed `generate_series`) in FROM.

use super::*;

/// WHERE conditions (through AND / OR / parentheses) that are boolean scalar
/// subqueries become EXISTS.
pub(super) fn boolean_subqueries_as_exists(statement: &mut Statement) -> bool {
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

/// `SELECT a AS x FROM t ORDER BY <expr with a subquery>` (Grafana's table
/// list, ordered by "is the schema on the search path") -> the order key
/// computed as a column of a derived table, which DataFusion can plan:
/// `SELECT a AS x FROM (SELECT *, <expr> AS __order_1 FROM t) ORDER BY __order_1`.
/// The select list stays in its own projection: the same subquery in the
/// select list and the key, side by side, would be merged by DataFusion's
/// common-subexpression pass where its subquery planning no longer finds it.
pub(super) fn subqueries_in_order_by(statement: &mut Statement) -> bool {
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
/// `[NOT] in_array((SELECT array_agg(v) FROM (SELECT v ...) AS __in(v)), x)`:
/// DataFusion plans IN subqueries only in filters and joins, but a scalar
/// subquery anywhere; `in_array` keeps IN's NULL rules.
pub(super) fn selected_in_subqueries(statement: &mut Statement) -> bool {
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
                    "{}in_array((SELECT array_agg(__v) FROM ({subquery}) AS __in(__v)), {needle})",
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
        let mut taken: Vec<String> = select
            .projection
            .iter()
            .filter_map(|item| match item {
                SelectItem::ExprWithAlias { alias, .. } => Some(alias.value.clone()),
                _ => None,
            })
            .collect();
        for item in &mut select.projection {
            match item {
                SelectItem::ExprWithAlias { expr, .. } => changed |= as_array_lookup(expr),
                SelectItem::UnnamedExpr(expr) => {
                    let written = expr.to_string();
                    if as_array_lookup(expr) {
                        changed = true;
                        // PostgreSQL names the column `?column?` (or the
                        // function's name); DataFusion would name every such
                        // lookup on one needle alike and refuse the repeat,
                        // so a repeat is named by the expression as written.
                        let name = if taken.iter().any(|t| t == "?column?") {
                            written
                        } else {
                            "?column?".to_string()
                        };
                        taken.push(name.clone());
                        *item = SelectItem::ExprWithAlias {
                            expr: expr.clone(),
                            alias: Ident::with_quote('"', name),
                        };
                    }
                }
                _ => {}
            }
        }
    }
    changed
}

/// Scalar functions PostgreSQL accepts in FROM as a one-row table
/// (Grafana's `..., string_to_array(current_setting('search_path'), ',') s`).
pub(super) const SCALAR_FUNCTIONS_IN_FROM: [&str; 4] = [
    "string_to_array",
    "regexp_split_to_array",
    "current_schemas",
    "parse_ident",
];

/// `FROM f(args) [AS] s` for a scalar `f` -> `FROM (SELECT f(args) AS s) AS s`;
/// `generate_series` over computed bounds -> `unnest` of the array function.
pub(super) fn scalar_functions_in_from(statement: &mut Statement) -> bool {
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
                    || (function == "generate_series" && !all_constant(&args.args)))
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
