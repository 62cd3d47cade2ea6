//! End-to-end behaviour through tokio-postgres over TCP.

use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use lakehouse_tests::{PASSWORD, TestServer, USER, connect, copy_in, simple_rows, sqlstate};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const PEOPLE: &str = "id,name,score\n1,Ann,3.5\n2,Bob,\n3,Cy,7\n";

#[tokio::test]
async fn everything_survives_a_restart() {
    let mut server = TestServer::start();
    server.write_file("people.csv", PEOPLE);
    {
        let c = server.client().await;
        simple_rows(&c, "SELECT * FROM ingest_csv('people.csv', 'people')")
            .await
            .unwrap();
        c.batch_execute(
            "CREATE SCHEMA s; CREATE TABLE s.t (a INT PRIMARY KEY, b TEXT); INSERT INTO s.t VALUES (1, 'x');
             COMMENT ON TABLE s.t IS 'kept'; COMMENT ON COLUMN s.t.b IS 'also kept';
             CREATE VIEW v AS SELECT name FROM people WHERE score > 3;",
        )
        .await
        .unwrap();
        let copied = copy_in(&c, "COPY s.t FROM STDIN WITH (FORMAT csv)", b"2,y\n3,z\n").await;
        assert_eq!(copied.unwrap(), 2);
    }
    server.restart();
    let c = server.client().await;
    assert_eq!(
        simple_rows(&c, "SELECT count(*) FROM people")
            .await
            .unwrap(),
        vec![vec!["3"]]
    );
    assert_eq!(
        simple_rows(&c, "SELECT a, b FROM s.t ORDER BY a")
            .await
            .unwrap(),
        vec![vec!["1", "x"], vec!["2", "y"], vec!["3", "z"]]
    );
    assert_eq!(
        simple_rows(&c, "SELECT name FROM v ORDER BY name")
            .await
            .unwrap(),
        vec![vec!["Ann"], vec!["Cy"]]
    );
    let datasets = simple_rows(
        &c,
        "SELECT name, rows FROM lakehouse.datasets ORDER BY name",
    )
    .await
    .unwrap();
    assert_eq!(datasets, vec![vec!["people", "3"], vec!["t", "3"]]);
    // Keys and comments are Delta metadata: they come back with the table.
    assert_eq!(
        simple_rows(
            &c,
            "SELECT c.conname, pg_get_constraintdef(c.oid), obj_description(c.conrelid, 'pg_class'), \
             col_description(c.conrelid, 2) FROM pg_catalog.pg_constraint c"
        )
        .await
        .unwrap(),
        vec![vec!["t_pkey", "PRIMARY KEY (a)", "kept", "also kept"]]
    );
    // The admin password still works and was not regenerated.
    assert!(
        server
            .stdout_lines
            .iter()
            .all(|l| !l.contains("with password"))
    );
}

#[tokio::test]
async fn wrong_password_and_unknown_database() {
    let server = TestServer::start();
    let err = server
        .try_client(USER, "wrong", "lakehouse")
        .await
        .expect_err("must fail");
    assert_eq!(sqlstate(&err), "28P01");
    let err = server
        .try_client("nobody", "x", "lakehouse")
        .await
        .expect_err("must fail");
    assert_eq!(sqlstate(&err), "28P01");
    let err = server
        .try_client(USER, PASSWORD, "otherdb")
        .await
        .expect_err("must fail");
    assert_eq!(sqlstate(&err), "3D000");
    // The server is fine afterwards.
    let c = server.client().await;
    assert_eq!(simple_rows(&c, "SELECT 1").await.unwrap(), vec![vec!["1"]]);
}

