//! SQL cursors: `DECLARE name [SCROLL] CURSOR [WITH HOLD] FOR query`, `FETCH` / `MOVE` in
//! every PostgreSQL direction, `CLOSE`.
//!
//! psycopg's server-side (named) cursors and ETL tools page through large
//! results this way. A cursor holds the query's running record-batch stream and
//! reads from it only as far as a FETCH needs. A cursor declared `SCROLL` keeps
//! the rows it has read, so it can move backwards and to absolute positions; any
//! other cursor forgets rows once it has passed them (so one over a huge table
//! holds little) and refuses to move back, as PostgreSQL does for `NO SCROLL`.
//! A cursor lives until CLOSE, or the end of its transaction block unless
//! declared `WITH HOLD` (then until the end of the session), as in PostgreSQL.
//!
//! Positions are PostgreSQL's: 0 is before the first row, `k` is on row `k`
//! (1-based), one past the last row is after the end.

use std::collections::{HashMap, VecDeque};

use datafusion::arrow::array::UInt32Array;
use datafusion::arrow::compute::{concat_batches, take_record_batch};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::execution::SendableRecordBatchStream;
use futures::StreamExt;

use crate::error::{ServerError, ServerResult};

/// Where a FETCH or MOVE goes. Counts of `None` mean ALL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Movement {
    Forward(Option<u64>),
    Backward(Option<u64>),
    Absolute(i64),
    Relative(i64),
}

struct Cursor {
    schema: SchemaRef,
    stream: SendableRecordBatchStream,
    scroll: bool,
    /// `WITH HOLD`: outlives its transaction block.
    hold: bool,
    /// How many savepoints were defined when it was declared: ROLLBACK TO any
    /// of them undoes the DECLARE and closes it.
    savepoint_depth: usize,
    /// Rows read from the stream and still kept, numbered from `dropped + 1`.
    kept: VecDeque<RecordBatch>,
    /// Rows a non-scroll cursor has passed and forgotten.
    dropped: u64,
    /// Rows read from the stream so far.
    read: u64,
    exhausted: bool,
    position: u64,
}

impl Cursor {
    /// Reads until row `n` is read or the stream ends.
    async fn read_to(&mut self, n: u64) -> ServerResult<()> {
        while self.read < n && !self.exhausted {
            match self.stream.next().await {
                Some(batch) => {
                    let batch = batch?;
                    self.read += batch.num_rows() as u64;
                    if batch.num_rows() > 0 {
                        self.kept.push_back(batch);
                    }
                }
                None => self.exhausted = true,
            }
        }
        Ok(())
    }

    /// Rows `first..=last` (1-based, all read), in order.
    fn rows(&self, first: u64, last: u64) -> ServerResult<Vec<RecordBatch>> {
        if first <= self.dropped {
            return Err(ServerError::sql(
                "55000",
                "cursor can only scan forward (declare it with SCROLL to move backward)",
            ));
        }
        let mut out = Vec::new();
        let mut start = self.dropped + 1; // row number of the batch's first row
        for batch in &self.kept {
            let end = start + batch.num_rows() as u64 - 1;
            if end >= first && start <= last {
                let from = first.max(start) - start;
                let to = last.min(end) - start;
                out.push(batch.slice(from as usize, (to - from + 1) as usize));
            }
            start = end + 1;
        }
        Ok(out)
    }

    /// A non-scroll cursor forgets the rows before its position (it keeps the
    /// current row for `FETCH RELATIVE 0`).
    fn forget_passed(&mut self) {
        if self.scroll {
            return;
        }
        while let Some(front) = self.kept.front() {
            let rows = front.num_rows() as u64;
            let keep_from = self.position.saturating_sub(1).saturating_sub(self.dropped);
            if keep_from >= rows {
                self.dropped += rows;
                self.kept.pop_front();
            } else {
                if keep_from > 0 {
                    let rest = front.slice(keep_from as usize, (rows - keep_from) as usize);
                    self.kept[0] = rest;
                    self.dropped += keep_from;
                }
                break;
            }
        }
    }

    /// Goes to absolute row `target` (0 = before the first), reading as needed;
    /// the row there, if any.
    async fn go_to(&mut self, target: u64) -> ServerResult<Vec<RecordBatch>> {
        self.read_to(target).await?;
        if target == 0 {
            self.position = 0;
            return Ok(Vec::new());
        }
        if target > self.read {
            self.position = self.read + 1;
            return Ok(Vec::new());
        }
        let row = self.rows(target, target)?;
        self.position = target;
        Ok(row)
    }

