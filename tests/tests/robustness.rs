//! No statement takes the server down: huge values, memory-hungry queries,
//! driver row limits, engine settings, hostile bytes before login, login
//! floods. Each test checks the answer a client gets and that the server
//! keeps serving afterwards.

use std::time::{Duration, Instant};

use lakehouse_tests::{PASSWORD, TestServer, USER, simple_rows, sqlstate};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// SQLSTATEs a hostile statement may end with: out of memory, value too
/// large, stack depth, a data error, a cancel or timeout, or a plan error.
fn acceptable_failure(code: &str) -> bool {
    matches!(
        code,
        "53200" | "54000" | "54001" | "57014" | "0A000" | "42883" | "42804"
    ) || code.starts_with("22")
}

/// A small deterministic generator (no extra dependency, same cases every run).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[(self.next() as usize) % items.len()]
    }
}

/// Statements from the classes that aborted the process: values sized by a
/// count, aggregates and sorts past the memory budget, deep nesting.
fn hostile_statements(count: usize) -> Vec<String> {
    let mut rng = Lcg(16);
    // Refused sizes (past 1 GB) and allowed ones (cheap to build).
    let huge = ["2000000000", "1000000000", "2147483647", "300000000000"];
    let small = ["0", "1", "7", "1000", "-5"];
    let mut out = Vec::with_capacity(count);
    while out.len() < count {
        let n = if rng.next().is_multiple_of(3) {
            *rng.pick(&small)
        } else {
            *rng.pick(&huge)
        };
        let statement = match rng.next() % 12 {
            0 => format!("SELECT length(repeat('xy', {n}))"),
            1 => format!("SELECT length(lpad('x', {n}))"),
            2 => format!("SELECT length(rpad('x', {n}, 'ab'))"),
            3 => format!("SELECT cardinality(array_repeat(1, {n}))"),
            4 => format!("SELECT cardinality(range({n}))"),
            5 => format!("SELECT cardinality(generate_series(1, {n}))"),
            6 => format!(
                "SELECT cardinality(range(TIMESTAMP '2000-01-01', TIMESTAMP '2000-01-01' + INTERVAL '{n} seconds', INTERVAL '1 second'))"
            ),
            7 => format!(
                "SELECT length(repeat(repeat('x', 1000), v)) FROM unnest(range({})) t(v)",
                n.len() * 300
            ),
            8 => format!("SELECT cardinality(array_resize([1, 2], {n}))"),
            9 => {
                "SELECT length(string_agg(repeat('x', 2000), ',')) FROM generate_series(1, 400000)"
                    .to_string()
            }
            10 => format!("SELECT CAST({n} AS date)"),
            _ => {
                let depth = 20 + (rng.next() % 400) as usize;
                format!("SELECT {}1{}", "(".repeat(depth), ")".repeat(depth))
            }
        };
        out.push(statement);
    }
    out
}

#[tokio::test]
async fn hostile_statements_get_an_answer_and_the_server_stays_up() {
    let server = TestServer::start_with_env(&[("LAKEHOUSE_MEMORY_LIMIT", "256MB")]);
    let c = server.client().await;
    let statements = hostile_statements(300);
    let (mut ok, mut failed) = (0, 0);
    for sql in &statements {
        match c.simple_query(sql).await {
            Ok(_) => ok += 1,
            Err(e) => {
                let code = sqlstate(&e);
                assert!(acceptable_failure(&code), "{sql}: {code} {e:?}");
                failed += 1;
            }
        }
    }
    assert!(ok > 0 && failed > 0, "ok {ok}, failed {failed}");
    // The session and new sessions still work.
    assert_eq!(simple_rows(&c, "SELECT 1").await.unwrap(), vec![vec!["1"]]);
    let fresh = server.client().await;
    assert_eq!(
        simple_rows(&fresh, "SELECT 2").await.unwrap(),
        vec![vec!["2"]]
    );
}

