//! `bench-core`: the core issue's measurements, lakehouse beside the machine's
//! PostgreSQL (127.0.0.1:5432) in one run.
//!
//! 1. Ingest a generated CSV (default 1,000,000 rows x 10 columns) with
//!    `ingest_csv`: seconds, rows/s, server peak RSS; PostgreSQL `COPY FROM STDIN`
//!    of the same file as the peer.
//! 2. Stream every row to a tokio-postgres client: `COPY (SELECT ...) TO STDOUT`,
//!    a text-format simple query and a binary-format extended query; best of 3.
//! 3. Writes as drivers make them: 2,000 prepared single-row INSERTs in one
//!    transaction block then COMMIT, 200 autocommitted ones (each its own
//!    commit), and a binary `COPY FROM STDIN` (asyncpg's bulk path) of the
//!    row count in 3 columns.
//!
//! Usage: `LAKEHOUSE_BIN=<release binary> cargo run --release -p lakehouse-tests --bin bench-core [rows]`
//! (see README). PostgreSQL is reached as `PGUSER` (default postgres) on database
//! `PGDATABASE` (default test).

use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt};
use lakehouse_tests::TestServer;
use tokio_postgres::{Client, SimpleQueryMessage};

const COLUMNS_DDL: &str = "id BIGINT, name TEXT, city TEXT, amount DOUBLE PRECISION, qty BIGINT, \
    active BOOLEAN, day DATE, ts TIMESTAMP, code TEXT, note TEXT";

fn generate_csv(rows: usize) -> String {
    let cities = ["Boston", "Denver", "Austin", "Seattle", "Miami", "Chicago"];
    let mut out = String::with_capacity(rows * 110);
    out.push_str("id,name,city,amount,qty,active,day,ts,code,note\n");
    for i in 0..rows {
        out.push_str(&format!(
            "{i},name {i},{},{}.{:02},{},{},2024-{:02}-{:02},2024-{:02}-{:02} {:02}:{:02}:{:02},{:05},\"note, {}\"\n",
            cities[i % cities.len()],
            i % 10_000,
            i % 100,
            i % 500,
            if i % 3 == 0 { "true" } else { "false" },
            i % 12 + 1,
            i % 28 + 1,
            i % 12 + 1,
            i % 28 + 1,
            i % 24,
            i % 60,
            (i * 7) % 60,
            i % 100_000,
            i % 997
        ));
    }
    out
}

async fn copy_out(client: &Client) -> usize {
    let stream = client
        .copy_out("COPY (SELECT * FROM bench) TO STDOUT")
        .await
        .expect("copy out");
    futures::pin_mut!(stream);
    let mut lines = 0;
    while let Some(chunk) = stream.try_next().await.expect("copy data") {
        lines += chunk.iter().filter(|b| **b == b'\n').count();
    }
    lines
}

async fn select_text(client: &Client) -> usize {
    let stream = client
        .simple_query_raw("SELECT * FROM bench")
        .await
        .expect("simple query");
    futures::pin_mut!(stream);
    let mut rows = 0;
    while let Some(message) = stream.next().await {
        if let SimpleQueryMessage::Row(_) = message.expect("row") {
            rows += 1;
        }
    }
    rows
}

async fn select_binary(client: &Client) -> usize {
    let stream = client
        .query_raw("SELECT * FROM bench", std::iter::empty::<i32>())
        .await
        .expect("query");
    futures::pin_mut!(stream);
    let mut rows = 0;
    while let Some(row) = stream.next().await {
        let row = row.expect("row");
        let _: i64 = row.get(0);
        rows += 1;
    }
    rows
}

/// The streaming cases, each timed on both servers.
const CASES: [&str; 3] = [
    "COPY (SELECT *) TO STDOUT",
    "SELECT * text (simple query)",
    "SELECT * binary (extended query)",
];

