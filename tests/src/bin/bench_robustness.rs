//! `bench-robustness`: the robustness issue's measurements, lakehouse beside
//! the machine's PostgreSQL (127.0.0.1:5432) in one run.
//!
//! 1. Mixed load: `clients` connections (default 64) for `seconds` (default
//!    180) over 4 tables: 60% autocommit single-row INSERTs, 25% reads
//!    (`count(*)`, `max`), 15% short blocks (an INSERT into each of two
//!    tables, COMMIT). Then inserts only: the same clients insert single
//!    rows autocommit into one table. Prints statements/s, acknowledged
//!    rows/s, p50 / p99 latency and errors by SQLSTATE for both servers, and
//!    checks that each table holds exactly the acknowledged rows.
//! 2. Memory budget: a server with `memory_limit = 1GB` runs the query
//!    classes that used to abort the process; prints each outcome and the
//!    server's peak RSS.
//! 3. Spilling: a sort and a hash join over `rows` (default 10,000,000)
//!    generated rows with `memory_limit = 512MB`: seconds, the result checked.
//!
//! Usage: `LAKEHOUSE_BIN=<release binary> cargo run --release -p lakehouse-tests
//! --bin bench-robustness [clients] [seconds] [rows]` (0 seconds skips the
//! loads, 0 rows the memory and spilling runs). PostgreSQL is reached as
//! `PGUSER` (default postgres) on `PGDATABASE` (default test).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use lakehouse_tests::{TestServer, sqlstate};
use tokio::sync::Mutex;
use tokio_postgres::Client;

const TABLES: usize = 4;

/// What one load run measured.
#[derive(Default)]
struct LoadResult {
    statements: usize,
    acknowledged_rows: usize,
    latencies_ms: Vec<f64>,
    /// The same latencies by statement class (insert, read, block).
    by_class: BTreeMap<&'static str, Vec<f64>>,
    errors: BTreeMap<String, usize>,
    /// Rows each table holds minus the rows acknowledged into it.
    discrepancy: i64,
}

impl LoadResult {
    fn percentile(&self, p: f64) -> f64 {
        percentile(&self.latencies_ms, p)
    }
}

fn percentile(latencies_ms: &[f64], p: f64) -> f64 {
    if latencies_ms.is_empty() {
        return f64::NAN;
    }
    let mut sorted = latencies_ms.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted[((sorted.len() - 1) as f64 * p) as usize]
}

/// Which statements a load run sends.
#[derive(Clone, Copy, PartialEq)]
enum Mix {
    /// Inserts, reads and two-table blocks over every table.
    Mixed,
    /// Single-row autocommit INSERTs into one table.
    InsertsOnly,
}

async fn mixed_load(connect: &str, clients: usize, run: Duration, mix: Mix) -> LoadResult {
    let admin = lakehouse_tests::connect(connect).await.expect("connect");
    for t in 0..TABLES {
        admin
            .batch_execute(&format!(
                "DROP TABLE IF EXISTS load_{t}; CREATE TABLE load_{t} (client int, n int)"
            ))
            .await
            .expect("create table");
    }
    let result = Arc::new(Mutex::new(LoadResult::default()));
    let acked: Arc<Mutex<Vec<usize>>> = Arc::new(Mutex::new(vec![0; TABLES]));
    let deadline = Instant::now() + run;
    let mut tasks = Vec::new();
    for client_id in 0..clients {
        let client = lakehouse_tests::connect(connect).await.expect("connect");
        let result = result.clone();
        let acked = acked.clone();
        tasks.push(tokio::spawn(async move {
            let mut n = 0u64;
            while Instant::now() < deadline {
                n += 1;
                let (table, kind) = match mix {
                    Mix::Mixed => (
                        (client_id + n as usize) % TABLES,
                        (n * 7 + client_id as u64) % 20,
                    ),
                    Mix::InsertsOnly => (0, 0),
                };
                let other = (table + 1) % TABLES;
                let started = Instant::now();
                // Rows each statement adds, by table.
                let (class, outcome, rows) = match kind {
                    0..=11 => (
                        "insert",
                        client
                            .execute(
                                &format!("INSERT INTO load_{table} VALUES ($1, $2)"),
                                &[&(client_id as i32), &(n as i32)],
                            )
                            .await
                            .map(|_| ()),
                        vec![table],
                    ),
                    12..=16 => (
                        "read",
                        client
                            .simple_query(&format!("SELECT count(*), max(n) FROM load_{table}"))
                            .await
                            .map(|_| ()),
                        vec![],
                    ),
                    _ => (
                        "block",
                        block(&client, table, other, client_id, n).await,
                        vec![table, other],
                    ),
                };
                let elapsed = started.elapsed().as_secs_f64() * 1000.0;
                let mut r = result.lock().await;
                r.statements += 1;
                r.latencies_ms.push(elapsed);
                r.by_class.entry(class).or_default().push(elapsed);
                match outcome {
                    Ok(()) => {
                        r.acknowledged_rows += rows.len();
                        let mut acked = acked.lock().await;
                        for t in rows {
                            acked[t] += 1;
                        }
                    }
                    Err(e) => *r.errors.entry(sqlstate(&e)).or_default() += 1,
                }
            }
        }));
    }
    for task in tasks {
        let _ = task.await;
    }
    let mut result = std::mem::take(&mut *result.lock().await);
    let acked = acked.lock().await.clone();
    for (t, expected) in acked.iter().enumerate() {
        let row = admin
            .query_one(&format!("SELECT count(*) FROM load_{t}"), &[])
            .await
            .expect("count");
        let held: i64 = row.get(0);
        result.discrepancy += held - *expected as i64;
        let _ = admin
            .batch_execute(&format!("DROP TABLE IF EXISTS load_{t}"))
            .await;
    }
    result
}