#[tokio::test]
async fn values_past_one_gigabyte_are_refused_with_54000() {
    let server = TestServer::start();
    let c = server.client().await;
    for sql in [
        "SELECT repeat('x', 2000000000)",
        "SELECT lpad('x', 2000000000)",
        "SELECT array_repeat(1, 1000000000)",
        "SELECT range(1000000000)",
        "SELECT range(TIMESTAMP '2000-01-01', TIMESTAMP '2100-01-01', INTERVAL '1 second')",
    ] {
        let err = c.simple_query(sql).await.expect_err(sql);
        assert_eq!(sqlstate(&err), "54000", "{sql}: {err:?}");
        let message = err.as_db_error().map(|d| d.message().to_string());
        assert!(
            message.as_deref().is_some_and(|m| m.contains("1 GB")),
            "{sql}: {message:?}"
        );
    }
    assert_eq!(
        simple_rows(&c, "SELECT repeat('ab', 3)").await.unwrap(),
        vec![vec!["ababab"]]
    );
}

#[tokio::test]
async fn a_query_past_the_memory_budget_spills_or_fails_with_53200() {
    let server = TestServer::start_with_env(&[("LAKEHOUSE_MEMORY_LIMIT", "128MB")]);
    let c = server.client().await;
    // One growing value cannot spill: 53200 naming the budget.
    let err = c
        .simple_query(
            "SELECT length(string_agg(repeat('x', 1000), ',')) FROM generate_series(1, 400000)",
        )
        .await
        .expect_err("string_agg of 400 MB under 128 MB");
    assert_eq!(sqlstate(&err), "53200", "{err:?}");
    let message = err
        .as_db_error()
        .map(|d| d.message().to_string())
        .unwrap_or_default();
    assert!(message.contains("memory_limit (128 MB)"), "{message}");
    // Right after it, a query needing the whole budget finds it free: ~300
    // MB of sort input (its ranks used, so the sort stays) spills to disk,
    // finishes, and is right.
    let rows = simple_rows(
        &c,
        "SELECT count(*), min(r), max(r) FROM (SELECT row_number() OVER (ORDER BY s DESC) AS r \
         FROM (SELECT repeat('x', 100) || v AS s FROM generate_series(1, 2000000) t(v)) x) q",
    )
    .await
    .unwrap();
    assert_eq!(rows, vec![vec!["2000000", "1", "2000000"]]);
    assert_eq!(simple_rows(&c, "SELECT 1").await.unwrap(), vec![vec!["1"]]);
}

#[tokio::test]
async fn a_drivers_row_limit_sizes_nothing() {
    let server = TestServer::start();
    let mut c = server.client().await;
    let tx = c.transaction().await.unwrap();
    let statement = tx
        .prepare("SELECT v FROM generate_series(1, 5) t(v) ORDER BY v")
        .await
        .unwrap();
    // pgjdbc's setMaxRows(Integer.MAX_VALUE) sends this Execute.
    let portal = tx.bind(&statement, &[]).await.unwrap();
    let rows = tx.query_portal(&portal, i32::MAX).await.unwrap();
    assert_eq!(rows.len(), 5);
    // A small limit suspends the portal; the next Execute goes on from there.
    let portal = tx.bind(&statement, &[]).await.unwrap();
    let first: Vec<i64> = tx
        .query_portal(&portal, 2)
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let rest: Vec<i64> = tx
        .query_portal(&portal, 0)
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(first, vec![1, 2]);
    assert_eq!(rest, vec![3, 4, 5]);
    tx.commit().await.unwrap();
}

