//! Concurrent writers are told the truth: every acknowledged row is in the
//! table, no failed statement leaves rows behind, and blind appends never
//! fail for racing each other (no 58030).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use lakehouse_tests::{TestServer, simple_rows, sqlstate};
use tokio::sync::Mutex;

/// How long the writers run.
const RUN: Duration = Duration::from_secs(30);
const WRITERS: usize = 32;
const READERS: usize = 4;

#[tokio::test]
async fn concurrent_appends_are_all_acknowledged_and_all_kept() {
    let server = TestServer::start();
    let admin = server.client().await;
    admin
        .simple_query(
            "CREATE TABLE appends (writer int, n int); CREATE TABLE block_rows (writer int, n int)",
        )
        .await
        .unwrap();
    let errors: Arc<Mutex<BTreeMap<String, usize>>> = Arc::default();
    let deadline = Instant::now() + RUN;
    let mut tasks = Vec::new();
    for writer in 0..WRITERS {
        let client = server.client().await;
        let errors = errors.clone();
        tasks.push(tokio::spawn(async move {
            // Each writer remembers which of its rows were acknowledged and
            // which failed: both must match the table exactly.
            let (mut acked, mut failed) = (Vec::new(), Vec::new());
            let mut n = 0i32;
            while Instant::now() < deadline {
                n += 1;
                let result = if n % 5 == 0 {
                    // A short block over two tables: both rows or neither.
                    client
                        .simple_query(&format!(
                            "BEGIN; INSERT INTO appends VALUES ({writer}, {n}); \
                             INSERT INTO block_rows VALUES ({writer}, {}); COMMIT",
                            -n
                        ))
                        .await
                        .map(|_| ())
                } else {
                    client
                        .execute(
                            "INSERT INTO appends VALUES ($1, $2)",
                            &[&(writer as i32), &n],
                        )
                        .await
                        .map(|_| ())
                };
                match result {
                    Ok(()) => acked.push(n),
                    Err(e) => {
                        *errors.lock().await.entry(sqlstate(&e)).or_default() += 1;
                        failed.push(n);
                        // A failed block leaves the session in it: end it.
                        let _ = client.simple_query("ROLLBACK").await;
                    }
                }
            }
            (writer, acked, failed)
        }));
    }
    for _ in 0..READERS {
        let client = server.client().await;
        tasks.push(tokio::spawn(async move {
            while Instant::now() < deadline {
                client
                    .simple_query(
                        "SELECT count(*), max(n) FROM appends UNION ALL \
                         SELECT count(*), max(n) FROM block_rows",
                    )
                    .await
                    .expect("reads never fail");
            }
            (usize::MAX, Vec::new(), Vec::new())
        }));
    }
    let mut acknowledged = 0usize;
    let mut expected: Vec<(i32, i32)> = Vec::new();
    let mut refused: Vec<(i32, i32)> = Vec::new();
    for task in tasks {
        let (writer, acked, failed) = task.await.unwrap();
        if writer == usize::MAX {
            continue;
        }
        for n in acked {
            expected.push((writer as i32, n));
            acknowledged += 1;
            if n % 5 == 0 {
                expected.push((writer as i32, -n));
            }
        }
        refused.extend(failed.into_iter().map(|n| (writer as i32, n)));
    }
    let errors = errors.lock().await.clone();
    assert!(
        !errors.contains_key("58030"),
        "appends failed with 58030: {errors:?}"
    );
    let mut rows: Vec<(i32, i32)> = admin
        .query(
            "SELECT writer, n FROM appends UNION ALL SELECT writer, n FROM block_rows",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    rows.sort_unstable();
    expected.sort_unstable();
    // A refused block leaves neither of its rows (its second is -n).
    let leftovers: Vec<_> = refused
        .iter()
        .filter(|(w, n)| {
            rows.binary_search(&(*w, *n)).is_ok() || rows.binary_search(&(*w, -*n)).is_ok()
        })
        .collect();
    assert!(
        leftovers.is_empty(),
        "{} statements reported an error but their rows are in the table: {:?}",
        leftovers.len(),
        &leftovers[..leftovers.len().min(10)]
    );
    assert_eq!(rows.len(), expected.len(), "errors: {errors:?}");
    assert_eq!(rows, expected);
    println!(
        "{acknowledged} statements acknowledged in {RUN:?} by {WRITERS} writers; errors {errors:?}"
    );
    assert!(acknowledged > 0);
    assert_eq!(
        simple_rows(&admin, "SELECT 1").await.unwrap(),
        vec![vec!["1"]]
    );
}

#[tokio::test]
async fn a_block_that_cannot_write_every_table_commits_none() {
    let server = TestServer::start();
    let s1 = server.client().await;
    let s2 = server.client().await;
    s1.simple_query("CREATE TABLE first_t (x int); CREATE TABLE second_t (y int)")
        .await
        .unwrap();
    s1.simple_query("BEGIN; INSERT INTO first_t VALUES (1); INSERT INTO second_t VALUES (2)")
        .await
        .unwrap();
    // Meanwhile the second table becomes one the block's rows do not fit.
    s2.simple_query("DROP TABLE second_t; CREATE TABLE second_t (a text, b text, c text)")
        .await
        .unwrap();
    let err = s1
        .simple_query("COMMIT")
        .await
        .expect_err("second_t changed");
    assert!(!sqlstate(&err).is_empty(), "{err:?}");
    // Neither table has the block's rows, and no file of it is left.
    assert_eq!(
        simple_rows(&s2, "SELECT count(*) FROM first_t")
            .await
            .unwrap(),
        vec![vec!["0"]]
    );
    assert_eq!(
        simple_rows(&s2, "SELECT count(*) FROM second_t")
            .await
            .unwrap(),
        vec![vec!["0"]]
    );
    let table = server.data_dir.join("tables/public/first_t");
    let files = std::fs::read_dir(&table)
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.path().extension().is_some_and(|x| x == "parquet"))
        .count();
    assert_eq!(files, 0, "the block's files of first_t were removed");
    assert_eq!(simple_rows(&s1, "SELECT 1").await.unwrap(), vec![vec!["1"]]);
}