/// A short block over two tables: both rows or none.
async fn block(
    client: &Client,
    table: usize,
    other: usize,
    client_id: usize,
    n: u64,
) -> Result<(), tokio_postgres::Error> {
    let sql = format!(
        "BEGIN; INSERT INTO load_{table} VALUES ({client_id}, {n}); \
         INSERT INTO load_{other} VALUES ({client_id}, -{n}); COMMIT"
    );
    let outcome = client.simple_query(&sql).await.map(|_| ());
    if outcome.is_err() {
        let _ = client.simple_query("ROLLBACK").await;
    }
    outcome
}

fn print_load(name: &str, r: &LoadResult, run: Duration) {
    println!(
        "| {name} | {:.0} | {:.0} | {:.1} | {:.1} | {:?} | {} |",
        r.statements as f64 / run.as_secs_f64(),
        r.acknowledged_rows as f64 / run.as_secs_f64(),
        r.percentile(0.5),
        r.percentile(0.99),
        r.errors,
        r.discrepancy
    );
    for (class, latencies) in &r.by_class {
        println!(
            "|   {name}: {class} ({} statements) | p50 {:.1} ms | p99 {:.1} ms | max {:.1} ms |",
            latencies.len(),
            percentile(latencies, 0.5),
            percentile(latencies, 0.99),
            percentile(latencies, 1.0),
        );
    }
}

/// The query classes that used to abort the process, under a 1 GB budget.
const WORST_QUERIES: [&str; 8] = [
    "SELECT length(string_agg(repeat('x', 1000), ',')) FROM generate_series(1, 2000000)",
    // row_number() over the order keeps the sort (a bare ORDER BY under count(*) is dropped).
    "SELECT count(*), max(r) FROM (SELECT row_number() OVER (ORDER BY s) AS r FROM (SELECT repeat('x', 50) || v AS s FROM generate_series(1, 30000000) t(v)) x) q",
    "SELECT count(*) FROM generate_series(1, 20000000) a(x) JOIN generate_series(1, 20000000) b(y) ON x = y",
    "SELECT count(*), max(w) FROM (SELECT sum(v) OVER (ORDER BY v DESC) AS w FROM generate_series(1, 30000000) t(v)) q",
    "SELECT length(repeat('x', 2000000000))",
    "SELECT length(lpad('x', 2000000000))",
    "SELECT cardinality(range(1000000000))",
    "SELECT cardinality(array_repeat(1, 1000000000))",
];

