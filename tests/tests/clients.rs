//! The client compatibility matrix: the same checks (tests/clients/matrix.py,
//! real psycopg2, psycopg 3, asyncpg, SQLAlchemy 2 and pandas from PyPI;
//! tests/clients/matrix.mjs, node `pg` from npm; tests/clients/Matrix.java,
//! pgjdbc 42.5 from Debian; pgbench) run against the machine's
//! PostgreSQL on 127.0.0.1:5432 and against lakehouse, with the same tables and
//! rows. Every check that passes on PostgreSQL must pass on lakehouse, except the
//! gaps listed in KNOWN_GAPS, and a listed gap that starts passing fails the test
//! too, so the list is always the truth. The matrix is printed as a table.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

use lakehouse_tests::TestServer;

/// (client, check) pairs lakehouse does not pass yet, and why.
const KNOWN_GAPS: [(&str, &str, &str); 0] = [];

const SETUP: &str = "CREATE TABLE teams (id BIGINT PRIMARY KEY, name TEXT UNIQUE); \
    INSERT INTO teams VALUES (1, 'red'); \
    CREATE TABLE people (id BIGINT PRIMARY KEY, name TEXT, score DOUBLE PRECISION, active BOOLEAN, born DATE, seen TIMESTAMP, \
    team_id BIGINT REFERENCES teams (id)); \
    COMMENT ON TABLE people IS 'People we know'; \
    COMMENT ON COLUMN people.name IS 'Full name'; \
    INSERT INTO people VALUES (1, 'Ann', 3.5, true, '1990-01-02', '2024-01-02 03:04:05', 1), \
    (2, 'Bob', NULL, false, '1985-06-07', '2024-02-03 04:05:06', NULL); \
    CREATE TABLE people_copy (id BIGINT, name TEXT)";

/// pgjdbc 42.5 as Debian ships it.
const PGJDBC_JAR: &str = "/usr/share/java/postgresql.jar";

fn clients_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("clients")
}

