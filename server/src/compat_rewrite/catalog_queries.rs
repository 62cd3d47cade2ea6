//! Client catalog queries (psql, pgjdbc, SQLAlchemy, asyncpg, pgcli, Metabase)
//! restated in terms lakehouse's pg_catalog and DataFusion can answer:
//! regclass / regtype / regproc casts, key-column arrays, ARRAY subqueries,
//! and lookups of domain, composite and partition objects lakehouse has none of.

use super::*;

/// pgcli's foreign-key query names key columns with a lateral subquery:
/// `(SELECT array_agg(attname ORDER BY i) FROM (SELECT unnest(K) AS attnum,
/// generate_subscripts(K, 1) AS i) x JOIN pg_catalog.pg_attribute c
/// USING (attnum) WHERE c.attrelid = R)` -> `column_names(R, K)`.
pub(super) fn attname_lists(statement: &mut Statement) -> bool {
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
pub(super) fn generate_subscripts(statement: &mut Statement) -> bool {
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

/// `[information_schema.]_pg_expandarray(a)` -> `unnest(_pg_expandarray(a))`;
/// `(expr).f` -> `get_field(expr, 'f')`.
pub(super) fn expand_arrays(statement: &mut Statement) -> bool {
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

/// `CASE WHEN x.typtype = 'd' | 'c' THEN <subquery> [ELSE NULL] END` -> NULL,
/// and psql's `CASE WHEN t.tgparentid != 0 THEN <parent trigger> END`.
pub(super) fn domain_and_composite_lookups(statement: &mut Statement) -> bool {
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
pub(super) fn catalog_regclass_literals(statement: &mut Statement) -> bool {
    replace_casts(statement, |operand, data_type| match operand {
        Expr::Value(value)
            if type_name(data_type) == "regclass"
                && matches!(&value.value, Value::SingleQuotedString(name)
                    if name.starts_with("pg_") && !name.contains('.')) =>
        {
            let Value::SingleQuotedString(name) = &value.value else {
                return None;
            };
            Some(Expr::Cast {
                kind: CastKind::DoubleColon,
                expr: Box::new(Expr::Value(
                    Value::SingleQuotedString(format!("pg_catalog.{name}")).with_empty_span(),
                )),
                data_type: data_type.clone(),
                array: false,
                format: None,
            })
        }
        _ => None,
    })
}

/// `CAST(<computed text> AS regclass)` (Metabase's `format('%I.%I', schema,
/// table)::regclass`) -> `to_regclass(<text>)`, looked up when the row is.
/// String literals are left to the pg-catalog rewrite, columns (oid ->
/// regclass) to its type planner.
pub(super) fn computed_regclass_casts(statement: &mut Statement) -> bool {
    replace_casts(statement, |operand, data_type| {
        let computed = matches!(
            operand,
            Expr::Function(_) | Expr::BinaryOp { .. } | Expr::Nested(_)
        );
        (computed && type_name(data_type) == "regclass")
            .then(|| call("to_regclass", vec![operand.clone()]))
    })
}

/// `ARRAY(SELECT e FROM ... [ORDER BY o])`, which DataFusion does not know:
/// - as a select-list item (psql's `\du` member list) ->
///   `coalesce((SELECT array_agg(e [ORDER BY o]) FROM ...), make_array())`
///   (array_agg of no rows is NULL; ARRAY() of none is `{}`);
/// - over `unnest(x.reloptions)` (psql's `\d+` toast options: lakehouse has no
///   TOAST tables, so the joined toast relation is always missing) -> a NULL
///   `text[]`, which `||` leaves out as PostgreSQL does `{}`.
pub(super) fn array_subqueries(statement: &mut Statement) -> bool {
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
        let sql = format!("coalesce(({inner}), make_array())");
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
pub(super) fn regtype_lists(statement: &mut Statement) -> bool {
    replace_casts(statement, |operand, data_type| {
        let target = type_name(data_type);
        if target == "regtype[]" && is_column(operand) {
            return Some(call("regtype_names", vec![operand.clone()]));
        }
        match operand {
            Expr::Cast {
                expr: column,
                data_type: inner,
                ..
            } if target == "text" && type_name(inner) == "regtype" && is_column(column) => {
                let null = Expr::Value(Value::Null.with_empty_span());
                Some(call("format_type", vec![column.as_ref().clone(), null]))
            }
            _ => None,
        }
    })
}

/// In select lists (any query level): `column::regclass` -> `regclass_name(column)`,
/// the name PostgreSQL prints for a regclass (psql's `conrelid::regclass AS
/// ontable`), and any other `x::regclass` -> `regclass_name(x::regclass)` (a
/// user's `SELECT 'people'::regclass`; the inner cast is resolved to an oid by
/// the rewrites that follow); and `pg_partition_ancestors(rel)` ->
/// `rel::regclass`: a relation that is not a partition is its own only
/// ancestor, and lakehouse has no partitions (psql's "Referenced by" query).
pub(super) fn selected_regclass_names(statement: &mut Statement) -> bool {
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
                    } if type_name(data_type) == "regclass" => {
                        let oid = if is_column(operand) {
                            operand.as_ref().clone()
                        } else {
                            expr.clone()
                        };
                        *expr = call("regclass_name", vec![oid]);
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

/// `'[pg_catalog.]name'::regproc` -> `'name'`.
pub(super) fn regproc_literals(statement: &mut Statement) -> bool {
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
