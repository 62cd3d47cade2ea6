//! HNSW tuning through SQL on a small index over a vector column (no model
//! needed): eval sets, trials, hnsw_best, hnsw_apply hot swaps under load,
//! quantization, the embedding cache, and durability across a restart.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use lakehouse_tests::{TestServer, sqlstate, wait_for_job};
use tokio_postgres::Client;

const ROWS: i64 = 2000;
const DIMS: i64 = 32;

/// 2000 pseudo-random 32-d vectors (uniform in [-0.5, 0.5), a hard case for
/// HNSW), made in SQL so the test needs no model.
async fn create_vectors(client: &Client) {
    client
        .batch_execute(&format!(
            "CREATE TABLE v AS \
             SELECT a.value AS id, \
                    array_agg(CAST(sin(a.value * 12.9898 + b.value * 78.233) * 43758.5453 \
                                   - floor(sin(a.value * 12.9898 + b.value * 78.233) * 43758.5453) \
                                   - 0.5 AS REAL) ORDER BY b.value) AS emb \
             FROM generate_series(0, {}) a, generate_series(0, {}) b GROUP BY a.value",
            ROWS - 1,
            DIMS - 1
        ))
        .await
        .expect("create vectors");
    let job: i64 = client
        .query_one(
            "SELECT job_id FROM create_vector_index('vt', 'v', 'emb', 'm=4,ef_construction=8,ef_search=8')",
            &[],
        )
        .await
        .expect("create_vector_index over a vector column")
        .get(0);
    wait_for_job(client, job, Duration::from_secs(120)).await;
}

struct Trial {
    id: i64,
    recall: f64,
    p50_ms: f64,
    reused: bool,
    memory_bytes: i64,
}

async fn trial(client: &Client, m: i64, efc: i64, ef: i64, quantization: &str) -> Trial {
    let row = client
        .query_one(
            &format!(
                "SELECT trial_id, recall, p50_ms, graph_reused, memory_bytes, vectors, m, ef_search, quantization \
                 FROM hnsw_trial('vt', 'e1', {m}, {efc}, {ef}, '{quantization}')"
            ),
            &[],
        )
        .await
        .expect("hnsw_trial");
    assert_eq!(row.get::<_, i64>(5), ROWS, "vectors");
    assert_eq!(row.get::<_, i64>(6), m);
    assert_eq!(row.get::<_, i64>(7), ef);
    assert_eq!(row.get::<_, String>(8), quantization);
    Trial {
        id: row.get(0),
        recall: row.get(1),
        p50_ms: row.get(2),
        reused: row.get(3),
        memory_bytes: row.get(4),
    }
}

async fn query_vector(client: &Client, id: i64) -> String {
    let row = client
        .query_one(
            "SELECT array_to_string(emb, ',') FROM v WHERE id = $1",
            &[&id],
        )
        .await
        .expect("vector of a row");
    format!("ARRAY[{}]", row.get::<_, String>(0))
}