#[tokio::test]
async fn engine_settings_are_bounded_and_reset_all_restores_them() {
    let server = TestServer::start();
    let c = server.client().await;
    let err = c
        .simple_query("SET datafusion.execution.target_partitions = 100000")
        .await
        .expect_err("too many partitions");
    assert_eq!(sqlstate(&err), "22023", "{err:?}");
    let err = c
        .simple_query("SET datafusion.runtime.memory_limit = '100G'")
        .await
        .expect_err("the budget is the server's");
    assert_eq!(sqlstate(&err), "42501", "{err:?}");
    c.simple_query("SET datafusion.execution.target_partitions = 3")
        .await
        .unwrap();
    let explain = "EXPLAIN SELECT v % 10, count(*) FROM generate_series(1, 100000) t(v) GROUP BY 1";
    let text = plan_text(&c, explain).await;
    assert!(
        text.contains("RoundRobinBatch(3)") || text.contains("Hash([") && text.contains(", 3)"),
        "{text}"
    );
    c.simple_query("RESET ALL").await.unwrap();
    let text = plan_text(&c, explain).await;
    assert!(
        !text.contains("RoundRobinBatch(3)") && !text.contains(", 3)"),
        "{text}"
    );
}

async fn plan_text(c: &tokio_postgres::Client, sql: &str) -> String {
    simple_rows(c, sql)
        .await
        .unwrap()
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test]
async fn a_date_out_of_range_is_an_error_not_a_lost_session() {
    let server = TestServer::start();
    let c = server.client().await;
    let err = c
        .simple_query("SELECT CAST(2147483647 AS date)")
        .await
        .expect_err("out of range");
    assert!(sqlstate(&err).starts_with("22"), "{err:?}");
    assert_eq!(simple_rows(&c, "SELECT 1").await.unwrap(), vec![vec!["1"]]);
}

/// Sends a startup packet for `user` and returns the first message's type
/// byte and, for an authentication request, its code.
async fn first_answer_to_startup(port: u16, user: &str) -> (u8, i32) {
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let mut body = Vec::new();
    body.extend_from_slice(&196608i32.to_be_bytes());
    for (k, v) in [("user", user), ("database", "lakehouse")] {
        body.extend_from_slice(k.as_bytes());
        body.push(0);
        body.extend_from_slice(v.as_bytes());
        body.push(0);
    }
    body.push(0);
    let mut packet = ((body.len() + 4) as i32).to_be_bytes().to_vec();
    packet.extend_from_slice(&body);
    s.write_all(&packet).await.unwrap();
    let mut head = [0u8; 9];
    tokio::time::timeout(Duration::from_secs(10), s.read_exact(&mut head))
        .await
        .expect("an answer")
        .expect("bytes");
    let code = i32::from_be_bytes([head[5], head[6], head[7], head[8]]);
    (head[0], code)
}

#[tokio::test]
async fn unknown_users_are_challenged_like_known_ones() {
    let server = TestServer::start();
    let known = first_answer_to_startup(server.port, USER).await;
    let unknown = first_answer_to_startup(server.port, "nobody").await;
    // 'R' with code 10: AuthenticationSASL, for both.
    assert_eq!(known, (b'R', 10));
    assert_eq!(unknown, known);
    let err = server
        .try_client("nobody", "x", "lakehouse")
        .await
        .expect_err("unknown");
    assert_eq!(sqlstate(&err), "28P01");
    let message = err
        .as_db_error()
        .map(|d| d.message().to_string())
        .unwrap_or_default();
    assert_eq!(
        message,
        "password authentication failed for user \"nobody\""
    );
}

#[tokio::test]
async fn repeated_failed_logins_from_one_address_are_slowed() {
    let server = TestServer::start();
    let mut last = Duration::ZERO;
    for _ in 0..6 {
        let started = Instant::now();
        let err = server
            .try_client(USER, "wrong", "lakehouse")
            .await
            .expect_err("wrong password");
        assert_eq!(sqlstate(&err), "28P01");
        last = started.elapsed();
    }
    assert!(
        last >= Duration::from_millis(400),
        "sixth failure took {last:?}"
    );
    // The right password still gets in, and forgets the failures.
    let c = server.client().await;
    assert_eq!(simple_rows(&c, "SELECT 1").await.unwrap(), vec![vec!["1"]]);
}