/// Runs a `tests/clients/setup-*` script (installs the pinned clients once) and
/// returns what it prints: the venv's python, or the node_modules path.
fn setup(script: &str) -> String {
    let out = Command::new(clients_dir().join(script))
        .output()
        .unwrap_or_else(|e| panic!("run tests/clients/{script}: {e}"));
    assert!(
        out.status.success(),
        "{script} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// The matrix scripts, each as a command that takes the DSN as last argument.
struct Matrix {
    python: String,
    node_path: String,
}

impl Matrix {
    fn commands(&self) -> Vec<Command> {
        let mut python = Command::new(&self.python);
        python.arg(clients_dir().join("matrix.py"));
        let mut node = Command::new("node");
        node.arg(clients_dir().join("matrix.mjs"))
            .env("NODE_PATH", &self.node_path);
        // Source-file mode: no build step; the driver is Debian's
        // libpostgresql-jdbc-java (scripts/setup installs it).
        let mut java = Command::new("java");
        java.args(["-cp", PGJDBC_JAR])
            .arg(clients_dir().join("Matrix.java"))
            .env("BI_SYNC_SQL", clients_dir().join("bi_sync.sql"));
        vec![python, node, java]
    }

    /// Every check against `dsn`: (client, check) -> (ok, detail).
    fn run(&self, dsn: &str) -> BTreeMap<(String, String), Outcome> {
        let mut results = BTreeMap::new();
        for mut command in self.commands() {
            let out = command.arg(dsn).output().expect("run a matrix script");
            let stdout = String::from_utf8_lossy(&out.stdout).to_string();
            assert!(
                out.status.success() && !stdout.trim().is_empty(),
                "{command:?} failed on {dsn}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            results.extend(parse_results(&stdout));
        }
        results
    }
}

/// pgbench, 16 clients x 20 transactions of a select-only script, in simple and
/// extended query mode: ok when both exit 0 with no failed transaction.
fn pgbench(host_port: (&str, u16), user: &str, password: &str, db: &str, options: &str) -> Outcome {
    let script = std::env::temp_dir().join(format!("lh-pgbench-{}.sql", std::process::id()));
    let _ = std::fs::write(
        &script,
        "\\set id random(1, 2)\nSELECT name, score FROM people WHERE id = :id;\n",
    );
    let mut details = Vec::new();
    let mut ok = true;
    for mode in ["simple", "extended"] {
        let out = Command::new("pgbench")
            .args([
                "-n",
                "-M",
                mode,
                "-c",
                "16",
                "-j",
                "2",
                "-t",
                "20",
                "-h",
                host_port.0,
            ])
            .args(["-p", &host_port.1.to_string(), "-U", user, "-f"])
            .arg(&script)
            .arg(db)
            .env("PGPASSWORD", password)
            .env("PGOPTIONS", options)
            .output();
        match out {
            Ok(out) => {
                let text = String::from_utf8_lossy(&out.stdout).to_string()
                    + &String::from_utf8_lossy(&out.stderr);
                let clean = out.status.success()
                    && text.contains("number of failed transactions: 0 ")
                    && text.contains("number of transactions actually processed: 320/320");
                ok &= clean;
                let tps = text.lines().find(|l| l.starts_with("tps")).unwrap_or("");
                details.push(format!(
                    "{mode}: {}",
                    if clean { tps.to_string() } else { text }
                ));
            }
            Err(e) => {
                ok = false;
                details.push(format!("{mode}: cannot run pgbench: {e}"));
            }
        }
    }
    let _ = std::fs::remove_file(&script);
    Outcome::new(ok, details.join("; "))
}

/// One check's result on one server. `shape` is what a check reports that must
/// be the same on both servers (a psql display, the rows of a replayed query).
#[derive(Clone, Debug)]
struct Outcome {
    ok: bool,
    detail: String,
    shape: Option<String>,
}

impl Outcome {
    fn new(ok: bool, detail: String) -> Self {
        Self {
            ok,
            detail,
            shape: None,
        }
    }

    /// This outcome judged against PostgreSQL's: a pass whose shape differs
    /// from PostgreSQL's is a failure.
    fn against(self, reference: &Outcome) -> Outcome {
        match (&reference.shape, &self.shape) {
            (Some(expected), Some(got)) if self.ok && expected != got => Outcome::new(
                false,
                format!("differs from PostgreSQL: expected {expected:?}, got {got:?}"),
            ),
            _ => self,
        }
    }
}

fn parse_results(stdout: &str) -> BTreeMap<(String, String), Outcome> {
    stdout
        .lines()
        .map(|line| {
            let v: serde_json::Value = serde_json::from_str(line).expect("a JSON result line");
            let text = |k: &str| v[k].as_str().unwrap_or_default().to_string();
            (
                (text("client"), text("check")),
                Outcome {
                    ok: v["ok"].as_bool().unwrap_or(false),
                    detail: text("detail"),
                    shape: v["shape"].as_str().map(str::to_string),
                },
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_client_check_that_passes_on_postgres_passes_on_lakehouse() {
    let matrix = Matrix {
        python: setup("setup-venv"),
        node_path: setup("setup-node"),
    };

    // PostgreSQL: a schema of our own in the `test` database.
    let pg = lakehouse_tests::connect("host=127.0.0.1 port=5432 user=postgres dbname=test")
        .await
        .expect("the machine's PostgreSQL on 127.0.0.1:5432");
    pg.batch_execute(&format!(
        "DROP SCHEMA IF EXISTS lh_matrix CASCADE; CREATE SCHEMA lh_matrix; SET search_path = lh_matrix; {SETUP}"
    ))
    .await
    .expect("PostgreSQL tables");
    let mut reference = matrix
        .run("host=127.0.0.1 port=5432 user=postgres dbname=test options=-csearch_path=lh_matrix");
    let pgbench_check = (
        "pgbench".to_string(),
        "16 clients, select-only script".to_string(),
    );
    reference.insert(
        pgbench_check.clone(),
        pgbench(
            ("127.0.0.1", 5432),
            "postgres",
            "",
            "test",
            "-csearch_path=lh_matrix",
        ),
    );

    // lakehouse: the same schema, reached the same way (startup options).
    let server = TestServer::start();
    server
        .client()
        .await
        .batch_execute(&format!(
            "CREATE SCHEMA lh_matrix; SET search_path = lh_matrix; {SETUP}"
        ))
        .await
        .expect("lakehouse tables");
    let dsn = format!(
        "host=127.0.0.1 port={} user={} password={} dbname=lakehouse options=-csearch_path=lh_matrix",
        server.port,
        lakehouse_tests::USER,
        lakehouse_tests::PASSWORD
    );
    let mut ours = matrix.run(&dsn);
    ours.insert(
        pgbench_check,
        pgbench(
            ("127.0.0.1", server.port),
            lakehouse_tests::USER,
            lakehouse_tests::PASSWORD,
            "lakehouse",
            "-csearch_path=lh_matrix",
        ),
    );
    pg.batch_execute("DROP SCHEMA IF EXISTS lh_matrix CASCADE")
        .await
        .ok();

    println!("| client | check | PostgreSQL | lakehouse |");
    println!("|---|---|---|---|");
    let mut problems = Vec::new();
    for ((client, check), pg_outcome) in &reference {
        let (pg_ok, pg_detail) = (&pg_outcome.ok, &pg_outcome.detail);
        let Outcome { ok, detail, .. } = ours
            .get(&(client.clone(), check.clone()))
            .cloned()
            .unwrap_or_else(|| Outcome::new(false, "not run".into()))
            .against(pg_outcome);
        let mark = |ok: bool| if ok { "pass" } else { "FAIL" };
        println!(
            "| {client} | {check} | {} | {}{} |",
            mark(*pg_ok),
            mark(ok),
            if ok {
                String::new()
            } else {
                format!(": {}", detail.replace('\n', " "))
            }
        );
        let known = KNOWN_GAPS.iter().any(|(c, k, _)| c == client && k == check);
        match (*pg_ok, ok, known) {
            (false, _, _) => problems.push(format!(
                "{client} / {check} fails on PostgreSQL itself: {pg_detail}"
            )),
            (true, false, false) => problems.push(format!("{client} / {check}: {detail}")),
            (true, true, true) => problems.push(format!(
                "{client} / {check} passes now: remove it from KNOWN_GAPS"
            )),
            _ => {}
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
