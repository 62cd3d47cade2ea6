//! Runs every `tests/slt/*.slt` file over the wire, each against a fresh
//! server whose import root holds the files of `tests/slt/data/`.
//!
//! The files of `tests/slt/postgres/` pin behaviour PostgreSQL defines: each
//! runs against a fresh lakehouse server and against the machine's
//! PostgreSQL 15 (127.0.0.1:5432, in a database made for the file), and
//! must pass on both. Their error expectations name SQLSTATEs, not wording.

use std::path::PathBuf;

use lakehouse_tests::{SltConnection, TestServer};

fn slt_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("slt")
}

async fn run_file(path: PathBuf) -> Result<(), String> {
    let server = TestServer::start();
    for entry in std::fs::read_dir(slt_dir().join("data")).map_err(|e| e.to_string())? {
        let entry = entry.map_err(|e| e.to_string())?;
        std::fs::copy(entry.path(), server.work_dir.join(entry.file_name()))
            .map_err(|e| e.to_string())?;
    }
    let conn_string = server.conn_string(
        lakehouse_tests::USER,
        lakehouse_tests::PASSWORD,
        "lakehouse",
    );
    run_file_on(path, conn_string).await
}

async fn run_file_on(path: PathBuf, conn_string: String) -> Result<(), String> {
    let mut runner = sqllogictest::Runner::new(move || {
        let conn_string = conn_string.clone();
        async move {
            let client = lakehouse_tests::connect(&conn_string)
                .await
                .map_err(lakehouse_tests::SltError)?;
            Ok::<_, lakehouse_tests::SltError>(SltConnection::new(client))
        }
    });
    runner
        .run_file_async(&path)
        .await
        .map_err(|e| format!("{}: {}", path.display(), e.display(true)))
}

fn slt_files_in(dir: PathBuf) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("slt directory")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "slt"))
        .collect();
    files.sort();
    files
}

/// Runs `path` in a database of the machine's PostgreSQL made for it.
async fn run_file_on_postgres(path: PathBuf) -> Result<(), String> {
    let admin = "host=127.0.0.1 port=5432 user=postgres dbname=test";
    let client = lakehouse_tests::connect(admin)
        .await
        .map_err(|e| format!("the machine's PostgreSQL on 127.0.0.1:5432: {e}"))?;
    let stem = path
        .file_stem()
        .map(|s| {
            s.to_string_lossy()
                .replace(|c: char| !c.is_ascii_alphanumeric(), "_")
        })
        .unwrap_or_default();
    let database = format!("lh_slt_{stem}_{}", std::process::id());
    // One statement per call: CREATE DATABASE cannot run in a transaction.
    for sql in [
        format!("DROP DATABASE IF EXISTS {database}"),
        format!("CREATE DATABASE {database}"),
    ] {
        client
            .batch_execute(&sql)
            .await
            .map_err(|e| format!("{sql}: {}", lakehouse_tests::SltError(e)))?;
    }
    let outcome = run_file_on(
        path,
        format!("host=127.0.0.1 port=5432 user=postgres dbname={database}"),
    )
    .await;
    let _ = client
        .batch_execute(&format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)"))
        .await;
    outcome.map_err(|e| format!("PostgreSQL 15: {e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_defined_slt_files_pass_on_lakehouse_and_postgresql() {
    let files = slt_files_in(slt_dir().join("postgres"));
    assert!(!files.is_empty(), "no .slt files in tests/slt/postgres");
    let mut failures = Vec::new();
    for file in &files {
        if let Err(e) = run_file_on_postgres(file.clone()).await {
            failures.push(e);
        }
        if let Err(e) = run_file(file.clone()).await {
            failures.push(format!("lakehouse: {e}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures over {} files:\n{}",
        failures.len(),
        files.len(),
        failures.join("\n\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slt_files() {
    let mut files: Vec<PathBuf> = std::fs::read_dir(slt_dir())
        .expect("tests/slt")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "slt"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no .slt files found");
    let mut failures = Vec::new();
    for file in &files {
        if let Err(e) = run_file(file.clone()).await {
            failures.push(e);
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} slt files failed:\n{}",
        failures.len(),
        files.len(),
        failures.join("\n\n")
    );
}
