//! `bench-ai`: the AI-in-SQL measurements, over the wire against a fresh server.
//!
//! 1. `embed()` throughput: short sentences (~10 tokens) and ~100-token passages,
//!    streamed as `SELECT embed(t) FROM texts`: texts/s and server CPU-seconds.
//! 2. Single-query `SELECT embed('...')` latency (p50/p95 of 50).
//! 3. `create_vector_index` over 10,000 one-chunk rows: seconds to `done`.
//! 4. `vector_search` p50/p95 over the wire (200 text queries, embedding
//!    included; 200 vector queries, search only), beside the index's own exact
//!    scan (`'exact'`) as the brute-force peer.
//! 5. `rag()` latency and decode tokens/s (from its NOTICE), k = 5.
//!
//! Usage (README "Benchmarks"): `LAKEHOUSE_BIN=<release binary> <release bench-ai> [index_rows]`.

use std::time::{Duration, Instant};

use lakehouse_tests::{TestServer, cpu_seconds, wait_for_job};
use tokio_postgres::Client;

const SUBJECTS: [&str; 8] = [
    "The driver",
    "A nurse",
    "Our welder",
    "The analyst",
    "A teacher",
    "The cook",
    "An engineer",
    "The clerk",
];
const VERBS: [&str; 8] = [
    "loads", "checks", "repairs", "reviews", "plans", "prepares", "designs", "files",
];
const OBJECTS: [&str; 8] = [
    "the trailer",
    "patient charts",
    "steel frames",
    "sales reports",
    "reading lessons",
    "the dinner menu",
    "payment services",
    "legal documents",
];

fn short_sentence(i: usize) -> String {
    format!(
        "{} {} {} on day {}.",
        SUBJECTS[i % 8],
        VERBS[(i / 8) % 8],
        OBJECTS[(i / 64) % 8],
        i
    )
}

/// ~100 tokens: five or six clauses of the short generator.
fn passage(i: usize) -> String {
    (0..6)
        .map(|j| {
            format!(
                "{} {} {} every {} at site {}",
                SUBJECTS[(i + j) % 8],
                VERBS[(i / 3 + j) % 8],
                OBJECTS[(i / 5 + 2 * j) % 8],
                ["morning", "evening", "weekend", "night"][(i + j) % 4],
                i * 7 + j
            )
        })
        .collect::<Vec<_>>()
        .join(", and ")
        + "."
}

fn percentile(samples: &mut [Duration], p: f64) -> f64 {
    samples.sort();
    let i = ((samples.len() as f64 - 1.0) * p).round() as usize;
    samples[i].as_secs_f64() * 1000.0
}

async fn load_texts(client: &Client, table: &str, texts: &[String]) {
    client
        .batch_execute(&format!(
            "DROP TABLE IF EXISTS {table}; CREATE TABLE {table} (id BIGINT, t TEXT)"
        ))
        .await
        .expect("create table");
    let mut data = String::new();
    for (i, t) in texts.iter().enumerate() {
        data.push_str(&format!("{i}\t{t}\n"));
    }
    lakehouse_tests::copy_in(client, &format!("COPY {table} FROM STDIN"), data.as_bytes())
        .await
        .expect("copy texts");
}

async fn embed_throughput(
    server: &TestServer,
    client: &Client,
    table: &str,
    n: usize,
) -> (f64, f64, f64) {
    let pid = server.pid().expect("server pid");
    let cpu_before = cpu_seconds(pid);
    let started = Instant::now();
    let rows = client
        .query(&format!("SELECT embed(t) FROM {table}"), &[])
        .await
        .expect("embed all");
    let seconds = started.elapsed().as_secs_f64();
    assert_eq!(rows.len(), n);
    let cpu = cpu_seconds(pid) - cpu_before;
    (n as f64 / seconds, seconds, cpu)
}

