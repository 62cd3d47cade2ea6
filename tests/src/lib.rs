//! Test harness: runs the real `lakehouse` binary and talks to it over TCP
//! with real clients (tokio-postgres, psql) and sqllogictest.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use tokio_postgres::{Client, NoTls, SimpleQueryMessage};

/// Password of the bootstrap admin in every test server.
pub const PASSWORD: &str = "test-secret";
pub const USER: &str = "lakehouse";

/// Path of the server binary: `$LAKEHOUSE_BIN`, or next to the test binary.
pub fn server_binary() -> PathBuf {
    if let Ok(p) = std::env::var("LAKEHOUSE_BIN") {
        return PathBuf::from(p);
    }
    // target/debug/deps/<test> -> target/debug/lakehouse
    let exe = std::env::current_exe().expect("test executable path");
    let bin = exe
        .parent()
        .and_then(Path::parent)
        .map(|d| d.join("lakehouse"))
        .expect("target directory");
    assert!(
        bin.exists(),
        "{} not found: build it first (`cargo build --workspace --bins`, as scripts/test does)",
        bin.display()
    );
    bin
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Where the models are: `$LAKEHOUSE_MODELS_DIR` (scripts/test sets it after
/// fetching them), else `<repo>/lakehouse-models`.
pub fn models_dir() -> PathBuf {
    std::env::var_os("LAKEHOUSE_MODELS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("..")
                .join("lakehouse-models")
        })
}

/// A running server with its own data directory and import root.
pub struct TestServer {
    child: Option<Child>,
    /// Extra environment (config overrides) for every start.
    env: Vec<(String, String)>,
    pub port: u16,
    /// The server's working directory: the first import root.
    pub work_dir: PathBuf,
    pub data_dir: PathBuf,
    _temp: tempfile::TempDir,
    pub stdout_lines: Vec<String>,
}

impl TestServer {
    pub fn start() -> TestServer {
        Self::start_with_env(&[])
    }

    /// Starts with extra `LAKEHOUSE_*` settings, e.g. another models directory.
    pub fn start_with_env(env: &[(&str, &str)]) -> TestServer {
        let temp = tempfile::tempdir().expect("temp dir");
        let work_dir = temp.path().join("work");
        std::fs::create_dir_all(&work_dir).expect("work dir");
        let data_dir = temp.path().join("data");
        let mut server = TestServer {
            child: None,
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            port: free_port(),
            work_dir,
            data_dir,
            _temp: temp,
            stdout_lines: Vec::new(),
        };
        server.spawn();
        server
    }

    fn spawn(&mut self) {
        let mut child = Command::new(server_binary())
            .arg("serve")
            .arg("--data-dir")
            .arg(&self.data_dir)
            .arg("--listen")
            .arg(format!("127.0.0.1:{}", self.port))
            .current_dir(&self.work_dir)
            .env("LAKEHOUSE_PASSWORD", PASSWORD)
            .env("LAKEHOUSE_LOG", "warn")
            .env("LAKEHOUSE_MODELS_DIR", models_dir())
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn lakehouse");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            match rx.recv_timeout(Duration::from_millis(200)) {
                Ok(line) => {
                    let ready = line.contains("listening on");
                    self.stdout_lines.push(line);
                    if ready {
                        break;
                    }
                }
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                    if let Ok(Some(status)) = child.try_wait() {
                        panic!(
                            "lakehouse exited early with {status}: {:?}",
                            self.stdout_lines
                        );
                    }
                    assert!(Instant::now() < deadline, "lakehouse did not start in 60s");
                }
                Err(_) => panic!("lakehouse closed stdout: {:?}", self.stdout_lines),
            }
        }
        self.child = Some(child);
    }

    /// The server's process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Stops the server with SIGKILL: no shutdown code runs.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stops with SIGTERM (graceful), waiting for exit.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(child.id().to_string())
                .status();
            let deadline = Instant::now() + Duration::from_secs(20);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Restarts on the same data directory and port.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    /// Starts again after [`TestServer::kill9`].
    pub fn start_again(&mut self) {
        self.spawn();
    }

    pub fn conn_string(&self, user: &str, password: &str, db: &str) -> String {
        format!(
            "host=127.0.0.1 port={} user={user} password={password} dbname={db} connect_timeout=10",
            self.port
        )
    }

    /// An admin client that also collects the NOTICEs the server sends.
    pub async fn client_with_notices(&self) -> (Client, NoticeLog) {
        connect_with_notices(&self.conn_string(USER, PASSWORD, "lakehouse"))
            .await
            .expect("connect")
    }

    /// A tokio-postgres client as the admin.
    pub async fn client(&self) -> Client {
        self.try_client(USER, PASSWORD, "lakehouse")
            .await
            .expect("connect")
    }

    pub async fn try_client(
        &self,
        user: &str,
        password: &str,
        db: &str,
    ) -> Result<Client, tokio_postgres::Error> {
        connect(&self.conn_string(user, password, db)).await
    }

    /// Runs `psql` with `args` (after the connection options), no psqlrc.
    pub fn psql(&self, args: &[&str]) -> Output {
        Command::new("psql")
            .args([
                "-X",
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                USER,
                "-d",
                "lakehouse",
            ])
            .args(args)
            .current_dir(&self.work_dir)
            .env("PGPASSWORD", PASSWORD)
            .env("PGCONNECT_TIMEOUT", "10")
            .output()
            .expect("run psql (install postgresql-client)")
    }

    /// Writes a file into the import root.
    pub fn write_file(&self, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let path = self.work_dir.join(name);
        std::fs::write(&path, contents).expect("write test file");
        path
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// Polls `lakehouse.jobs` until job `job` is done; panics if it fails or takes
/// longer than `timeout`. Returns the job's own duration (finished - started), s.
pub async fn wait_for_job(client: &Client, job: i64, timeout: Duration) -> f64 {
    let deadline = Instant::now() + timeout;
    loop {
        let row = client
            .query_one(
                "SELECT state, error, extract(epoch FROM finished - started) \
                 FROM lakehouse.jobs WHERE id = $1",
                &[&job],
            )
            .await
            .expect("job row");
        let state: String = row.get(0);
        match state.as_str() {
            "done" => return row.get::<_, Option<f64>>(2).unwrap_or(f64::NAN),
            "failed" => panic!("job {job} failed: {:?}", row.get::<_, Option<String>>(1)),
            _ => {}
        }
        assert!(
            Instant::now() < deadline,
            "job {job} still {state} after {timeout:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Peak resident set size of a process (VmHWM), in MB.
pub fn peak_rss_mb(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}

/// CPU time (user + system, all threads) a process has used, in seconds.
pub fn cpu_seconds(pid: u32) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return f64::NAN;
    };
    // Fields after the parenthesised command name; utime and stime are 14 and 15.
    let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
        return f64::NAN;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(f64::NAN)
    };
    // `rest` starts at field 3 (state), so field n is at index n - 3.
    (ticks(11) + ticks(12)) / 100.0
}

/// Connects with a libpq-style connection string; the connection runs on its
/// own task.
pub async fn connect(conn_string: &str) -> Result<Client, tokio_postgres::Error> {
    let (client, connection) = tokio_postgres::connect(conn_string, NoTls).await?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(client)
}

/// The NOTICE messages a connection has received.
#[derive(Clone, Default)]
pub struct NoticeLog(std::sync::Arc<std::sync::Mutex<Vec<String>>>);

impl NoticeLog {
    /// Every notice so far, after one more round trip on `client`: the server
    /// sends queued notices (e.g. of background jobs) with a statement's response.
    pub async fn after_round_trip(&self, client: &Client) -> Vec<String> {
        client.simple_query("SELECT 1").await.expect("round trip");
        self.0.lock().map(|l| l.clone()).unwrap_or_default()
    }
}

/// Like [`connect`], also collecting the NOTICE messages the server sends.
pub async fn connect_with_notices(
    conn_string: &str,
) -> Result<(Client, NoticeLog), tokio_postgres::Error> {
    let (client, mut connection) = tokio_postgres::connect(conn_string, NoTls).await?;
    let notices = NoticeLog::default();
    let sink = notices.0.clone();
    tokio::spawn(async move {
        let mut messages = futures::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(Ok(message)) = futures::StreamExt::next(&mut messages).await {
            if let tokio_postgres::AsyncMessage::Notice(notice) = message
                && let Ok(mut list) = sink.lock()
            {
                list.push(notice.message().to_string());
            }
        }
    });
    Ok((client, notices))
}

/// Runs `COPY ... FROM STDIN` sending `data` in chunks of at most 1 MiB;
/// returns the row count the server reported.
pub async fn copy_in(
    client: &Client,
    sql: &str,
    data: &[u8],
) -> Result<u64, tokio_postgres::Error> {
    use futures::SinkExt;
    let sink = client.copy_in(sql).await?;
    futures::pin_mut!(sink);
    for chunk in data.chunks(1 << 20) {
        sink.send(bytes::Bytes::copy_from_slice(chunk)).await?;
    }
    sink.finish().await
}

/// Runs one statement with the simple protocol; each row as strings, NULL as "NULL".
pub async fn simple_rows(
    client: &Client,
    sql: &str,
) -> Result<Vec<Vec<String>>, tokio_postgres::Error> {
    let mut rows = Vec::new();
    for message in client.simple_query(sql).await? {
        if let SimpleQueryMessage::Row(row) = message {
            rows.push(
                (0..row.len())
                    .map(|i| row.get(i).unwrap_or("NULL").to_string())
                    .collect(),
            );
        }
    }
    Ok(rows)
}

/// The SQLSTATE of a failed statement.
pub fn sqlstate(e: &tokio_postgres::Error) -> String {
    e.code()
        .map(|c| c.code().to_string())
        .unwrap_or_else(|| format!("no sqlstate: {e}"))
}

/// sqllogictest over the wire, simple query protocol.
pub struct SltConnection {
    client: Client,
}

impl SltConnection {
    pub fn new(client: Client) -> Self {
        SltConnection { client }
    }
}

#[derive(Debug)]
pub struct SltError(pub tokio_postgres::Error);

impl std::fmt::Display for SltError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0.as_db_error() {
            // The SQLSTATE too, so a `statement error` can pin it.
            Some(db) => write!(f, "{} (SQLSTATE {})", db.message(), db.code().code()),
            None => write!(f, "{}", self.0),
        }
    }
}