#[tokio::test]
async fn describe_of_ingest_has_no_side_effects() {
    let server = TestServer::start();
    server.write_file("people.csv", PEOPLE);
    let c = server.client().await;
    // Parse + Describe only.
    let statement = c
        .prepare("SELECT * FROM ingest_csv('people.csv', 'described')")
        .await
        .unwrap();
    let names: Vec<&str> = statement.columns().iter().map(|c| c.name()).collect();
    assert_eq!(
        names,
        [
            "dataset",
            "rows",
            "columns",
            "bytes",
            "sha256",
            "status",
            "elapsed_ms"
        ]
    );
    let count = simple_rows(
        &c,
        "SELECT count(*) FROM lakehouse.datasets WHERE name = 'described'",
    )
    .await
    .unwrap();
    assert_eq!(count, vec![vec!["0"]]);
    assert!(
        !server
            .data_dir
            .join("tables/public/described/_delta_log")
            .exists()
    );
    // Executing it does the work.
    let rows = c.query(&statement, &[]).await.unwrap();
    assert_eq!(rows[0].get::<_, String>("status"), "created");
    assert_eq!(rows[0].get::<_, i64>("rows"), 3);
}

#[tokio::test]
async fn cancel_stops_a_long_query() {
    let server = TestServer::start();
    let c = server.client().await;
    let token = c.cancel_token();
    let canceller = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(700)).await;
        token.cancel_query(tokio_postgres::NoTls).await
    });
    let started = std::time::Instant::now();
    let err = c
        .simple_query("SELECT count(*) FROM generate_series(1, 100000000000) WHERE value % 7 = 3")
        .await
        .expect_err("the query must be cancelled");
    assert_eq!(sqlstate(&err), "57014", "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(30));
    canceller.await.unwrap().unwrap();
    assert_eq!(simple_rows(&c, "SELECT 2").await.unwrap(), vec![vec!["2"]]);
}