/// `n` prepared single-row INSERTs into a fresh `bench_tx`, in one block
/// (then COMMIT) or each committed on its own; the rows the table then has.
async fn timed_inserts(client: &Client, n: i64, block: bool) -> (Duration, i64) {
    client
        .batch_execute(
            "DROP TABLE IF EXISTS bench_tx; CREATE TABLE bench_tx (id BIGINT, name TEXT)",
        )
        .await
        .expect("bench_tx");
    let insert = client
        .prepare("INSERT INTO bench_tx VALUES ($1, $2)")
        .await
        .expect("prepare insert");
    let started = Instant::now();
    if block {
        client.batch_execute("BEGIN").await.expect("begin");
    }
    for i in 0..n {
        client
            .execute(&insert, &[&i, &format!("name {i}")])
            .await
            .expect("insert");
    }
    if block {
        client.batch_execute("COMMIT").await.expect("commit");
    }
    let elapsed = started.elapsed();
    (elapsed, count_and_drop(client, "bench_tx").await)
}

/// A binary `COPY FROM STDIN` of `rows` rows into a fresh `bench_bin`.
async fn timed_binary_copy(client: &Client, rows: usize) -> (Duration, i64) {
    use tokio_postgres::binary_copy::BinaryCopyInWriter;
    use tokio_postgres::types::Type;
    client
        .batch_execute(
            "DROP TABLE IF EXISTS bench_bin; \
             CREATE TABLE bench_bin (id BIGINT, name TEXT, amount DOUBLE PRECISION)",
        )
        .await
        .expect("bench_bin");
    let started = Instant::now();
    let sink = client
        .copy_in("COPY bench_bin FROM STDIN (FORMAT binary)")
        .await
        .expect("copy in");
    let writer = BinaryCopyInWriter::new(sink, &[Type::INT8, Type::TEXT, Type::FLOAT8]);
    futures::pin_mut!(writer);
    for i in 0..rows as i64 {
        let name = format!("name {i}");
        let amount = i as f64 * 0.5;
        writer
            .as_mut()
            .write(&[&i, &name, &amount])
            .await
            .expect("copy row");
    }
    writer.finish().await.expect("copy finish");
    let elapsed = started.elapsed();
    (elapsed, count_and_drop(client, "bench_bin").await)
}

/// The rows `table` holds; then drops it.
async fn count_and_drop(client: &Client, table: &str) -> i64 {
    let count: i64 = client
        .query_one(&format!("SELECT count(*) FROM {table}"), &[])
        .await
        .expect("count")
        .get(0);
    client
        .batch_execute(&format!("DROP TABLE {table}"))
        .await
        .ok();
    count
}

/// One row of the results table.
fn print_row(what: &str, rows: f64, lakehouse: Duration, postgres: Duration) {
    println!(
        "| {what} | {:.2} s ({:.0} rows/s) | {:.2} s ({:.0} rows/s) | {:.2}x |",
        lakehouse.as_secs_f64(),
        rows / lakehouse.as_secs_f64(),
        postgres.as_secs_f64(),
        rows / postgres.as_secs_f64(),
        lakehouse.as_secs_f64() / postgres.as_secs_f64()
    );
}

async fn run_case(client: &Client, case: usize) -> usize {
    match case {
        0 => copy_out(client).await,
        1 => select_text(client).await,
        _ => select_binary(client).await,
    }
}

/// Best of `n` runs, with the row count seen.
async fn best_of(n: usize, client: &Client, case: usize) -> (Duration, usize) {
    let mut best = Duration::MAX;
    let mut rows = 0;
    for _ in 0..n {
        let started = Instant::now();
        rows = run_case(client, case).await;
        best = best.min(started.elapsed());
    }
    (best, rows)
}

