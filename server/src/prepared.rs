//! The session's prepared statements by name, for `DEALLOCATE` and
//! `DISCARD ALL`.
//!
//! PostgreSQL has one namespace for statements prepared with the protocol's
//! Parse message and with SQL `PREPARE`; drivers mix the two (psycopg prepares
//! with Parse and evicts from its cache with `DEALLOCATE name`). Here the first
//! live in pgwire's statement store, which removes by name but cannot list, and
//! the second in DataFusion's session state, which keeps them private; so the
//! names are recorded as they are prepared.

use std::collections::BTreeSet;
use std::sync::Mutex;

use datafusion::logical_expr::{Deallocate, LogicalPlan, Statement as PlanStatement};
use datafusion::prelude::SessionContext;

use crate::error::{ServerError, ServerResult};

/// The connection's protocol-level statement store (pgwire's, on the client).
pub trait ProtocolStatements: Send + Sync {
    /// Removes the named statement; whether it existed.
    fn remove(&self, name: &str) -> bool;
}

/// Names prepared in this session (Parse and Close keep the protocol ones
/// current).
#[derive(Debug, Default)]
pub struct PreparedNames {
    protocol: Mutex<BTreeSet<String>>,
    sql: Mutex<BTreeSet<String>>,
}

impl PreparedNames {
    /// A named statement was stored by Parse.
    pub fn parsed(&self, name: &str) {
        locked(&self.protocol).insert(name.to_string());
    }

    /// A statement was closed by the client's Close message.
    pub fn closed(&self, name: &str) {
        locked(&self.protocol).remove(name);
    }

    /// SQL `PREPARE name` succeeded.
    pub fn prepared(&self, name: &str) {
        locked(&self.sql).insert(name.to_string());
    }

    /// `DEALLOCATE name` (`Some`) or `DEALLOCATE ALL` (`None`).
    pub async fn deallocate(
        &self,
        ctx: &SessionContext,
        statements: &dyn ProtocolStatements,
        name: Option<&str>,
    ) -> ServerResult<()> {
        match name {
            Some(name) => {
                locked(&self.protocol).remove(name);
                let protocol = statements.remove(name);
                let sql = locked(&self.sql).remove(name);
                if sql {
                    drop_sql_statement(ctx, name).await?;
                }
                if !protocol && !sql {
                    return Err(ServerError::sql(
                        "26000",
                        format!("prepared statement \"{name}\" does not exist"),
                    ));
                }
            }
            None => {
                let protocol = std::mem::take(&mut *locked(&self.protocol));
                for name in protocol {
                    statements.remove(&name);
                }
                let sql = std::mem::take(&mut *locked(&self.sql));
                for name in sql {
                    drop_sql_statement(ctx, &name).await?;
                }
            }
        }
        Ok(())
    }
}

async fn drop_sql_statement(ctx: &SessionContext, name: &str) -> ServerResult<()> {
    let plan = LogicalPlan::Statement(PlanStatement::Deallocate(Deallocate {
        name: name.to_string(),
    }));
    ctx.execute_logical_plan(plan).await?.collect().await?;
    Ok(())
}

/// A poisoned lock still yields the names: they have no invariant to break.
fn locked<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