#[tokio::test]
async fn extended_protocol_binary_params_and_results() {
    let server = TestServer::start();
    let c = server.client().await;
    c.batch_execute(
        "CREATE TABLE typed (i INT, b BIGINT, f DOUBLE PRECISION, t TEXT, ok BOOLEAN, d DATE, ts TIMESTAMP);
         INSERT INTO typed VALUES (1, 10000000000, 1.5, 'one', true, '2024-02-29', '2024-02-29 12:34:56'),
                                  (2, NULL, NULL, NULL, NULL, NULL, NULL);",
    )
    .await
    .unwrap();
    let rows = c
        .query(
            "SELECT i, b, f, t, ok, d, ts FROM typed WHERE i = $1",
            &[&1i32],
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    let r = &rows[0];
    assert_eq!(r.get::<_, i32>(0), 1);
    assert_eq!(r.get::<_, i64>(1), 10_000_000_000);
    assert_eq!(r.get::<_, f64>(2), 1.5);
    assert_eq!(r.get::<_, &str>(3), "one");
    assert!(r.get::<_, bool>(4));
    let d: chrono::NaiveDate = r.get(5);
    assert_eq!(d.to_string(), "2024-02-29");
    let ts: chrono::NaiveDateTime = r.get(6);
    assert_eq!(ts.to_string(), "2024-02-29 12:34:56");
    let nulls = c
        .query_one("SELECT b, t FROM typed WHERE i = $1", &[&2i32])
        .await
        .unwrap();
    assert_eq!(nulls.get::<_, Option<i64>>(0), None);
    assert_eq!(nulls.get::<_, Option<String>>(1), None);
    // Binary array parameters (and `oid` placeholders described as oid types).
    let r = c
        .query_one(
            "SELECT $1::int8[], $2::text[], $3::float8[]",
            &[&vec![1i64, 2, 3], &vec!["a", "b"], &vec![0.5f64]],
        )
        .await
        .unwrap();
    assert_eq!(r.get::<_, Vec<i64>>(0), vec![1, 2, 3]);
    assert_eq!(r.get::<_, Vec<String>>(1), vec!["a", "b"]);
    assert_eq!(r.get::<_, Vec<f64>>(2), vec![0.5]);
    let st = c.prepare("SELECT $1::oid[]").await.unwrap();
    assert_eq!(st.params()[0], tokio_postgres::types::Type::OID_ARRAY);
    // Text parameter, named statement reused.
    let st = c
        .prepare("SELECT count(*) FROM typed WHERE t = $1")
        .await
        .unwrap();
    for _ in 0..3 {
        let n: i64 = c.query_one(&st, &[&"one"]).await.unwrap().get(0);
        assert_eq!(n, 1);
    }
    // An error inside the extended protocol leaves the session usable.
    let err = c
        .query("SELECT i FROM no_such_table WHERE i = $1", &[&1i32])
        .await
        .err()
        .unwrap();
    assert_eq!(sqlstate(&err), "42P01");
    // DataFusion types the literal 1 as bigint, so the sum is bigint.
    assert_eq!(
        c.query_one("SELECT $1::int + 1", &[&41i32])
            .await
            .unwrap()
            .get::<_, i64>(0),
        42
    );
}

#[tokio::test]
async fn copy_in_and_out_and_bad_copy_data() {
    let server = TestServer::start();
    let c = server.client().await;
    c.batch_execute("CREATE TABLE c (id BIGINT, name TEXT)")
        .await
        .unwrap();
    let copied = copy_in(&c, "COPY c FROM STDIN", b"1\tone\n2\t\\N\n3\ttab\\there\n").await;
    assert_eq!(copied.unwrap(), 3);

    let out = c
        .copy_out("COPY (SELECT * FROM c ORDER BY id) TO STDOUT WITH (FORMAT csv, HEADER true)")
        .await
        .unwrap();
    let chunks: Vec<bytes::Bytes> = out.try_collect().await.unwrap();
    let text: String = chunks
        .iter()
        .map(|b| String::from_utf8_lossy(b).into_owned())
        .collect();
    assert_eq!(text, "id,name\n1,one\n2,\n3,tab\there\n");

    // A bad value fails the whole COPY with its line; nothing is appended.
    let err = copy_in(
        &c,
        "COPY c FROM STDIN WITH (FORMAT csv)",
        b"4,four\nfive,5\n",
    )
    .await
    .expect_err("bad data must fail");
    assert_eq!(sqlstate(&err), "22P02");
    assert!(
        err.to_string().contains("STDIN:2") || format!("{err:?}").contains("STDIN:2"),
        "{err:?}"
    );
    // Invalid UTF-8 in COPY data.
    let err = copy_in(&c, "COPY c FROM STDIN WITH (FORMAT csv)", b"5,\xff\xfe\n")
        .await
        .expect_err("invalid UTF-8 must fail");
    assert_eq!(sqlstate(&err), "22021");
    assert_eq!(
        simple_rows(&c, "SELECT count(*) FROM c").await.unwrap(),
        vec![vec!["3"]]
    );
}

#[tokio::test]
async fn garbage_and_huge_input_do_not_hurt_the_server() {
    let server = TestServer::start();
    // Garbage instead of a startup packet.
    for payload in [
        &b"\x00\x00\x00\x08garbage!"[..],
        &b"GET / HTTP/1.1\r\n\r\n"[..],
        &[0xffu8; 64][..],
        &b"\x7f\xff\xff\xff\x00\x03\x00\x00"[..],
    ] {
        let mut s = tokio::net::TcpStream::connect(("127.0.0.1", server.port))
            .await
            .unwrap();
        let _ = s.write_all(payload).await;
        let mut buf = [0u8; 256];
        let _ = tokio::time::timeout(Duration::from_secs(2), s.read(&mut buf)).await;
    }
    let c = server.client().await;
    // A 4 MB literal.
    let big = "x".repeat(4 << 20);
    let rows = simple_rows(&c, &format!("SELECT length('{big}')"))
        .await
        .unwrap();
    assert_eq!(rows, vec![vec![(4u64 << 20).to_string()]]);
    // Errors of every kind leave the session working.
    for bad in [
        "SELEC 1",
        "SELECT * FROM nope",
        "SELECT 'a' + 1",
        "SELECT 1/0",
        "COPY c TO '/etc/x'",
    ] {
        assert!(c.simple_query(bad).await.is_err(), "{bad} should fail");
    }
    assert_eq!(simple_rows(&c, "SELECT 1").await.unwrap(), vec![vec!["1"]]);
}

#[tokio::test]
async fn kill_9_during_a_large_ingest_leaves_no_partial_table() {
    let mut server = TestServer::start();
    let rows = 1_500_000;
    let mut csv = String::with_capacity(rows * 40);
    csv.push_str("id,name,amount,day\n");
    for i in 0..rows {
        csv.push_str(&format!(
            "{i},name{i},{}.25,2024-01-{:02}\n",
            i % 1000,
            i % 28 + 1
        ));
    }
    server.write_file("big.csv", &csv);
    let conn = server.conn_string(USER, PASSWORD, "lakehouse");
    let ingest = tokio::spawn(async move {
        let c = connect(&conn).await.unwrap();
        c.simple_query("SELECT * FROM ingest_csv('big.csv', 'big')")
            .await
    });
    // Kill while the data file is being written: object_store stages it as
    // `<name>.parquet#<n>` and renames it when complete, then the commit follows.
    let table_dir = server.data_dir.join("tables/public/big");
    let staging = || {
        std::fs::read_dir(&table_dir)
            .map(|d| {
                d.flatten()
                    .any(|e| e.file_name().to_string_lossy().contains(".parquet#"))
            })
            .unwrap_or(false)
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while !staging() && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    assert!(staging(), "the ingest never started writing its data file");
    server.kill9();
    let _ = ingest.await;
    server.start_again();
    let c = server.client().await;
    // Killed mid-write: nothing of it may be visible.
    let visible = simple_rows(
        &c,
        "SELECT count(*) FROM lakehouse.datasets WHERE name = 'big'",
    )
    .await
    .unwrap();
    assert_eq!(visible, vec![vec!["0"]]);
    let err = c
        .simple_query("SELECT count(*) FROM big")
        .await
        .err()
        .unwrap();
    assert_eq!(sqlstate(&err), "42P01");
    // And the dataset can be ingested cleanly afterwards.
    let r = simple_rows(&c, "SELECT status, rows FROM ingest_csv('big.csv', 'big')")
        .await
        .unwrap();
    assert!(
        r == vec![vec!["created".to_string(), rows.to_string()]] || r[0][0] == "unchanged",
        "{r:?}"
    );
    assert_eq!(
        simple_rows(&c, "SELECT count(*) FROM big").await.unwrap(),
        vec![vec![rows.to_string()]]
    );
}

#[tokio::test]
async fn settings_are_per_session() {
    let server = TestServer::start();
    let a = server.client().await;
    let b = server.client().await;
    a.batch_execute("SET application_name = 'first'; SET datafusion.execution.batch_size = 1024")
        .await
        .unwrap();
    assert_eq!(
        simple_rows(&a, "SHOW application_name").await.unwrap(),
        vec![vec!["first"]]
    );
    assert_eq!(
        simple_rows(&b, "SHOW application_name").await.unwrap(),
        vec![vec![""]]
    );
    let tz = simple_rows(&b, "SHOW TimeZone").await.unwrap();
    assert_eq!(tz, vec![vec!["UTC"]]);
}

#[tokio::test]
async fn cancel_stops_rows_already_streaming() {
    let server = TestServer::start();
    let c = server.client().await;
    let token = c.cancel_token();
    let rows = c
        .simple_query_raw("SELECT value FROM generate_series(1, 2000000000)")
        .await
        .unwrap();
    futures::pin_mut!(rows);
    for _ in 0..1000 {
        rows.next().await.expect("a row").expect("no error yet");
    }
    token.cancel_query(tokio_postgres::NoTls).await.unwrap();
    let drained = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(item) = rows.next().await {
            if let Err(e) = item {
                return Some(e);
            }
        }
        None
    })
    .await
    .expect("the stream must stop after the cancel");
    let err = drained.expect("the stream must end with an error");
    assert_eq!(sqlstate(&err), "57014", "{err:?}");
    assert_eq!(simple_rows(&c, "SELECT 3").await.unwrap(), vec![vec!["3"]]);
}

