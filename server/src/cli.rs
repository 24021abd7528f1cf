//! The command line (API.md, last section): `serve` (the default) and `admin …`.

use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::role::Role;
use crate::settings::{LogFormat, Overrides, Secret, Settings};

/// `taperlog-server`.
#[derive(Debug, Parser)]
#[command(
    name = "taperlog-server",
    version,
    about = "Taperlog's server",
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    /// What to do (default: serve).
    #[command(subcommand)]
    pub command: Option<Command>,
    /// `serve`'s options, also accepted without the word `serve`.
    #[command(flatten)]
    pub serve: ServeArgs,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server.
    Serve(ServeArgs),
    /// Operator commands on a data dir that no server holds.
    #[command(subcommand)]
    Admin(AdminCommand),
}

/// Options of `serve`.
#[derive(Debug, Args, Default)]
pub struct ServeArgs {
    /// Settings file (JSON); flags and environment override it.
    #[arg(long, env = "TAPERLOG_CONFIG")]
    pub config: Option<PathBuf>,
    /// Data directory [default: ./taperlog-data].
    #[arg(long, env = "TAPERLOG_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Address to listen on, ADDR:PORT (port 0 picks a free one) [default: 127.0.0.1:8080].
    #[arg(long, env = "TAPERLOG_LISTEN")]
    pub listen: Option<String>,
    /// Load a demo care team and cohort into an empty data dir and print the logins.
    #[arg(long)]
    pub demo: bool,
    /// Log format.
    #[arg(long, env = "TAPERLOG_LOG_FORMAT", value_enum)]
    pub log_format: Option<LogFormat>,
}

/// `admin …`.
#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Create a clinician, researcher or admin; the password is read from standard input.
    CreateUser {
        /// Data directory.
        #[arg(long, env = "TAPERLOG_DATA_DIR")]
        data_dir: PathBuf,
        /// Username.
        #[arg(long)]
        username: String,
        /// clinician, researcher or admin.
        #[arg(long)]
        role: Role,
    },
    /// Check the audit log's hash chain; names the first broken record.
    VerifyAudit {
        /// Data directory.
        #[arg(long, env = "TAPERLOG_DATA_DIR")]
        data_dir: PathBuf,
    },
}

/// Runs the command line; the binary's `main`.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = match cli.command {
        None => runtime.block_on(serve(cli.serve)),
        Some(Command::Serve(args)) => runtime.block_on(serve(args)),
        Some(Command::Admin(AdminCommand::CreateUser {
            data_dir,
            username,
            role,
        })) => runtime.block_on(create_user(data_dir, username, role)),
        Some(Command::Admin(AdminCommand::VerifyAudit { data_dir })) => verify_audit(data_dir),
    };
    match result {
        Ok(code) => code,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn env_secret(name: &str) -> Option<Secret> {
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .map(|v| Secret::new(v.into_bytes()))
}

fn init_tracing(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("TAPERLOG_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Plain => builder.try_init(),
    };
}

async fn serve(args: ServeArgs) -> Result<ExitCode, String> {
    let overrides = Overrides {
        data_dir: args.data_dir,
        listen: args.listen,
        log_format: args.log_format,
        jwt_secret: env_secret("TAPERLOG_JWT_SECRET"),
        pseudonym_secret: env_secret("TAPERLOG_PSEUDONYM_SECRET"),
    };
    let settings = Settings::load(args.config.as_deref(), overrides).map_err(|e| e.to_string())?;
    init_tracing(settings.log_format);
    tracing::info!(settings = ?settings, "starting");
    let listen = settings.listen.clone();
    let server = crate::Server::prepare(settings).map_err(|e| e.to_string())?;
    if args.demo {
        let state = server.state();
        if state.store.is_empty() {
            let cohort = crate::demo::load_demo(state)
                .await
                .map_err(|e| e.to_string())?;
            let mut out = std::io::stdout().lock();
            for line in cohort.login_lines() {
                let _ = writeln!(out, "{line}");
            }
        } else if crate::demo::demo_loaded(state).map_err(|e| e.to_string())? {
            eprintln!(
                "note: the demo was loaded into this data dir before; its logins were printed then"
            );
        } else {
            return Err(crate::demo::DemoError::NotEmpty.to_string());
        }
    }
    let listener = tokio::net::TcpListener::bind(&listen)
        .await
        .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let shutdown = shutdown_signal()?;
    {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "listening on http://{addr}");
        let _ = out.flush();
    }
    server
        .run(listener, shutdown)
        .await
        .map_err(|e| e.to_string())?;
    Ok(ExitCode::SUCCESS)
}

/// Installs the Ctrl-C and SIGTERM handlers now (so a signal arriving right after the
/// `listening on` line is not lost) and returns a future that completes on either.
pub fn shutdown_signal() -> Result<impl Future<Output = ()> + Send + 'static, String> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term =
            signal(SignalKind::terminate()).map_err(|e| format!("SIGTERM handler: {e}"))?;
        let mut int =
            signal(SignalKind::interrupt()).map_err(|e| format!("SIGINT handler: {e}"))?;
        Ok(async move {
            tokio::select! {
                _ = term.recv() => {},
                _ = int.recv() => {},
            }
            tracing::info!("shutdown requested");
        })
    }
    #[cfg(not(unix))]
    {
        Ok(async move {
            let _ = tokio::signal::ctrl_c().await;
            tracing::info!("shutdown requested");
        })
    }
}

async fn create_user(data_dir: PathBuf, username: String, role: Role) -> Result<ExitCode, String> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| format!("cannot read the password from standard input: {e}"))?;
    let password = line.trim_end_matches(['\n', '\r']).to_string();
    let settings = Settings {
        data_dir,
        ..Settings::default()
    };
    let user_id = crate::admin::create_user(&settings, &username, role, password)
        .await
        .map_err(|e| e.to_string())?;
    println!(
        "created {role} `{}` with user id {user_id}",
        username.to_lowercase()
    );
    Ok(ExitCode::SUCCESS)
}

fn verify_audit(data_dir: PathBuf) -> Result<ExitCode, String> {
    match crate::admin::verify_audit(&data_dir).map_err(|e| e.to_string())? {
        Ok((records, head)) => {
            println!("audit chain ok: {records} records, head {head}");
            Ok(ExitCode::SUCCESS)
        }
        Err(broken) => {
            println!(
                "audit chain broken at record {}: {}",
                broken.seq, broken.reason
            );
            Ok(ExitCode::FAILURE)
        }
    }
}
