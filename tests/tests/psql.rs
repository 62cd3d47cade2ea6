//! The `psql` binary against a real server: meta-commands and \copy.

use lakehouse_tests::TestServer;

fn run(server: &TestServer, args: &[&str]) -> String {
    let out = server.psql(args);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success(),
        "psql {args:?} failed:\n{stdout}\n{stderr}"
    );
    assert!(
        !stderr.contains("ERROR"),
        "psql {args:?} reported:\n{stderr}"
    );
    stdout
}

#[test]
fn psql_walkthrough() {
    let server = TestServer::start();
    server.write_file(
        "people.csv",
        "id,name,score,joined\n1,Ann,3.5,2024-01-02\n2,\"Bob, Jr\",,2023-05-06\n",
    );
    server.write_file("more.csv", "id,name,score,joined\n3,Cy,7,2022-12-31\n");

    let out = run(
        &server,
        &[
            "-c",
            "SELECT status, rows FROM ingest_csv('people.csv', 'people')",
        ],
    );
    assert!(out.contains("created |    2"), "{out}");

    let out = run(&server, &["-c", "\\dt"]);
    assert!(out.contains("public | people | table"), "{out}");

    let out = run(&server, &["-c", "\\d people"]);
    for expected in [
        "Table \"public.people\"",
        "id     | bigint",
        "name   | text",
        "score  | numeric(18,1)",
        "joined | date",
    ] {
        assert!(out.contains(expected), "missing {expected:?} in:\n{out}");
    }

    // Keys show as PostgreSQL shows the indexes behind them.
    run(
        &server,
        &[
            "-c",
            "CREATE TABLE teams (id BIGINT PRIMARY KEY, name TEXT UNIQUE)",
        ],
    );
    let out = run(&server, &["-c", "\\d teams"]);
    for expected in [
        " id     | bigint |           | not null |",
        "Indexes:\n    \"teams_pkey\" PRIMARY KEY, btree (id)\n    \"teams_name_key\" UNIQUE CONSTRAINT, btree (name)\n",
    ] {
        assert!(out.contains(expected), "missing {expected:?} in:\n{out}");
    }

    let out = run(&server, &["-c", "\\dt+"]);
    for expected in ["people | table", " bytes |"] {
        assert!(out.contains(expected), "missing {expected:?} in:\n{out}");
    }
    let out = run(&server, &["-c", "\\df"]);
    assert!(out.contains("List of functions"), "{out}");
    // lakehouse's own functions, listed in public with their signatures.
    let embed = out
        .lines()
        .find(|l| l.contains(" embed "))
        .unwrap_or_default();
    assert!(
        embed.starts_with(" public ")
            && embed.contains("| real[] ")
            && embed.contains("| text text "),
        "{out}"
    );
    for expected in [
        "index text, query text, k integer DEFAULT 10, options text DEFAULT ''",
        "TABLE(dataset text, rows bigint, columns bigint, bytes bigint, sha256 text, status text, elapsed_ms bigint)",
        "rag",
        "hnsw_apply",
    ] {
        assert!(out.contains(expected), "missing {expected:?} in:\n{out}");
    }
    let out = run(&server, &["-c", "\\df+ embed"]);
    assert!(
        out.contains("embedding of the text by the configured sentence model"),
        "{out}"
    );

    let out = run(&server, &["-c", "\\dn"]);
    assert!(out.contains("public") && out.contains("lakehouse"), "{out}");
    let out = run(&server, &["-c", "\\l"]);
    assert!(out.contains("lakehouse"), "{out}");
    // Only the database a client can connect to.
    assert!(!out.contains("postgres "), "{out}");
    assert!(out.contains("(1 row)"), "{out}");

    let out = run(
        &server,
        &[
            "-c",
            "\\copy people FROM 'more.csv' WITH (FORMAT csv, HEADER true)",
        ],
    );
    assert!(out.contains("COPY 1"), "{out}");
    let out = run(
        &server,
        &[
            "-c",
            "\\copy (SELECT * FROM people ORDER BY id) TO 'out.csv' WITH (FORMAT csv, HEADER true)",
        ],
    );
    // The header is not a row (PostgreSQL says COPY 3 here too).
    assert_eq!(out.trim(), "COPY 3", "{out}");
    let written = std::fs::read_to_string(server.work_dir.join("out.csv")).unwrap();
    // score was inferred as numeric(18,1): the appended 7 keeps one place.
    assert_eq!(
        written,
        "id,name,score,joined\n1,Ann,3.5,2024-01-02\n2,\"Bob, Jr\",,2023-05-06\n3,Cy,7.0,2022-12-31\n"
    );

    let out = run(
        &server,
        &[
            "-At",
            "-c",
            "SELECT rows FROM lakehouse.datasets WHERE name = 'people'",
        ],
    );
    assert_eq!(out.trim(), "3");

    // Errors carry SQLSTATE and the session keeps going (ON_ERROR_STOP off).
    let out = server.psql(&[
        "-v",
        "VERBOSITY=verbose",
        "-c",
        "SELECT * FROM ingest_csv('/etc/passwd', 'x')",
        "-c",
        "SELECT 41 + 1",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("42501"), "{stderr}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("42"));
}

/// `\copy t (columns) FROM` gives the other columns their defaults, as an
/// INSERT does: one `nextval` per row for a serial column.
#[test]
fn copy_from_with_a_column_list_applies_defaults() {
    let server = TestServer::start();
    server.write_file("names.csv", "ann\nbob\ncy\n");
    run(
        &server,
        &[
            "-c",
            "CREATE TABLE people (id serial, name text, status text DEFAULT 'new', plain int)",
            "-c",
            "INSERT INTO people (name) VALUES ('first')",
            "-c",
            "\\copy people (name) FROM 'names.csv'",
        ],
    );
    let out = run(
        &server,
        &[
            "-At",
            "-c",
            "SELECT id, name, status, coalesce(plain, -1) FROM people ORDER BY id",
        ],
    );
    assert_eq!(
        out.trim(),
        "1|first|new|-1\n2|ann|new|-1\n3|bob|new|-1\n4|cy|new|-1",
        "{out}"
    );
}
