//! Rewrites of client SQL applied before the pg-catalog compatibility parser,
//! for Postgres behaviour drivers rely on that DataFusion lacks:
//!
//! - `SELECT current_user, session_user` names its columns after the registers.
//!   The compatibility rewrite turns both into `session_user()` calls, which
//!   DataFusion would name alike (and refuse as duplicates), so an unaliased
//!   special register in a select list gets its own name as alias first.
//! - `uuid` is stored and compared as text (DataFusion has no uuid type):
//!   `::uuid` casts and `uuid` columns become `text`.
//! - `$n::oid` / `$n::oid[]` placeholders are recorded: DataFusion plans them as
//!   integers, but drivers expect the oid types in the parameter description
//!   (asyncpg decodes `oid[]` natively, not `int4[]`).
//!
//! SQL that does not parse is passed on untouched, for the real parser to report.

use std::borrow::Cow;
use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{
    DataType, Expr, FunctionArguments, Ident, SelectItem, SetExpr, Statement, Value,
    visit_expressions, visit_expressions_mut,
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
    if !has_registers && !lower.contains("oid") && !lower.contains("uuid") {
        return unchanged(Vec::new());
    }
    let Ok(mut statements) = Parser::parse_sql(&PostgreSqlDialect {}, sql) else {
        return unchanged(Vec::new());
    };
    let oid_params = oid_placeholders(&statements);
    let mut changed = false;
    for statement in &mut statements {
        changed |= name_special_registers(statement);
        changed |= uuid_as_text(statement);
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
    fn registers_get_their_names_and_uuid_becomes_text() {
        let r = rewrite("SELECT current_user, session_user, $1::uuid, $2::oid[]");
        assert_eq!(
            r.sql,
            "SELECT current_user AS \"current_user\", session_user AS \"session_user\", $1::TEXT, $2::oid[]"
        );
        assert_eq!(r.oid_params, vec![(1, Type::OID_ARRAY)]);
        assert!(matches!(rewrite("SELECT 1").sql, Cow::Borrowed(_)));
    }
}
