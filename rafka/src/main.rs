//! The `rafka` binary: parses the command line like `kafka-server-start.sh`, loads the
//! properties file, starts the broker and shuts it down cleanly on SIGINT/SIGTERM.
//! `rafka dump-log FILE...` runs the segment dump tool instead, `rafka bench-log` the log
//! storage benchmark (see `tools`).

mod tools;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use rafka_core::config::KafkaConfig;
use rafka_core::server::KafkaServer;
use tracing::{error, info, warn};

/// A Kafka ZooKeeper-mode compatible broker.
#[derive(Parser, Debug)]
#[command(name = "rafka", version, about, after_help = tools::TOOLS_HELP)]
struct Cli {
    /// Log level (error, warn, info, debug, trace) or a tracing filter; RUST_LOG wins if set.
    #[arg(
        short = 'v',
        long = "log-level",
        value_name = "LEVEL",
        default_value = "info"
    )]
    log_level: String,

    /// The broker's properties file (Kafka's server.properties format).
    #[arg(value_name = "CONFIG")]
    config: PathBuf,

    /// Overrides a property from the file: --override key=value (repeatable).
    #[arg(long = "override", value_name = "KEY=VALUE")]
    overrides: Vec<String>,
}

fn init_logging(level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(level))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colours only on a terminal: log files and CI output stay plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(true)
        .init();
}

fn main() -> ExitCode {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if let Some(code) = tools::run_tool(&args) {
        return code;
    }
    let cli = Cli::parse_from(args);
    init_logging(&cli.log_level);
    let config = match KafkaConfig::load(&cli.config, &cli.overrides) {
        Ok(c) => c,
        Err(e) => {
            error!(config = %cli.config.display(), "{e}");
            eprintln!("rafka: {e}");
            return ExitCode::from(1);
        }
    };
    for key in config.unknown_keys() {
        warn!("The configuration '{key}' was supplied but isn't a known config.");
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("rafka: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    runtime.block_on(run(config))
}

async fn run(config: KafkaConfig) -> ExitCode {
    // Register the handlers before startup: a SIGTERM that arrives while the broker is still
    // starting is then held and handled by a clean shutdown right after startup, instead of
    // killing the process with its registration and logs half written.
    let mut signals = match ShutdownSignals::install() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("rafka: cannot install signal handlers: {e}");
            return ExitCode::from(1);
        }
    };
    let server = match KafkaServer::startup(config).await {
        Ok(s) => s,
        Err(e) => {
            error!("Fatal error during KafkaServer startup. Prepare to shutdown: {e}");
            eprintln!("rafka: fatal error during startup: {e}");
            return ExitCode::from(1);
        }
    };
    signals.wait().await;
    server.shutdown().await;
    info!("exiting");
    ExitCode::SUCCESS
}

/// SIGTERM and SIGINT, the two signals that ask for a clean shutdown.
struct ShutdownSignals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
}

impl ShutdownSignals {
    fn install() -> std::io::Result<ShutdownSignals> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(ShutdownSignals {
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
        })
    }

    async fn wait(&mut self) {
        tokio::select! {
            _ = self.term.recv() => info!("received SIGTERM"),
            _ = self.int.recv() => info!("received SIGINT"),
        }
    }
}
