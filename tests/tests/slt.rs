//! Runs every `tests/slt/*.slt` file over the wire, each against a fresh
//! server whose import root holds the files of `tests/slt/data/`.

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