/// The same texts through onnxruntime (tests/bench/onnx_embed.py: the same
/// weights as an ONNX graph, same batching), while the server idles; prints
/// each rate, the ratio and the targets.
fn onnxruntime_peer(sets: &[(&Vec<String>, f64, f64)]) {
    let bench = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("bench");
    let python = match std::process::Command::new(bench.join("setup-venv")).output() {
        Ok(out) if out.status.success() => String::from_utf8_lossy(&out.stdout).trim().to_string(),
        _ => {
            println!("| onnxruntime peer | not run: tests/bench/setup-venv failed |");
            return;
        }
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let mut files = Vec::new();
    for (i, (texts, _, _)) in sets.iter().enumerate() {
        let path = dir.path().join(format!("texts{i}.txt"));
        std::fs::write(&path, texts.join("\n")).expect("texts file");
        files.push(path);
    }
    let out = std::process::Command::new(python)
        .arg(bench.join("onnx_embed.py"))
        .arg(lakehouse_tests::models_dir().join("all-minilm-l6-v2"))
        .args(&files)
        .output()
        .expect("onnx_embed.py");
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        println!(
            "| onnxruntime peer | failed: {} |",
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .last()
                .unwrap_or("")
        );
        return;
    }
    let rates: Vec<f64> = stdout
        .lines()
        .filter_map(|l| l.split_whitespace().nth(3)?.parse().ok())
        .collect();
    for ((texts, ours, target), peer) in sets.iter().zip(rates) {
        let ratio = ours / peer;
        println!(
            "| {} texts: embed() {ours:.1}/s vs onnxruntime {peer:.1}/s | {ratio:.2}x; targets >= {target}/s: {}, >= 1.0x: {} |",
            texts.len(),
            if *ours >= *target { "met" } else { "MISSED" },
            if ratio >= 1.0 { "met" } else { "MISSED" }
        );
    }
}