#[tokio::test]
async fn max_connections_refuses_one_more_with_53300() {
    let server = TestServer::start_with_env(&[("LAKEHOUSE_MAX_CONNECTIONS", "3")]);
    let a = server.client().await;
    let _b = server.client().await;
    let _c = server.client().await;
    let err = server
        .try_client(USER, PASSWORD, "lakehouse")
        .await
        .expect_err("a fourth connection");
    assert_eq!(sqlstate(&err), "53300", "{err:?}");
    drop(a);
    // The slot comes back once the server sees the connection close.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match server.try_client(USER, PASSWORD, "lakehouse").await {
            Ok(c) => {
                assert_eq!(simple_rows(&c, "SELECT 1").await.unwrap(), vec![vec!["1"]]);
                break;
            }
            Err(e) if Instant::now() < deadline && sqlstate(&e) == "53300" => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("{e:?}"),
        }
    }
}

#[tokio::test]
async fn the_data_directory_is_private_even_under_an_import_root() {
    // An import root that holds the data directory (the default layout:
    // the working directory holds ./lakehouse-data).
    let parent = std::env::temp_dir();
    let server = TestServer::start_with_env(&[(
        "LAKEHOUSE_IMPORT_ROOTS",
        parent.to_str().unwrap_or("/tmp"),
    )]);
    let c = server.client().await;
    let roles = server.data_dir.join("system/roles.json");
    let err = c
        .simple_query(&format!(
            "SELECT * FROM ingest_csv('{}', 'stolen')",
            roles.display()
        ))
        .await
        .expect_err("the role store is not an import");
    assert_eq!(sqlstate(&err), "42501", "{err:?}");
    // Files the server writes are its own.
    c.simple_query("CREATE TABLE t AS SELECT 1 AS x")
        .await
        .unwrap();
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&server.data_dir), 0o700);
    assert_eq!(mode(&roles), 0o600);
    let table = server.data_dir.join("tables/public/t");
    let parquet = std::fs::read_dir(&table)
        .unwrap()
        .filter_map(Result::ok)
        .find(|e| e.path().extension().is_some_and(|x| x == "parquet"))
        .expect("a data file");
    assert_eq!(mode(&parquet.path()), 0o600);
}

#[tokio::test]
async fn hostile_bytes_before_login_do_not_hurt_the_server() {
    let server = TestServer::start();
    let mut rng = Lcg(7);
    let mut payloads: Vec<Vec<u8>> = vec![
        // A length that claims 2 GB, then nothing.
        vec![0x7f, 0xff, 0xff, 0xff, 0x00, 0x03, 0x00, 0x00],
        // A startup packet cut in the middle of a parameter.
        b"\x00\x00\x00\x20\x00\x03\x00\x00user\x00lakeho".to_vec(),
        // SSL request, then garbage.
        b"\x00\x00\x00\x08\x04\xd2\x16\x2f\xff\xff\xff\xff".to_vec(),
        // Cancel request with a bogus key.
        b"\x00\x00\x00\x10\x04\xd2\x16\x2e\x00\x00\x00\x01\x00\x00\x00\x02".to_vec(),
        // A negative length.
        vec![0x80, 0, 0, 0, 0, 3, 0, 0],
    ];
    for _ in 0..150 {
        let len = (rng.next() % 64) as usize;
        payloads.push((0..len).map(|_| rng.next() as u8).collect());
    }
    // A valid startup followed by a garbage SASL response.
    let mut startup = Vec::new();
    startup.extend_from_slice(&196608i32.to_be_bytes());
    startup.extend_from_slice(b"user\0lakehouse\0database\0lakehouse\0\0");
    let mut packet = ((startup.len() + 4) as i32).to_be_bytes().to_vec();
    packet.extend_from_slice(&startup);
    for tail in [
        &b"p\x00\x00\x00\x05\x00"[..],
        &b"p\x7f\xff\xff\xffSCRAM"[..],
        &b"p\x00\x00\x00\x20SCRAM-SHA-256\x00\xff\xff\xff\xffn,,n=,r=abc"[..],
        &b"p\x00\x00\x00\x30SCRAM-SHA-256\x00\x00\x00\x00\x10n,,n=,r=abc\x00\x00\x00\x00"[..],
    ] {
        let mut p = packet.clone();
        p.extend_from_slice(tail);
        payloads.push(p);
    }
    for payload in &payloads {
        let mut s = tokio::net::TcpStream::connect(("127.0.0.1", server.port))
            .await
            .unwrap();
        let _ = s.write_all(payload).await;
        let _ = s.shutdown().await;
        let mut buf = [0u8; 512];
        let _ = tokio::time::timeout(Duration::from_secs(2), s.read(&mut buf)).await;
    }
    let c = server.client().await;
    assert_eq!(simple_rows(&c, "SELECT 1").await.unwrap(), vec![vec!["1"]]);
}