#[tokio::test]
async fn a_failed_commit_ends_the_block_and_commits_nothing_on_both_protocols() {
    let server = TestServer::start();
    let c = server.client().await;
    let other = server.client().await;
    c.batch_execute("CREATE TABLE kept (id INT)").await.unwrap();
    for (round, simple) in [(1, true), (2, false)] {
        c.batch_execute(&format!("CREATE TABLE gone{round} (id INT)"))
            .await
            .unwrap();
        c.batch_execute(&format!(
            "BEGIN; INSERT INTO kept VALUES ({round}); INSERT INTO gone{round} VALUES ({round})"
        ))
        .await
        .unwrap();
        other
            .batch_execute(&format!("DROP TABLE gone{round}"))
            .await
            .unwrap();
        let err = if simple {
            c.batch_execute("COMMIT").await.unwrap_err()
        } else {
            c.execute("COMMIT", &[]).await.unwrap_err()
        };
        assert_eq!(sqlstate(&err), "42P01", "{err:?}");
        // As in PostgreSQL the block is over: the next statement runs (no
        // 25P02), and COMMIT wrote none of the block's rows.
        let rows = c.query_one("SELECT count(*) FROM kept", &[]).await.unwrap();
        assert_eq!(rows.get::<_, i64>(0), 0, "round {round}");
    }
    // A COMMIT that works still commits, on both protocols.
    c.batch_execute("BEGIN; INSERT INTO kept VALUES (3)")
        .await
        .unwrap();
    c.execute("COMMIT", &[]).await.unwrap();
    let rows = other
        .query_one("SELECT count(*) FROM kept", &[])
        .await
        .unwrap();
    assert_eq!(rows.get::<_, i64>(0), 1);
}