    /// Carries out one FETCH or MOVE: the rows it passes over, in its order.
    async fn advance(&mut self, movement: Movement) -> ServerResult<Vec<RecordBatch>> {
        let rows = match movement {
            Movement::Forward(Some(0)) | Movement::Backward(Some(0)) | Movement::Relative(0) => {
                if self.position == 0 || self.position > self.read {
                    Vec::new()
                } else {
                    self.rows(self.position, self.position)?
                }
            }
            Movement::Forward(count) => {
                let wanted = self.position.saturating_add(count.unwrap_or(u64::MAX));
                self.read_to(wanted).await?;
                let first = self.position + 1;
                let last = wanted.min(self.read);
                let rows = if first <= last {
                    self.rows(first, last)?
                } else {
                    Vec::new()
                };
                self.position = if wanted > self.read {
                    self.read + 1
                } else {
                    last
                };
                rows
            }
            Movement::Backward(count) => {
                let count = count.unwrap_or(u64::MAX);
                // After the end means one past every row, so the whole result is read.
                if self.position > self.read {
                    self.read_to(u64::MAX).await?;
                    self.position = self.read + 1;
                }
                let last = self.position.saturating_sub(1);
                let first = self.position.saturating_sub(count).max(1);
                let rows = if first <= last && last > 0 {
                    reversed(&self.schema, self.rows(first, last)?)?
                } else {
                    Vec::new()
                };
                self.position = self.position.saturating_sub(count);
                rows
            }
            Movement::Absolute(n) if n >= 0 => self.go_to(n as u64).await?,
            Movement::Absolute(n) => {
                self.read_to(u64::MAX).await?;
                let target = self.read as i64 + 1 + n;
                self.go_to(target.max(0) as u64).await?
            }
            Movement::Relative(n) => {
                if n < 0 && self.position > self.read {
                    self.read_to(u64::MAX).await?;
                    self.position = self.read + 1;
                }
                let target = self.position as i64 + n;
                self.go_to(target.max(0) as u64).await?
            }
        };
        self.forget_passed();
        Ok(rows)
    }
}

/// The rows of `batches` in reverse order, as one batch.
fn reversed(schema: &SchemaRef, batches: Vec<RecordBatch>) -> ServerResult<Vec<RecordBatch>> {
    let all = concat_batches(schema, &batches).map_err(datafusion::error::DataFusionError::from)?;
    let n = all.num_rows() as u32;
    let indices = UInt32Array::from_iter_values((0..n).rev());
    let batch =
        take_record_batch(&all, &indices).map_err(datafusion::error::DataFusionError::from)?;
    Ok(vec![batch])
}

/// The session's open cursors, by name.
#[derive(Default)]
pub struct Cursors(tokio::sync::Mutex<HashMap<String, Cursor>>);

fn not_found(name: &str) -> ServerError {
    ServerError::sql("34000", format!("cursor \"{name}\" does not exist"))
}

impl Cursors {
    pub async fn declare(
        &self,
        name: &str,
        scroll: bool,
        hold: bool,
        savepoint_depth: usize,
        schema: SchemaRef,
        stream: SendableRecordBatchStream,
    ) -> ServerResult<()> {
        let mut cursors = self.0.lock().await;
        if cursors.contains_key(name) {
            return Err(ServerError::sql(
                "42P03",
                format!("cursor \"{name}\" already exists"),
            ));
        }
        cursors.insert(
            name.to_string(),
            Cursor {
                schema,
                stream,
                scroll,
                hold,
                savepoint_depth,
                kept: VecDeque::new(),
                dropped: 0,
                read: 0,
                exhausted: false,
                position: 0,
            },
        );
        Ok(())
    }

    /// The row type of an open cursor (for Describe of a FETCH).
    pub async fn schema(&self, name: &str) -> ServerResult<SchemaRef> {
        let cursors = self.0.lock().await;
        cursors
            .get(name)
            .map(|c| c.schema.clone())
            .ok_or_else(|| not_found(name))
    }

    /// Moves the cursor; the rows passed over (what FETCH returns, what MOVE
    /// counts).
    pub async fn fetch(
        &self,
        name: &str,
        movement: Movement,
    ) -> ServerResult<(SchemaRef, Vec<RecordBatch>)> {
        let mut cursors = self.0.lock().await;
        let cursor = cursors.get_mut(name).ok_or_else(|| not_found(name))?;
        let rows = cursor.advance(movement).await?;
        Ok((cursor.schema.clone(), rows))
    }