/// Statements that used to run on for seconds after a cancel request.
const LONG_STATEMENTS: [&str; 3] = [
    "SELECT count(*) FROM generate_series(TIMESTAMP '2000-01-01', TIMESTAMP '2100-01-01', INTERVAL '1 second')",
    "SELECT count(*) FROM generate_series(1, 100000000000) WHERE value % 7 = 3",
    "SELECT count(*) FROM (SELECT v FROM generate_series(1, 1000000000) t(v) ORDER BY v DESC) q",
];

#[tokio::test]
async fn cancel_stops_each_long_statement_within_two_seconds() {
    let server = TestServer::start();
    let c = server.client().await;
    for sql in LONG_STATEMENTS {
        let token = c.cancel_token();
        let canceller = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(500)).await;
            let sent = Instant::now();
            token
                .cancel_query(tokio_postgres::NoTls)
                .await
                .map(|_| sent)
        });
        let err = c.simple_query(sql).await.expect_err(sql);
        let stopped = Instant::now();
        assert_eq!(sqlstate(&err), "57014", "{sql}: {err:?}");
        let sent = canceller.await.unwrap().unwrap();
        assert!(
            stopped - sent < Duration::from_secs(2),
            "{sql}: {:?}",
            stopped - sent
        );
    }
    assert_eq!(simple_rows(&c, "SELECT 1").await.unwrap(), vec![vec!["1"]]);
}

#[tokio::test]
async fn statement_timeout_stops_a_long_query() {
    let server = TestServer::start();
    let c = server.client().await;
    let err = c
        .simple_query("SET statement_timeout = 'soon'")
        .await
        .expect_err("not a duration");
    assert_eq!(sqlstate(&err), "22023");
    c.simple_query("SET statement_timeout = '700ms'")
        .await
        .unwrap();
    let started = Instant::now();
    let err = c
        .simple_query(LONG_STATEMENTS[0])
        .await
        .expect_err("timeout");
    assert_eq!(sqlstate(&err), "57014", "{err:?}");
    let message = err
        .as_db_error()
        .map(|d| d.message().to_string())
        .unwrap_or_default();
    assert_eq!(message, "canceling statement due to statement timeout");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    // Short statements are untouched, on both protocols.
    assert_eq!(simple_rows(&c, "SELECT 1").await.unwrap(), vec![vec!["1"]]);
    let row = c.query_one("SELECT $1::int8 + 1", &[&41i64]).await.unwrap();
    assert_eq!(row.get::<_, i64>(0), 42);
    c.simple_query("RESET statement_timeout").await.unwrap();
}