async fn timed(client: &Client, sql: &str) -> (Duration, Result<String, String>) {
    let started = Instant::now();
    let outcome = match client.simple_query(sql).await {
        Ok(messages) => Ok(messages
            .iter()
            .find_map(|m| match m {
                tokio_postgres::SimpleQueryMessage::Row(r) => Some(
                    (0..r.len())
                        .map(|i| r.get(i).unwrap_or("NULL"))
                        .collect::<Vec<_>>()
                        .join(","),
                ),
                _ => None,
            })
            .unwrap_or_default()),
        Err(e) => Err(format!(
            "{} {}",
            sqlstate(&e),
            e.as_db_error().map(|d| d.message()).unwrap_or("")
        )),
    };
    (started.elapsed(), outcome)
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let clients: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(64);
    let seconds: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(180);
    let rows: u64 = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(10_000_000);
    let run = Duration::from_secs(seconds);
    let pg_user = std::env::var("PGUSER").unwrap_or_else(|_| "postgres".into());
    let pg_db = std::env::var("PGDATABASE").unwrap_or_else(|_| "test".into());
    let pg_conn = format!("host=127.0.0.1 port=5432 user={pg_user} dbname={pg_db}");
    println!(
        "bench-robustness: {clients} clients x {seconds} s; lakehouse = {}",
        lakehouse_tests::server_binary().display()
    );

    // 1. Mixed load, both servers (0 seconds skips it).
    if seconds > 0 {
        mixed_load_on_both(clients, run, &pg_conn).await;
    }
    // 2-3. Memory budget and spilling (0 rows skips them).
    if rows > 0 {
        memory_and_spilling(rows, &pg_conn).await;
    }
}

async fn mixed_load_on_both(clients: usize, run: Duration, pg_conn: &str) {
    let server = TestServer::start_with_env(&[("LAKEHOUSE_MAX_CONNECTIONS", "200")]);
    let lh_conn = server.conn_string(
        lakehouse_tests::USER,
        lakehouse_tests::PASSWORD,
        "lakehouse",
    );
    for (mix, name) in [(Mix::Mixed, "mixed"), (Mix::InsertsOnly, "inserts only")] {
        let lh = mixed_load(&lh_conn, clients, run, mix).await;
        let pg = mixed_load(pg_conn, clients, run, mix).await;
        println!();
        println!(
            "| {name}, {clients} clients | statements/s | acknowledged rows/s | p50 ms | p99 ms | errors by SQLSTATE | rows held - rows acknowledged |"
        );
        println!("|---|---|---|---|---|---|---|");
        print_load("lakehouse", &lh, run);
        print_load("PostgreSQL 15", &pg, run);
        println!(
            "lakehouse/PostgreSQL statements/s: {:.2}x",
            lh.statements as f64 / pg.statements.max(1) as f64
        );
    }
}

async fn memory_and_spilling(rows: u64, pg_conn: &str) {
    // 2. The worst query classes under a 1 GB budget.
    let server = TestServer::start_with_env(&[("LAKEHOUSE_MEMORY_LIMIT", "1GB")]);
    let client = server.client().await;
    println!();
    println!("| query (memory_limit = 1GB) | seconds | outcome |");
    println!("|---|---|---|");
    for sql in WORST_QUERIES {
        let (elapsed, outcome) = timed(&client, sql).await;
        println!("| `{sql}` | {:.2} | {outcome:?} |", elapsed.as_secs_f64());
    }
    let rss = server
        .pid()
        .map(lakehouse_tests::peak_rss_mb)
        .unwrap_or(f64::NAN);
    println!("server peak RSS over these queries: {rss:.0} MB (budget 1024 MB)");
    drop(server);

    // 3. Sort and hash join over `rows` rows with 512 MB, beside PostgreSQL.
    let server = TestServer::start_with_env(&[("LAKEHOUSE_MEMORY_LIMIT", "512MB")]);
    let client = server.client().await;
    let pg = lakehouse_tests::connect(pg_conn)
        .await
        .expect("connect to PostgreSQL");
    // The rank of every row is used, so the sort cannot be skipped.
    let sort = format!(
        "SELECT count(*), sum(r % 1000) FROM (SELECT row_number() OVER (ORDER BY md5(v::text)) AS r FROM generate_series(1, {rows}) t(v)) q"
    );
    let join = format!(
        "SELECT count(*), sum(a.x) FROM generate_series(1, {rows}) a(x) JOIN (SELECT v * 2 AS y FROM generate_series(1, {rows}) t(v)) b ON a.x = b.y"
    );
    println!();
    println!("| {rows} rows, memory_limit = 512MB | lakehouse s | PostgreSQL s | same result |");
    println!("|---|---|---|---|");
    for (name, sql) in [("sort (ORDER BY md5 text)", &sort), ("hash join", &join)] {
        let (lt, lo) = timed(&client, sql).await;
        let (pt, po) = timed(&pg, sql).await;
        println!(
            "| {name} | {:.2} ({lo:?}) | {:.2} | {} |",
            lt.as_secs_f64(),
            pt.as_secs_f64(),
            lo.is_ok() && lo == po
        );
    }
    let rss = server
        .pid()
        .map(lakehouse_tests::peak_rss_mb)
        .unwrap_or(f64::NAN);
    println!("server peak RSS: {rss:.0} MB (budget 512 MB)");
}