#[tokio::main]
async fn main() {
    let rows: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let pg_user = std::env::var("PGUSER").unwrap_or_else(|_| "postgres".into());
    let pg_db = std::env::var("PGDATABASE").unwrap_or_else(|_| "test".into());
    let pg_conn = format!("host=127.0.0.1 port=5432 user={pg_user} dbname={pg_db}");

    println!(
        "bench-core: {rows} rows x 10 columns; lakehouse = {}",
        lakehouse_tests::server_binary().display()
    );
    let server = TestServer::start();
    let csv = generate_csv(rows);
    let csv_path = server.write_file("bench.csv", &csv);
    println!(
        "csv: {:.1} MB at {}",
        csv.len() as f64 / 1e6,
        csv_path.display()
    );

    // 1. Ingest.
    let lh = server.client().await;
    let started = Instant::now();
    let summary = lh
        .simple_query("SELECT rows, status FROM ingest_csv('bench.csv', 'bench')")
        .await
        .expect("ingest");
    let lh_ingest = started.elapsed();
    if let Some(SimpleQueryMessage::Row(r)) = summary.first() {
        assert_eq!(r.get(0), Some(rows.to_string().as_str()), "ingested rows");
    }
    let rss = server
        .pid()
        .map(lakehouse_tests::peak_rss_mb)
        .unwrap_or(f64::NAN);

    let pg = lakehouse_tests::connect(&pg_conn)
        .await
        .expect("connect to PostgreSQL");
    pg.batch_execute(&format!(
        "DROP TABLE IF EXISTS bench; CREATE TABLE bench ({COLUMNS_DDL})"
    ))
    .await
    .expect("postgres table");
    let started = Instant::now();
    lakehouse_tests::copy_in(
        &pg,
        "COPY bench FROM STDIN WITH (FORMAT csv, HEADER true)",
        csv.as_bytes(),
    )
    .await
    .expect("copy into PostgreSQL");
    let pg_ingest = started.elapsed();
    pg.batch_execute("ANALYZE bench").await.expect("analyze");

    println!();
    println!("| measurement | lakehouse | PostgreSQL | lakehouse/PostgreSQL |");
    println!("|---|---|---|---|");
    println!(
        "| load {rows} rows (ingest_csv vs COPY FROM STDIN) | {:.2} s ({:.0} rows/s, server peak RSS {:.0} MB) | {:.2} s ({:.0} rows/s) | {:.2}x |",
        lh_ingest.as_secs_f64(),
        rows as f64 / lh_ingest.as_secs_f64(),
        rss,
        pg_ingest.as_secs_f64(),
        rows as f64 / pg_ingest.as_secs_f64(),
        lh_ingest.as_secs_f64() / pg_ingest.as_secs_f64()
    );

    // 2. Streaming to a client.
    for (case, name) in CASES.iter().enumerate() {
        let (lt, lrows) = best_of(3, &lh, case).await;
        let (pt, prows) = best_of(3, &pg, case).await;
        assert_eq!(lrows, rows, "lakehouse streamed all rows");
        assert_eq!(prows, rows, "PostgreSQL streamed all rows");
        println!(
            "| stream {rows} rows: {name} | {:.2} s ({:.0} rows/s) | {:.2} s ({:.0} rows/s) | {:.2}x |",
            lt.as_secs_f64(),
            rows as f64 / lt.as_secs_f64(),
            pt.as_secs_f64(),
            rows as f64 / pt.as_secs_f64(),
            lt.as_secs_f64() / pt.as_secs_f64()
        );
    }
    pg.batch_execute("DROP TABLE IF EXISTS bench").await.ok();

    // 3. Writes as drivers make them.
    for (n, block, what) in [
        (2_000, true, "2000 INSERTs in one block + COMMIT"),
        (200, false, "200 INSERTs, autocommit"),
    ] {
        let (lt, lrows) = timed_inserts(&lh, n, block).await;
        let (pt, prows) = timed_inserts(&pg, n, block).await;
        assert_eq!((lrows, prows), (n, n), "every INSERT landed");
        print_row(what, n as f64, lt, pt);
    }
    let (lt, lrows) = timed_binary_copy(&lh, rows).await;
    let (pt, prows) = timed_binary_copy(&pg, rows).await;
    assert_eq!(
        (lrows, prows),
        (rows as i64, rows as i64),
        "every copied row landed"
    );
    print_row(
        &format!("binary COPY FROM STDIN, {rows} rows x 3 columns"),
        rows as f64,
        lt,
        pt,
    );
}
