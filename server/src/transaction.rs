//! The session's transaction block as clients see it: idle, open or failed
//! (the status every ReadyForQuery carries), and the savepoints defined in it.
//!
//! Drivers' BEGIN / SAVEPOINT / RELEASE / ROLLBACK TO sequences follow
//! PostgreSQL's rules: savepoint names are checked, a failed block accepts
//! only ROLLBACK [TO SAVEPOINT] and COMMIT, and ROLLBACK TO SAVEPOINT makes a
//! failed block usable again, returning the session's settings and staged
//! writes (`lakehouse_catalog::UncommittedWrites`) to the savepoint.

use std::sync::Mutex;

use lakehouse_catalog::WriteMark;

use crate::error::{ServerError, ServerResult};
use crate::settings::SettingsSnapshot;

/// What ROLLBACK TO a savepoint returns the session to.
#[derive(Debug, Clone, Default)]
pub struct RestorePoint {
    pub settings: SettingsSnapshot,
    pub writes: WriteMark,
}

/// Where the session stands, as the wire reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Block {
    /// No transaction block: each statement is its own transaction.
    Idle,
    /// Inside BEGIN ... COMMIT.
    Open,
    /// A statement in the block failed: only ROLLBACK [TO SAVEPOINT] runs.
    Failed,
}

/// The open block's savepoints, oldest first, each with the state it
/// returns to. Names may repeat; RELEASE and ROLLBACK TO act on the newest
/// with the name, as in PostgreSQL.
#[derive(Debug, Default)]
pub struct Savepoints(Mutex<Vec<(String, RestorePoint)>>);

impl Savepoints {
    /// `SAVEPOINT name`, remembering where the session stands at this point.
    pub fn define(&self, block: Block, name: &str, point: RestorePoint) -> ServerResult<()> {
        outside_block_check(block, "SAVEPOINT")?;
        self.with(|s| s.push((name.to_string(), point)));
        Ok(())
    }

    /// `RELEASE SAVEPOINT name`: forgets it and every savepoint defined after
    /// it; how many savepoints remain.
    pub fn release(&self, block: Block, name: &str) -> ServerResult<usize> {
        outside_block_check(block, "RELEASE SAVEPOINT")?;
        let position = self.position(name)?;
        self.with(|s| s.truncate(position));
        Ok(position)
    }

    /// `ROLLBACK TO SAVEPOINT name`: keeps it, forgets the ones defined after
    /// it; how many savepoints remain (what was done after the first that many
    /// is undone) and the state to return to.
    pub fn rollback_to(&self, block: Block, name: &str) -> ServerResult<(usize, RestorePoint)> {
        outside_block_check(block, "ROLLBACK TO SAVEPOINT")?;
        let position = self.position(name)?;
        let point = self.with(|s| {
            s.truncate(position + 1);
            s[position].1.clone()
        });
        Ok((position + 1, point))
    }

    /// How many savepoints are defined (a cursor remembers it when declared).
    pub fn depth(&self) -> usize {
        self.with(|s| s.len())
    }

    /// The block ended (COMMIT, ROLLBACK, DISCARD ALL).
    pub fn clear(&self) {
        self.with(Vec::clear);
    }

    fn position(&self, name: &str) -> ServerResult<usize> {
        self.with(|s| s.iter().rposition(|(n, _)| n == name))
            .ok_or_else(|| {
                ServerError::sql("3B001", format!("savepoint \"{name}\" does not exist"))
            })
    }

    /// A poisoned lock still yields the names: they have no invariant to break.
    fn with<T>(&self, f: impl FnOnce(&mut Vec<(String, RestorePoint)>) -> T) -> T {
        let mut guard = self.0.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut guard)
    }
}

fn outside_block_check(block: Block, what: &str) -> ServerResult<()> {
    match block {
        Block::Idle => Err(ServerError::sql(
            "25P01",
            format!("{what} can only be used in transaction blocks"),
        )),
        Block::Open | Block::Failed => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sqlstate<T>(r: ServerResult<T>) -> &'static str {
        r.err().map(|e| e.sqlstate()).unwrap_or("00000")
    }

    #[test]
    fn names_follow_postgres_rules() {
        let s = Savepoints::default();
        assert_eq!(
            sqlstate(s.define(Block::Idle, "a", RestorePoint::default())),
            "25P01"
        );
        s.define(Block::Open, "a", RestorePoint::default()).unwrap();
        s.define(Block::Open, "b", RestorePoint::default()).unwrap();
        s.define(Block::Open, "a", RestorePoint::default()).unwrap();
        // ROLLBACK TO the newest "a" keeps it; "b" survives below it.
        s.rollback_to(Block::Failed, "a").unwrap();
        s.release(Block::Open, "b").unwrap();
        // Releasing "b" also released the "a" defined after it; the first "a" stays.
        s.rollback_to(Block::Open, "a").unwrap();
        assert_eq!(sqlstate(s.release(Block::Open, "b")), "3B001");
        assert_eq!(sqlstate(s.rollback_to(Block::Idle, "a")), "25P01");
        s.clear();
        assert_eq!(sqlstate(s.rollback_to(Block::Open, "a")), "3B001");
    }
}