#[tokio::test]
async fn lock_timeout_bounds_a_commit_waiting_for_a_busy_table() {
    let server = TestServer::start();
    let writer = server.client().await;
    let block = server.client().await;
    writer
        .simple_query("CREATE TABLE busy (x bigint); CREATE TABLE calm (x bigint)")
        .await
        .unwrap();
    // A replacing write holds `busy` while it streams its rows.
    let replace = tokio::spawn(async move {
        writer
            .simple_query(
                "CREATE OR REPLACE TABLE busy AS SELECT v AS x FROM generate_series(1, 4000000) t(v)",
            )
            .await
            .map(|_| ())
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    block
        .simple_query(
            "SET lock_timeout = '200ms'; BEGIN; INSERT INTO busy VALUES (-1); INSERT INTO calm VALUES (-1)",
        )
        .await
        .unwrap();
    let started = Instant::now();
    let err = block
        .simple_query("COMMIT")
        .await
        .expect_err("busy is held");
    assert_eq!(sqlstate(&err), "55P03", "{err:?}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    replace.await.unwrap().unwrap();
    // Nothing of the block committed, in either table.
    assert_eq!(
        simple_rows(
            &block,
            "SELECT count(*) FROM busy WHERE x < 0 UNION ALL SELECT count(*) FROM calm"
        )
        .await
        .unwrap(),
        vec![vec!["0"], vec!["0"]]
    );
}

#[tokio::test]
async fn a_client_that_goes_away_stops_its_query() {
    let server = TestServer::start();
    let pid = server.pid().expect("running");
    let (client, connection) = tokio_postgres::connect(
        &server.conn_string(USER, PASSWORD, "lakehouse"),
        tokio_postgres::NoTls,
    )
    .await
    .unwrap();
    let connection = tokio::spawn(connection);
    let query = tokio::spawn(async move { client.simple_query(LONG_STATEMENTS[0]).await });
    tokio::time::sleep(Duration::from_millis(800)).await;
    // The client vanishes mid-query (its process dies: socket closed).
    query.abort();
    connection.abort();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let before = lakehouse_tests::cpu_seconds(pid);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let used = lakehouse_tests::cpu_seconds(pid) - before;
    assert!(
        used < 1.0,
        "the server used {used:.2} s of CPU for a client that left"
    );
    let c = server.client().await;
    assert_eq!(simple_rows(&c, "SELECT 1").await.unwrap(), vec![vec!["1"]]);
}

#[tokio::test]
async fn a_session_idle_in_a_block_past_its_timeout_is_ended_and_rolled_back() {
    let server = TestServer::start();
    let c = server.client().await;
    c.simple_query("CREATE TABLE idle_t (x int)").await.unwrap();
    c.simple_query("SET idle_in_transaction_session_timeout = '300ms'")
        .await
        .unwrap();
    c.simple_query("BEGIN; INSERT INTO idle_t VALUES (1)")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let err = c
        .simple_query("COMMIT")
        .await
        .expect_err("the session was ended");
    let code = err.code().map(|c| c.code().to_string());
    assert!(code.as_deref() == Some("25P03") || c.is_closed(), "{err:?}");
    let other = server.client().await;
    assert_eq!(
        simple_rows(&other, "SELECT count(*) FROM idle_t")
            .await
            .unwrap(),
        vec![vec!["0"]]
    );
    // Outside a block the timeout does nothing.
    other
        .simple_query("SET idle_in_transaction_session_timeout = '100ms'")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(
        simple_rows(&other, "SELECT 1").await.unwrap(),
        vec![vec!["1"]]
    );
}

#[tokio::test]
async fn a_long_query_does_not_stall_logins_or_other_sessions() {
    let server = TestServer::start();
    let busy = server.client().await;
    let token = busy.cancel_token();
    let long = tokio::spawn(async move { busy.simple_query(LONG_STATEMENTS[0]).await });
    tokio::time::sleep(Duration::from_millis(500)).await;
    for _ in 0..3 {
        let started = Instant::now();
        let c = server.client().await;
        assert_eq!(simple_rows(&c, "SELECT 1").await.unwrap(), vec![vec!["1"]]);
        let took = started.elapsed();
        assert!(
            took < Duration::from_secs(2),
            "login and SELECT 1 took {took:?}"
        );
    }
    token.cancel_query(tokio_postgres::NoTls).await.unwrap();
    let err = long.await.unwrap().expect_err("cancelled");
    assert_eq!(sqlstate(&err), "57014");
}