#[tokio::main]
async fn main() {
    let index_rows: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(10_000);
    println!(
        "bench-ai: lakehouse = {}, models = {}",
        lakehouse_tests::server_binary().display(),
        lakehouse_tests::models_dir().display()
    );
    let server = TestServer::start();
    let (client, notices) = server.client_with_notices().await;
    // Loads the embedding model outside the measurements.
    let row = client
        .query_one(
            "SELECT embed('A man is eating food.'), embed('A man is eating a piece of bread.')",
            &[],
        )
        .await
        .expect("embed pair");
    let (a, b): (Vec<f32>, Vec<f32>) = (row.get(0), row.get(1));
    let cosine: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();

    println!();
    println!("| measurement | result |");
    println!("|---|---|");
    println!(
        "| cosine('A man is eating food.', 'A man is eating a piece of bread.') | {cosine:.4} (sentence-transformers: 0.7553) |"
    );

    // 1. Throughput.
    let shorts: Vec<String> = (0..1000).map(short_sentence).collect();
    load_texts(&client, "short_texts", &shorts).await;
    let (rate, secs, cpu) = embed_throughput(&server, &client, "short_texts", shorts.len()).await;
    let short_rate = rate;
    println!(
        "| embed() 1000 short sentences (~12 tokens) | {rate:.0} texts/s ({secs:.2} s, {cpu:.2} server CPU-s, {:.2} ms CPU per text) |",
        cpu * 1000.0 / shorts.len() as f64
    );
    let passages: Vec<String> = (0..200).map(passage).collect();
    load_texts(&client, "passages", &passages).await;
    let (rate, secs, cpu) = embed_throughput(&server, &client, "passages", passages.len()).await;
    println!(
        "| embed() 200 passages (~100 tokens) | {rate:.1} texts/s ({secs:.2} s, {cpu:.2} server CPU-s, {:.1} ms CPU per text) |",
        cpu * 1000.0 / 200.0
    );
    onnxruntime_peer(&[(&shorts, short_rate, 150.0), (&passages, rate, 20.0)]);

    // 2. Latency of one embed.
    let mut samples = Vec::new();
    for i in 0..50 {
        let started = Instant::now();
        client
            .query_one(
                &format!("SELECT embed('{}')", short_sentence(i * 13 + 5)),
                &[],
            )
            .await
            .expect("embed one");
        samples.push(started.elapsed());
    }
    println!(
        "| single embed('...') round trip, 50 queries | p50 {:.1} ms, p95 {:.1} ms |",
        percentile(&mut samples, 0.5),
        percentile(&mut samples, 0.95)
    );

    // 3. Index build.
    let docs: Vec<String> = (0..index_rows)
        .map(|i| short_sentence(i) + " " + &short_sentence(i + 7))
        .collect();
    load_texts(&client, "docs", &docs).await;
    let started = Instant::now();
    let job: i64 = client
        .query_one(
            "SELECT job_id FROM create_vector_index('docs_idx', 'docs', 't')",
            &[],
        )
        .await
        .expect("create index")
        .get(0);
    let job_seconds = wait_for_job(&client, job, Duration::from_secs(3600)).await;
    let wall = started.elapsed().as_secs_f64();
    let chunks: i64 = client
        .query_one(
            "SELECT rows FROM lakehouse.vector_indexes WHERE name = 'docs_idx'",
            &[],
        )
        .await
        .expect("index rows")
        .get(0);
    println!(
        "| create_vector_index over {index_rows} rows ({chunks} chunks; M=16, ef_construction=128) | {wall:.1} s to done (job {job_seconds:.1} s), {:.0} chunks/s |",
        chunks as f64 / wall
    );

    // 4. Search latency over the wire.
    let vector: Vec<f32> = client
        .query_one("SELECT embed('a nurse reviews patient charts')", &[])
        .await
        .expect("query vector")
        .get(0);
    let array = format!(
        "ARRAY[{}]",
        vector
            .iter()
            .map(|v| v.to_string())
            .collect::<Vec<_>>()
            .join(",")
    );
    for (label, options) in [
        ("HNSW (ef_search=64)", ""),
        ("exact scan (peer)", ", 'exact'"),
    ] {
        let mut text_samples = Vec::new();
        let mut vector_samples = Vec::new();
        for i in 0..200 {
            let sql = format!(
                "SELECT key FROM vector_search('docs_idx', '{}', 10{options})",
                short_sentence(i * 31 + 3)
            );
            let started = Instant::now();
            let rows = client.query(&sql, &[]).await.expect("search");
            text_samples.push(started.elapsed());
            assert_eq!(rows.len(), 10);
            let sql = format!("SELECT key FROM vector_search('docs_idx', {array}, 10{options})");
            let started = Instant::now();
            client.query(&sql, &[]).await.expect("vector search");
            vector_samples.push(started.elapsed());
        }
        println!(
            "| vector_search k=10 over {chunks} chunks, {label}: text query (embeds it) / vector query | p50 {:.2} ms, p95 {:.2} ms / p50 {:.2} ms, p95 {:.2} ms |",
            percentile(&mut text_samples, 0.5),
            percentile(&mut text_samples, 0.95),
            percentile(&mut vector_samples, 0.5),
            percentile(&mut vector_samples, 0.95)
        );
    }

    // 5. rag.
    client
        .batch_execute(
            "CREATE TABLE kb (id BIGINT, body TEXT); \
             INSERT INTO kb VALUES \
             (1, 'James Carter holds a Class A CDL with a hazmat endorsement and drives long-haul routes.'), \
             (2, 'Maria Lopez operates forklifts on the night shift in a cold-storage warehouse.'), \
             (3, 'Peter Walsh has a Class B commercial driver license and delivers fuel locally.'), \
             (4, 'Aisha Khan is an ICU nurse certified in BLS and ACLS.'), \
             (5, 'Tom Becker builds payment microservices in Java on Kubernetes.')",
        )
        .await
        .expect("kb");
    let job: i64 = client
        .query_one(
            "SELECT job_id FROM create_vector_index('kb_idx', 'kb', 'body')",
            &[],
        )
        .await
        .expect("kb index")
        .get(0);
    wait_for_job(&client, job, Duration::from_secs(3600)).await;
    let mut samples = Vec::new();
    let mut answer = String::new();
    for question in [
        "Which candidates hold a CDL license?",
        "Who can work nights in a warehouse?",
        "Which nurse has ACLS?",
    ] {
        let started = Instant::now();
        let rows = client
            .query(
                &format!("SELECT answer FROM rag('{question}', 'kb_idx', 5)"),
                &[],
            )
            .await
            .expect("rag");
        samples.push(started.elapsed());
        answer = rows[0].get(0);
    }
    let timings: Vec<String> = notices
        .after_round_trip(&client)
        .await
        .into_iter()
        .filter(|n| n.starts_with("rag:"))
        .collect();
    println!(
        "| rag(question, k=5), SmolLM2-135M Q8_0, 3 questions | p50 {:.2} s; {} |",
        percentile(&mut samples, 0.5) / 1000.0,
        timings.join(" / ")
    );
    println!();
    println!("last answer: {answer}");
    println!(
        "server peak RSS: {:.0} MB",
        server
            .pid()
            .map(lakehouse_tests::peak_rss_mb)
            .unwrap_or(f64::NAN)
    );
}