#[tokio::test]
async fn trials_best_apply_and_restart() {
    let mut server = TestServer::start();
    let client = server.client().await;
    create_vectors(&client).await;

    // Eval set: reproducible sample, exact ground truth, listed.
    let row = client
        .query_one(
            "SELECT n_queries, k FROM hnsw_eval_autogen('vt', 'e1', 100)",
            &[],
        )
        .await
        .expect("hnsw_eval_autogen");
    assert_eq!((row.get::<_, i64>(0), row.get::<_, i64>(1)), (100, 10));
    let err = client
        .query("SELECT * FROM hnsw_eval_autogen('vt', 'e1', 100)", &[])
        .await
        .expect_err("duplicate eval set");
    assert_eq!(sqlstate(&err), "42710");
    let listed = client
        .query(
            "SELECT index_name, eval_name, n_queries, k, created FROM lakehouse.hnsw_evals",
            &[],
        )
        .await
        .expect("hnsw_evals");
    assert_eq!(listed.len(), 1);

    // Recall rises with ef_search; the second trial reuses the first's graph.
    let low = trial(&client, 4, 8, 10, "f32").await;
    let high = trial(&client, 4, 8, 200, "f32").await;
    assert!(!low.reused && high.reused);
    assert!(
        high.recall > low.recall,
        "recall at ef_search=200 ({}) not above ef_search=10 ({})",
        high.recall,
        low.recall
    );
    assert!(
        high.recall >= 0.8,
        "recall at ef_search=200: {}",
        high.recall
    );
    assert!(low.p50_ms > 0.0 && high.p50_ms > 0.0);
    // A denser graph, and its quantized twins: i8 stores 1/4 of the vector bytes.
    let dense = trial(&client, 32, 64, 64, "f32").await;
    let half = trial(&client, 32, 64, 64, "f16").await;
    let int8 = trial(&client, 32, 64, 64, "i8").await;
    assert!(dense.recall >= 0.95, "m=32 recall {}", dense.recall);
    assert!(half.recall >= 0.9 && int8.recall >= 0.5);
    assert!(
        int8.memory_bytes < half.memory_bytes && half.memory_bytes < dense.memory_bytes,
        "memory f32 {} f16 {} i8 {}",
        dense.memory_bytes,
        half.memory_bytes,
        int8.memory_bytes
    );

    // hnsw_best.
    let all = [&low, &high, &dense, &half, &int8];
    let best: i64 = client
        .query_one("SELECT trial_id FROM hnsw_best('vt', 'recall')", &[])
        .await
        .expect("best by recall")
        .get(0);
    let max_recall = all.iter().map(|t| t.recall).fold(0.0, f64::max);
    assert_eq!(
        all.iter().find(|t| t.id == best).map(|t| t.recall),
        Some(max_recall)
    );
    let fastest: i64 = client
        .query_one("SELECT trial_id FROM hnsw_best('vt', 'latency')", &[])
        .await
        .expect("best by latency")
        .get(0);
    let min_p50 = all.iter().map(|t| t.p50_ms).fold(f64::MAX, f64::min);
    assert_eq!(
        all.iter().find(|t| t.id == fastest).map(|t| t.p50_ms),
        Some(min_p50)
    );
    let front = client
        .query(
            "SELECT trial_id, recall, p50_ms FROM hnsw_best('vt', 'pareto')",
            &[],
        )
        .await
        .expect("pareto");
    assert!(!front.is_empty());
    for row in &front {
        let (recall, p50): (f64, f64) = (row.get(1), row.get(2));
        assert!(
            !all.iter().any(|t| t.recall > recall && t.p50_ms < p50),
            "trial {} on the front is dominated",
            row.get::<_, i64>(0)
        );
    }

    // Hot swaps while 4 clients search without pause: no search may fail.
    let stop = Arc::new(AtomicBool::new(false));
    let searches = Arc::new(AtomicUsize::new(0));
    let mut readers = Vec::new();
    for r in 0..4 {
        let reader = server.client().await;
        let query = query_vector(&client, 17 + r).await;
        let (stop, searches) = (stop.clone(), searches.clone());
        readers.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let rows = reader
                    .query(
                        &format!("SELECT key FROM vector_search('vt', {query}, 10)"),
                        &[],
                    )
                    .await
                    .expect("vector_search during hnsw_apply");
                assert_eq!(rows.len(), 10);
                searches.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    let before: i64 = client
        .query_one(
            "SELECT generation FROM lakehouse.vector_indexes WHERE name = 'vt'",
            &[],
        )
        .await
        .expect("generation")
        .get(0);
    for (i, applied) in [&dense, &int8, &high, &dense].iter().enumerate() {
        let row = client
            .query_one(
                &format!(
                    "SELECT state, generation FROM hnsw_apply('vt', {})",
                    applied.id
                ),
                &[],
            )
            .await
            .expect("hnsw_apply");
        assert_eq!(row.get::<_, String>(0), "serving");
        assert_eq!(row.get::<_, Option<i64>>(1), Some(before + 1 + i as i64));
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    stop.store(true, Ordering::Relaxed);
    for reader in readers {
        reader.await.expect("reader task");
    }
    assert!(
        searches.load(Ordering::Relaxed) >= 8,
        "readers made progress"
    );
    let row = client
        .query_one(
            "SELECT generation, m, ef_construction, ef_search, quantization \
             FROM lakehouse.vector_indexes WHERE name = 'vt'",
            &[],
        )
        .await
        .expect("serving generation");
    assert_eq!(row.get::<_, i64>(0), before + 4);
    assert_eq!(
        (
            row.get::<_, i64>(1),
            row.get::<_, i64>(2),
            row.get::<_, i64>(3)
        ),
        (32, 64, 64)
    );
    assert_eq!(row.get::<_, String>(4), "f32");
    // Only the serving generation's graph file is left.
    let graphs: Vec<String> = std::fs::read_dir(server.data_dir.join("vectors/vt"))
        .expect("graphs dir")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('g'))
        .collect();
    assert_eq!(graphs, vec![format!("g{}.usearch", before + 4)]);

    // The embedding cache served all of it from one load.
    let row = client
        .query_one(
            "SELECT entries, dims, bytes, hits, loads FROM lakehouse.cache \
             WHERE kind = 'embeddings' AND name = 'vt'",
            &[],
        )
        .await
        .expect("cache row");
    assert_eq!((row.get::<_, i64>(0), row.get::<_, i64>(1)), (ROWS, DIMS));
    assert!(row.get::<_, i64>(2) >= ROWS * DIMS * 4);
    assert!(row.get::<_, i64>(3) > 8, "hits {}", row.get::<_, i64>(3));
    assert_eq!(row.get::<_, i64>(4), 1, "loads");

    // A trial whose graph is gone is rebuilt by a background job, then served.
    std::fs::remove_dir_all(server.data_dir.join("vectors/vt/trials")).expect("drop kept graphs");
    let row = client
        .query_one(
            &format!("SELECT state, job_id FROM hnsw_apply('vt', {})", low.id),
            &[],
        )
        .await
        .expect("hnsw_apply with a build");
    assert_eq!(row.get::<_, String>(0), "queued");
    wait_for_job(&client, row.get(1), Duration::from_secs(60)).await;
    let row = client
        .query_one(
            "SELECT generation, m, ef_search FROM lakehouse.vector_indexes WHERE name = 'vt'",
            &[],
        )
        .await
        .expect("after the apply job");
    assert_eq!(
        (
            row.get::<_, i64>(0),
            row.get::<_, i64>(1),
            row.get::<_, i64>(2)
        ),
        (before + 5, 4, 10)
    );

    // Errors name what is wrong; nothing is journaled by a failed call.
    for (sql, state) in [
        ("SELECT * FROM hnsw_trial('vt', 'nope', 4, 8, 10)", "42704"),
        ("SELECT * FROM hnsw_trial('nope', 'e1', 4, 8, 10)", "42704"),
        ("SELECT * FROM hnsw_trial('vt', 'e1', 65, 8, 10)", "22023"),
        (
            "SELECT * FROM hnsw_trial('vt', 'e1', 4, 8, 10, 'f8')",
            "22023",
        ),
        ("SELECT * FROM hnsw_apply('vt', 999)", "42704"),
        ("SELECT * FROM hnsw_best('vt', 'speed')", "22023"),
        ("SELECT * FROM vector_search('vt', 'some text', 5)", "22023"),
        (
            "SELECT * FROM vector_search('vt', ARRAY[1.0, 2.0], 5)",
            "22000",
        ),
    ] {
        let err = client.query(sql, &[]).await.expect_err(sql);
        assert_eq!(sqlstate(&err), state, "{sql}: {err:?}");
    }

    // The journals are Delta tables: they survive a restart, trial ids go on.
    let trials_before: i64 = client
        .query_one("SELECT count(*) FROM lakehouse.hnsw_trials", &[])
        .await
        .expect("count")
        .get(0);
    assert_eq!(trials_before, 5);
    drop(client);
    server.restart();
    let client = server.client().await;
    let ids: Vec<i64> = client
        .query(
            "SELECT trial_id FROM lakehouse.hnsw_trials ORDER BY trial_id",
            &[],
        )
        .await
        .expect("trials after restart")
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(ids, vec![1, 2, 3, 4, 5]);
    let again = trial(&client, 4, 8, 50, "f32").await;
    assert_eq!(again.id, 6);
    // The served generation (m=4: too sparse to promise the exact answer)
    // loads from its file; the exact scan finds the row itself.
    let query = query_vector(&client, 5).await;
    for (options, check_first) in [("", false), (", 'exact'", true)] {
        let rows = client
            .query(
                &format!("SELECT key FROM vector_search('vt', {query}, 3{options})"),
                &[],
            )
            .await
            .expect("search after restart");
        assert_eq!(rows.len(), 3);
        if check_first {
            assert_eq!(rows[0].get::<_, i64>(0), 5);
        }
    }
}

/// `real[]` columns load through COPY (PostgreSQL `{...}` and pgvector `[...]`
/// forms), and vector_search takes a `'{...}'::real[]` literal.
#[tokio::test]
async fn copy_vectors_and_array_literal_queries() {
    let server = TestServer::start();
    let client = server.client().await;
    client
        .batch_execute("CREATE TABLE pts (id BIGINT, emb REAL[])")
        .await
        .expect("create");
    let data = "1,\"{1,0,0}\"\n2,\"[0,1,0]\"\n3,\"{0.9, 0.1, 0}\"\n4,\n";
    lakehouse_tests::copy_in(&client, "COPY pts FROM STDIN (FORMAT csv)", data.as_bytes())
        .await
        .expect("COPY real[]");
    let rows = client
        .query("SELECT id, emb FROM pts ORDER BY id", &[])
        .await
        .expect("read back");
    assert_eq!(rows.len(), 4);
    assert_eq!(
        rows[2].get::<_, Option<Vec<f32>>>(1),
        Some(vec![0.9, 0.1, 0.0])
    );
    assert_eq!(rows[3].get::<_, Option<Vec<f32>>>(1), None);
    // A malformed array names its line; nothing is committed.
    let err = lakehouse_tests::copy_in(
        &client,
        "COPY pts FROM STDIN (FORMAT csv)",
        b"5,\"{1,0,0}\"\n6,\"{1,x,0}\"\n",
    )
    .await
    .expect_err("bad array");
    assert_eq!(sqlstate(&err), "22P02");
    let message = err
        .as_db_error()
        .map(|e| e.message().to_string())
        .unwrap_or_default();
    assert!(message.contains("STDIN:2"), "{message}");
    let count: i64 = client
        .query_one("SELECT count(*) FROM pts", &[])
        .await
        .expect("count")
        .get(0);
    assert_eq!(count, 4);

    let job: i64 = client
        .query_one(
            "SELECT job_id FROM create_vector_index('pts_idx', 'pts', 'emb')",
            &[],
        )
        .await
        .expect("index")
        .get(0);
    wait_for_job(&client, job, Duration::from_secs(60)).await;
    for query in [
        "'{1,0.05,0}'::real[]",
        "'[1,0.05,0]'::real[]",
        "'[1,0.05,0]'::vector(3)",
        "CAST('{1,0.05,0}' AS double precision[])",
        "ARRAY[1, 0.05, 0]",
    ] {
        let keys: Vec<i64> = client
            .query(
                &format!("SELECT key FROM vector_search('pts_idx', {query}, 2)"),
                &[],
            )
            .await
            .expect(query)
            .iter()
            .map(|r| r.get(0))
            .collect();
        assert_eq!(keys, vec![1, 3], "{query}");
    }
    let err = client
        .query(
            "SELECT * FROM vector_search('pts_idx', '{1,oops}'::real[], 2)",
            &[],
        )
        .await
        .expect_err("malformed vector literal");
    assert_eq!(sqlstate(&err), "22023");
    // The same text form anywhere else: a real[] value.
    let row = client
        .query_one(
            "SELECT '[0.5, -1]'::real[] AS v, vector_literal('{2,NULL}') AS w",
            &[],
        )
        .await
        .expect("vector literals as values");
    assert_eq!(row.get::<_, Vec<f32>>(0), vec![0.5, -1.0]);
    assert_eq!(row.get::<_, Vec<Option<f32>>>(1), vec![Some(2.0), None]);
}