    /// The transaction block ended: its cursors without `WITH HOLD` close.
    pub async fn end_transaction(&self) {
        self.0.lock().await.retain(|_, cursor| cursor.hold);
    }

    /// `ROLLBACK TO` left `depth` savepoints: cursors declared after them close.
    pub async fn rolled_back_to(&self, depth: usize) {
        self.0
            .lock()
            .await
            .retain(|_, cursor| cursor.savepoint_depth < depth);
    }

    /// `RELEASE` left `depth` savepoints: cursors declared after them now
    /// belong to the savepoint that encloses them.
    pub async fn released_to(&self, depth: usize) {
        for cursor in self.0.lock().await.values_mut() {
            cursor.savepoint_depth = cursor.savepoint_depth.min(depth);
        }
    }

    /// Closes one cursor, or all of them with `None`.
    pub async fn close(&self, name: Option<&str>) -> ServerResult<()> {
        let mut cursors = self.0.lock().await;
        match name {
            None => cursors.clear(),
            Some(name) => {
                cursors.remove(name).ok_or_else(|| not_found(name))?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::array::{Array, Int64Array};
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use datafusion::physical_plan::stream::RecordBatchStreamAdapter;

    use super::*;

    /// A cursor over 1..=10 in batches of 3.
    async fn cursors(scroll: bool) -> Cursors {
        let schema = Arc::new(Schema::new(vec![Field::new("n", DataType::Int64, false)]));
        let batches: Vec<_> = (0..4)
            .map(|b| {
                let values: Vec<i64> = (b * 3 + 1..=(b * 3 + 3).min(10)).collect();
                RecordBatch::try_new(schema.clone(), vec![Arc::new(Int64Array::from(values))])
                    .map_err(Into::into)
            })
            .collect();
        let stream = RecordBatchStreamAdapter::new(schema.clone(), futures::stream::iter(batches));
        let c = Cursors::default();
        c.declare("c", scroll, true, 0, schema, Box::pin(stream))
            .await
            .unwrap();
        c
    }

    async fn fetch(c: &Cursors, m: Movement) -> Vec<i64> {
        let (_, batches) = c.fetch("c", m).await.unwrap();
        batches
            .iter()
            .flat_map(|b| {
                let a = b.column(0).as_any().downcast_ref::<Int64Array>().unwrap();
                (0..a.len()).map(|i| a.value(i)).collect::<Vec<_>>()
            })
            .collect()
    }

    #[tokio::test]
    async fn scroll_cursor_moves_like_postgres() {
        use Movement::*;
        let c = cursors(true).await;
        assert_eq!(fetch(&c, Forward(Some(4))).await, vec![1, 2, 3, 4]);
        assert_eq!(fetch(&c, Backward(Some(2))).await, vec![3, 2]);
        assert_eq!(fetch(&c, Relative(0)).await, vec![2]);
        assert_eq!(fetch(&c, Absolute(-1)).await, vec![10]);
        assert_eq!(fetch(&c, Forward(Some(1))).await, Vec::<i64>::new());
        assert_eq!(fetch(&c, Backward(Some(1))).await, vec![10]);
        assert_eq!(fetch(&c, Absolute(0)).await, Vec::<i64>::new());
        assert_eq!(fetch(&c, Relative(3)).await, vec![3]);
        assert_eq!(fetch(&c, Backward(None)).await, vec![2, 1]);
        assert_eq!(fetch(&c, Forward(None)).await, (1..=10).collect::<Vec<_>>());
        assert_eq!(fetch(&c, Absolute(11)).await, Vec::<i64>::new());
        assert_eq!(fetch(&c, Relative(-1)).await, vec![10]);
    }

    #[tokio::test]
    async fn forward_cursor_refuses_to_go_back() {
        use Movement::*;
        let c = cursors(false).await;
        assert_eq!(fetch(&c, Forward(Some(2))).await, vec![1, 2]);
        assert_eq!(fetch(&c, Relative(2)).await, vec![4]);
        assert_eq!(fetch(&c, Absolute(5)).await, vec![5]);
        let back = c.fetch("c", Backward(Some(1))).await.err().unwrap();
        assert_eq!(back.sqlstate(), "55000");
        assert_eq!(fetch(&c, Forward(None)).await, vec![6, 7, 8, 9, 10]);
    }
}
