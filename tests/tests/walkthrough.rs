//! The README's walkthrough, run as written: the shell block that creates
//! the CSV files, then every statement of the "Five minutes with psql" and
//! "AI in SQL" blocks through `psql`, against a fresh server whose working
//! directory is the import root. A newcomer's first session must not fail.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use lakehouse_tests::TestServer;

/// The fenced blocks of the README, as (language, text).
fn readme_blocks() -> Vec<(String, String)> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../README.md");
    let readme = std::fs::read_to_string(&path).expect("README.md");
    let mut blocks = Vec::new();
    let mut lines = readme.lines();
    while let Some(line) = lines.next() {
        let Some(language) = line.strip_prefix("```") else {
            continue;
        };
        let mut text = String::new();
        for line in lines.by_ref() {
            if line.starts_with("```") {
                break;
            }
            text.push_str(line);
            text.push('\n');
        }
        blocks.push((language.to_string(), text));
    }
    blocks
}

/// The statements of an SQL block: psql meta-commands are one line each,
/// SQL ends at `;`; `--` comments are dropped.
fn statements(block: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in block.lines() {
        let code = without_comment(line);
        let code = code.trim();
        if code.is_empty() {
            continue;
        }
        if code.starts_with('\\') && current.is_empty() {
            out.push(code.to_string());
            continue;
        }
        current.push_str(code);
        current.push(' ');
        if code.ends_with(';') {
            out.push(current.trim().to_string());
            current.clear();
        }
    }
    out
}

/// `line` up to a `--` that is outside quotes.
fn without_comment(line: &str) -> &str {
    let mut quoted = false;
    let mut previous = ' ';
    for (i, c) in line.char_indices() {
        match c {
            '\'' => quoted = !quoted,
            '-' if previous == '-' && !quoted => return &line[..i - 1],
            _ => {}
        }
        previous = c;
    }
    line
}

#[test]
fn readme_walkthrough_runs_as_written() {
    let blocks = readme_blocks();
    let server = TestServer::start();
    let files = blocks
        .iter()
        .find(|(lang, text)| lang == "sh" && text.contains("cat > people.csv"))
        .expect("the README's block that writes people.csv");
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg(
            files
                .1
                .lines()
                .filter(|l| !l.starts_with("PGPASSWORD"))
                .collect::<Vec<_>>()
                .join("\n"),
        )
        .current_dir(&server.work_dir)
        .status()
        .expect("sh");
    assert!(status.success(), "the README's file block failed");
    let sql: Vec<&String> = blocks
        .iter()
        .filter(|(lang, _)| lang == "sql")
        .map(|(_, text)| text)
        .take(2)
        .collect();
    assert_eq!(sql.len(), 2, "two SQL blocks (psql, AI)");
    let mut ran = 0;
    for block in sql {
        for statement in statements(block) {
            ran += 1;
            // The index builds in the background: a search may have to wait
            // for it, as a user would.
            let deadline = Instant::now() + Duration::from_secs(300);
            loop {
                let out = server.psql(&["-v", "ON_ERROR_STOP=1", "-c", &statement]);
                let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
                if out.status.success() && !stderr.contains("ERROR") {
                    break;
                }
                if stderr.contains("is not built yet") && Instant::now() < deadline {
                    std::thread::sleep(Duration::from_millis(500));
                    continue;
                }
                panic!("the README's statement failed:\n{statement}\n{stderr}");
            }
        }
    }
    // Every statement of both blocks (11 in the first, 13 in the second).
    assert!(ran >= 24, "only {ran} statements found in the README");
}