#[tokio::test]
async fn a_lost_connection_rolls_back_its_block() {
    let server = TestServer::start();
    let other = server.client().await;
    other
        .batch_execute("CREATE TABLE kept (id INT)")
        .await
        .unwrap();
    {
        let c = server.client().await;
        c.batch_execute("BEGIN; CREATE TABLE abandoned (id INT); INSERT INTO kept VALUES (1)")
            .await
            .unwrap();
    } // the client goes away with its block open
    let mut remaining = -1;
    for _ in 0..50 {
        remaining = other
            .query_one(
                "SELECT count(*) FROM pg_catalog.pg_class WHERE relname = 'abandoned'",
                &[],
            )
            .await
            .unwrap()
            .get::<_, i64>(0);
        if remaining == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(remaining, 0, "the abandoned block's table is still there");
    let rows = other
        .query_one("SELECT count(*) FROM kept", &[])
        .await
        .unwrap();
    assert_eq!(rows.get::<_, i64>(0), 0);
}

#[tokio::test]
async fn savepoints_revive_a_failed_block_on_both_protocols() {
    let server = TestServer::start();
    let mut c = server.client().await;
    // tokio-postgres nests transactions with SAVEPOINT / ROLLBACK TO, sent
    // through the extended protocol.
    let mut tx = c.transaction().await.unwrap();
    {
        let nested = tx.savepoint("inner").await.unwrap();
        let err = nested.execute("SELECT 1 / 0", &[]).await.unwrap_err();
        assert_eq!(sqlstate(&err), "22012", "{err:?}");
        nested.rollback().await.unwrap();
    }
    let one: i64 = tx.query_one("SELECT 1::bigint", &[]).await.unwrap().get(0);
    assert_eq!(one, 1, "the outer block runs again after ROLLBACK TO");
    // The same through Parse / Bind / Execute (pgjdbc's way; tokio-postgres
    // rolls a savepoint back with a simple query).
    tx.execute("SAVEPOINT extended", &[]).await.unwrap();
    let err = tx.execute("SELECT 1 / 0", &[]).await.unwrap_err();
    assert_eq!(sqlstate(&err), "22012", "{err:?}");
    tx.execute("ROLLBACK TO SAVEPOINT extended", &[])
        .await
        .unwrap();
    let two: i64 = tx.query_one("SELECT 2::bigint", &[]).await.unwrap().get(0);
    assert_eq!(two, 2, "the block runs again after an extended ROLLBACK TO");
    let err = tx
        .execute("ROLLBACK TO SAVEPOINT nosuch", &[])
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&err), "3B001", "{err:?}");
    let err = tx.execute("SELECT 2", &[]).await.unwrap_err();
    assert_eq!(sqlstate(&err), "25P02", "{err:?}");
    tx.rollback().await.unwrap();
    assert_eq!(simple_rows(&c, "SELECT 3").await.unwrap(), vec![vec!["3"]]);

    // BEGIN inside a block and COMMIT outside one warn, as in PostgreSQL.
    let (c, notices) = server.client_with_notices().await;
    c.batch_execute("BEGIN; BEGIN; COMMIT; COMMIT")
        .await
        .unwrap();
    let seen = notices.after_round_trip(&c).await;
    assert_eq!(
        seen,
        [
            "there is already a transaction in progress",
            "there is no transaction in progress"
        ],
        "{seen:?}"
    );
}

