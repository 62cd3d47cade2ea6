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
    about = "PostgreSQL-compatible SQL server over a Delta Lake"
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
            tracing_subscriber::EnvFilter::try_new(&config.log)
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("lakehouse: cannot start runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(run(config))
}

async fn run(config: Config) -> ExitCode {
    let state = match ServerState::open(config).await {
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
