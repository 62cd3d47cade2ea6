//! Result column names as PostgreSQL gives them: an unaliased select-list
//! expression is named after its column, function, cast or `?column?`, and
//! the parenthesis-less special registers after themselves.

use super::*;

pub(super) fn name_special_registers(statement: &mut Statement) -> bool {
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

/// PostgreSQL's name for an unaliased select-list expression (what
/// `FigureColname` gives): a column's name, a function's, a cast's operand's
/// or else its type's, `case`, `exists`, `array`, or `?column?`. `None` keeps
/// DataFusion's name (a plain column reference already has the right one).
pub(super) fn postgres_column_name(expr: &Expr) -> Option<String> {
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
pub(super) fn postgres_column_names(statement: &mut Statement) -> bool {
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