#[tokio::test]
async fn deallocate_reaches_protocol_statements_and_move_counts_rows() {
    let server = TestServer::start();
    let c = server.client().await;
    // tokio-postgres names its statements s0, s1, ...; psycopg evicts its
    // prepared statements with DEALLOCATE name.
    let statement = c.prepare("SELECT $1::int + 1").await.unwrap();
    // The name is private; its Debug output shows it (`name: "s0"`).
    let debug = format!("{statement:?}");
    let name = debug
        .split("name: \"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a statement name in Debug output")
        .to_string();
    assert!(!name.is_empty(), "{debug}");
    c.batch_execute(&format!("DEALLOCATE {name}"))
        .await
        .unwrap();
    let err = c.query(&statement, &[&1i32]).await.unwrap_err();
    assert_eq!(sqlstate(&err), "26000", "{err:?}");
    // PostgreSQL's words for a Bind naming a statement that is gone.
    let message = err.as_db_error().map(|e| e.message().to_string());
    assert_eq!(
        message.as_deref(),
        Some(format!("prepared statement \"{name}\" does not exist").as_str())
    );
    let err = c
        .batch_execute(&format!("DEALLOCATE {name}"))
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&err), "26000", "{err:?}");
    let kept = c.prepare("SELECT 7").await.unwrap();
    c.batch_execute("DEALLOCATE ALL").await.unwrap();
    let err = c.query(&kept, &[]).await.unwrap_err();
    assert_eq!(sqlstate(&err), "26000", "{err:?}");
    // Dropping a tokio-postgres statement sends Close: the name is gone, so
    // DEALLOCATE of it fails as in PostgreSQL.
    let closed = c.prepare("SELECT 8").await.unwrap();
    let closed_name = format!("{closed:?}")
        .split("name: \"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .map(str::to_string)
        .expect("a statement name in Debug output");
    drop(closed);
    let err = c
        .batch_execute(&format!("DEALLOCATE {closed_name}"))
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&err), "26000", "{err:?}");

    c.batch_execute(
        "DECLARE s SCROLL CURSOR WITH HOLD FOR SELECT v FROM generate_series(1, 10) AS t(v)",
    )
    .await
    .unwrap();
    assert_eq!(c.execute("MOVE 4 FROM s", &[]).await.unwrap(), 4);
    assert_eq!(c.execute("MOVE BACKWARD 10 FROM s", &[]).await.unwrap(), 3);
    assert_eq!(c.execute("MOVE FORWARD ALL FROM s", &[]).await.unwrap(), 10);
    let row = c.query_one("FETCH PRIOR FROM s", &[]).await.unwrap();
    assert_eq!(row.get::<_, i64>(0), 10);
}
