//! SQL cursors: `DECLARE name CURSOR FOR query`, `FETCH n FROM name`, `CLOSE`.
//!
//! psycopg's server-side (named) cursors and ETL tools page through large
//! results this way. A cursor holds the query's running record-batch stream;
//! each FETCH takes the next rows from it, so a cursor over a huge table never
//! holds more than one batch. Cursors live until CLOSE or the end of the session
//! (every cursor behaves as `WITH HOLD`, since each statement commits on its own).

use std::collections::HashMap;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::execution::SendableRecordBatchStream;
use futures::StreamExt;

use crate::error::{ServerError, ServerResult};

struct Cursor {
    schema: SchemaRef,
    stream: SendableRecordBatchStream,
    /// Rows of the last batch not fetched yet.
    pending: Option<RecordBatch>,
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
                pending: None,
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

    /// The next `count` rows (all remaining when `None`).
    pub async fn fetch(
        &self,
        name: &str,
        count: Option<usize>,
    ) -> ServerResult<(SchemaRef, Vec<RecordBatch>)> {
        let mut cursors = self.0.lock().await;
        let cursor = cursors.get_mut(name).ok_or_else(|| not_found(name))?;
        let mut wanted = count.unwrap_or(usize::MAX);
        let mut out = Vec::new();
        while wanted > 0 {
            let batch = match cursor.pending.take() {
                Some(batch) => batch,
                None => match cursor.stream.next().await {
                    Some(batch) => batch?,
                    None => break,
                },
            };
            if batch.num_rows() > wanted {
                out.push(batch.slice(0, wanted));
                cursor.pending = Some(batch.slice(wanted, batch.num_rows() - wanted));
                wanted = 0;
            } else {
                wanted -= batch.num_rows();
                out.push(batch);
            }
        }
        Ok((cursor.schema.clone(), out))
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