impl std::error::Error for SltError {}

#[async_trait::async_trait]
impl sqllogictest::AsyncDB for SltConnection {
    type Error = SltError;
    type ColumnType = sqllogictest::DefaultColumnType;

    async fn run(
        &mut self,
        sql: &str,
    ) -> Result<sqllogictest::DBOutput<Self::ColumnType>, Self::Error> {
        let messages = self.client.simple_query(sql).await.map_err(SltError)?;
        let mut rows = Vec::new();
        let mut columns = 0;
        let mut had_rows = false;
        let mut count = 0;
        for message in messages {
            match message {
                SimpleQueryMessage::RowDescription(desc) => {
                    had_rows = true;
                    columns = desc.len();
                }
                SimpleQueryMessage::Row(row) => {
                    had_rows = true;
                    columns = row.len();
                    rows.push(
                        (0..row.len())
                            .map(|i| match row.get(i) {
                                None => "NULL".to_string(),
                                Some("") => "(empty)".to_string(),
                                Some(v) => v.to_string(),
                            })
                            .collect(),
                    );
                }
                SimpleQueryMessage::CommandComplete(n) => count = n,
                _ => {}
            }
        }
        if had_rows {
            Ok(sqllogictest::DBOutput::Rows {
                types: vec![sqllogictest::DefaultColumnType::Any; columns],
                rows,
            })
        } else {
            Ok(sqllogictest::DBOutput::StatementComplete(count))
        }
    }

    async fn shutdown(&mut self) {}

    fn engine_name(&self) -> &str {
        "lakehouse"
    }

    async fn sleep(dur: Duration) {
        tokio::time::sleep(dur).await;
    }

    fn error_sql_state(err: &Self::Error) -> Option<String> {
        err.0.code().map(|c| c.code().to_string())
    }
}
