//! `lakehouse serve`: starts the server with its configuration.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use lakehouse_config::{Config, Overrides};
use lakehouse_server::{ServerState, bind, serve};

#[derive(Parser)]
#[command(
    name = "lakehouse",
    version,
    about = "PostgreSQL-compatible SQL server over a Delta Lake",
    after_help = "Environment:\n  \
        LAKEHOUSE_PASSWORD   password of the admin role created at the first start \
        (without it one is generated and printed once)\n  \
        LAKEHOUSE_<KEY>      overrides any key of the configuration file, \
        e.g. LAKEHOUSE_LISTEN=127.0.0.1:6000, LAKEHOUSE_MEMORY_LIMIT=2GB"
)]
struct Cli {
    #[command(subcommand)]
    command: Commands,
}

#[derive(Subcommand)]
enum Commands {
    /// Run the server.
    Serve {
        /// TOML configuration file (see config/lakehouse.toml).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Data directory (overrides `data_dir`).
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// Listen address host:port (overrides `listen`).
        #[arg(long)]
        listen: Option<String>,
    },
}

fn main() -> ExitCode {
    // Every file and directory the server creates (tables, the role store,
    // spill files) is its own: 0600 / 0700.
    #[cfg(unix)]
    // SAFETY: umask only sets the process's file-creation mask.
    unsafe {
        libc::umask(0o077);
    }
    let cli = Cli::parse();
    let Commands::Serve {
        config,
        data_dir,
        listen,
    } = cli.command;
    let config = match Config::load(config.as_deref())
        .and_then(|c| c.with_overrides(Overrides { data_dir, listen }))
    {
        Ok(c) => c,
        Err(e) => {
            eprintln!("lakehouse: {e}");
            return ExitCode::from(2);
        }
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_new(config.log_filter())
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,lakehouse=info")),
        )
        // Colour codes only for a person reading a terminal, not in log files.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .init();
    // The wire (messages, logins, cancel requests) and query execution run on
    // separate runtimes, so a CPU-bound query never stalls a login.
    let runtimes = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("lakehouse-wire")
        // Statements are parsed and planned here: room for deep expressions
        // (the depth itself is bounded, see `expression_depth`).
        .thread_stack_size(THREAD_STACK)
        .build()
        .and_then(|wire| Ok((wire, query_runtime(config.query_threads)?)));
    let (runtime, queries) = match runtimes {
        Ok(r) => r,
        Err(e) => {
            eprintln!("lakehouse: cannot start runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let code = runtime.block_on(run(config, queries.handle().clone()));
    // Queries still running end with the process.
    queries.shutdown_background();
    code
}

/// The runtime queries execute on: `threads` workers (0: one per core), each
/// with a large stack (deep expressions recurse in the planner and the
/// evaluator) and, on Linux, a lower CPU priority than the wire threads.
fn query_runtime(threads: usize) -> std::io::Result<tokio::runtime::Runtime> {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if threads > 0 {
        builder.worker_threads(threads);
    }
    builder
        .enable_all()
        .thread_name("lakehouse-query")
        .thread_stack_size(THREAD_STACK)
        .on_thread_start(lower_thread_priority)
        .build()
}

/// Stack of a wire or query thread (address space; pages are committed
/// only as a deep statement touches them).
const THREAD_STACK: usize = 64 << 20;

/// Gives the calling thread a nice value of 5: under CPU contention the
/// wire threads (nice 0) are scheduled first.
fn lower_thread_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: setpriority with PRIO_PROCESS and a thread id changes only that
    // thread's nice value (Linux threads have their own); no memory is touched.
    unsafe {
        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
        let _ = libc::setpriority(libc::PRIO_PROCESS, tid, 5);
    }
}

async fn run(config: Config, queries: tokio::runtime::Handle) -> ExitCode {
    let state = match ServerState::open(config, queries).await {
        Ok(s) => Arc::new(s),
        Err(e) => {
            eprintln!("lakehouse: {e}");
            return ExitCode::FAILURE;
        }
    };
    let password = std::env::var("LAKEHOUSE_PASSWORD")
        .ok()
        .filter(|p| !p.is_empty());
    match state.roles.bootstrap_admin(
        &state.config.admin_user,
        password.as_deref(),
        state.config.scram_iterations,
    ) {
        Ok(Some(generated)) => {
            // Printed once: only the SCRAM verifier is stored.
            println!(
                "created admin role \"{}\" with password: {generated}",
                state.config.admin_user
            );
        }
        Ok(None) => {}
        Err(e) => {
            eprintln!("lakehouse: cannot create the admin role: {e}");
            return ExitCode::FAILURE;
        }
    }
    let listener = match bind(&state).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("lakehouse: {e}");
            return ExitCode::FAILURE;
        }
    };
    let addr = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    // Tests and scripts wait for this line.
    println!(
        "lakehouse listening on {addr} (database \"{}\", data in {})",
        state.config.database,
        state.catalog.store().data_dir().root().display()
    );
    let shutdown = async {
        let ctrl_c = tokio::signal::ctrl_c();
        #[cfg(unix)]
        {
            let mut term =
                match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                    Ok(t) => t,
                    Err(_) => {
                        let _ = ctrl_c.await;
                        return;
                    }
                };
            tokio::select! {
                _ = ctrl_c => {},
                _ = term.recv() => {},
            }
        }
        #[cfg(not(unix))]
        let _ = ctrl_c.await;
    };
    serve(state, listener, shutdown).await;
    println!("lakehouse stopped");
    ExitCode::SUCCESS
}
