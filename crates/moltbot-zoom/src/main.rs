//! `moltbot-zoom`: the Zoom channel sidecar for Moltbot.
//!
//! Subcommands: `run` (the sidecar), `demo` (the whole pipeline on an embedded
//! fake Zoom), `render` (Zoom events → chat messages as JSON lines),
//! `install` / `uninstall` (the Moltbot extension), `doctor`, `status`, `outbox`.
//!
//! `demo` needs the `demo` cargo feature (default on; release builds leave it
//! out so the shipped binary carries no fake Zoom).

mod allocator;
mod config;
#[cfg(feature = "demo")]
mod demo;
mod doctor;
mod extension;
mod host;
mod logging;
mod outbox_cmd;
mod owner;
mod render;
mod sidecar;
mod status_cmd;
mod stdout;
mod supervisor;

use std::{path::PathBuf, process::ExitCode};

use clap::{Parser, Subcommand};

/// Zoom channel sidecar for Moltbot.
#[derive(Debug, Parser)]
#[command(name = "moltbot-zoom", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the sidecar: Zoom client, BlueBubbles-compatible REST shim, outbox.
    Run {
        /// TOML config file (default: $MOLTBOT_ZOOM_CONFIG).
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Check the configuration end to end and say how to fix what is wrong.
    Doctor(doctor::DoctorArgs),
    /// Show a running sidecar's status: Zoom connection, outbox, webhooks.
    Status(status_cmd::StatusArgs),
    /// Inspect, requeue or drop messages that could not be delivered (dead letters).
    Outbox {
        #[command(subcommand)]
        command: outbox_cmd::OutboxCommand,
        /// TOML config file naming the database (default: $MOLTBOT_ZOOM_CONFIG, else
        /// `channels.zoom` in the gateway's config file, as for `doctor`).
        #[arg(long, global = true)]
        config: Option<PathBuf>,
        /// The SQLite database (default: `database` from the configuration).
        #[arg(long, global = true, env = "MOLTBOT_ZOOM_DATABASE")]
        database: Option<PathBuf>,
        #[command(flatten)]
        gateway: doctor::GatewayConfigArgs,
    },
    /// Play a scripted meeting through the real pipeline against an embedded fake Zoom
    /// (source builds only: the `demo` cargo feature).
    Demo,
    /// Render Zoom events (JSON lines, bare events or WS frames) as chat messages.
    Render {
        /// Input file; standard input when absent.
        file: Option<PathBuf>,
        /// Conversation routing: meeting or feed.
        #[arg(long, default_value = "meeting")]
        routing: String,
        /// Subscription id used in message ids.
        #[arg(long, default_value = "render")]
        subscription_id: String,
    },
    /// Install the Moltbot extension (channel `zoom`) into Moltbot's extensions folder.
    Install {
        /// Extensions folder (default: <host state dir>/extensions).
        #[arg(long)]
        extensions_dir: Option<PathBuf>,
        /// The gateway whose state dir to use (default: see docs/operations.md).
        #[arg(long, value_enum, conflicts_with = "extensions_dir")]
        host: Option<host::Host>,
        /// Copy this binary into the extension, or link to it where it is.
        #[arg(long, value_enum, default_value = "copy")]
        binary_mode: extension::BinaryMode,
    },
    /// Remove the Moltbot extension.
    Uninstall {
        /// Extensions folder (default: <host state dir>/extensions).
        #[arg(long)]
        extensions_dir: Option<PathBuf>,
        /// The gateway whose state dir to use (default: as for `install`).
        #[arg(long, value_enum, conflicts_with = "extensions_dir")]
        host: Option<host::Host>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if matches!(cli.command, Command::Run { .. }) {
        allocator::reexec_with_purge_delay();
    }
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
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Run { config } => sidecar::run(config).await,
            Command::Doctor(args) => doctor::run(args).await,
            Command::Status(args) => status_cmd::run(args).await,
            Command::Outbox {
                command,
                config,
                database,
                gateway,
            } => {
                let db = match database {
                    Some(db) => db,
                    None => doctor::config_for(
                        &doctor::sources(config, &gateway)?,
                        &["database", "stateDir"],
                    )
                    .map_err(|p| {
                        anyhow::anyhow!("invalid configuration:\n  - {}", p.join("\n  - "))
                    })?
                    .database_path(),
                };
                outbox_cmd::run(command, db)
            }
            Command::Demo => demo().await,
            Command::Render {
                file,
                routing,
                subscription_id,
            } => render::run(file, &routing, &subscription_id),
            Command::Install {
                extensions_dir,
                host,
                binary_mode,
            } => {
                let report = extension::install(&extension::InstallOptions {
                    extensions_dir,
                    host,
                    binary_mode,
                    sidecar_binary: std::env::current_exe()?,
                })?;
                stdout::outln!("{report}")
            }
            Command::Uninstall {
                extensions_dir,
                host,
            } => stdout::outln!("{}", extension::uninstall(extensions_dir.as_deref(), host)?),
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // The reader went away (`| head`): stop quietly, as `head` expects.
        Err(e) if stdout::is_closed(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(feature = "demo")]
async fn demo() -> anyhow::Result<()> {
    demo::run().await
}

/// What this build says to `demo`: it was built without the fake Zoom.
#[cfg(not(feature = "demo"))]
const NO_DEMO: &str = "this build of moltbot-zoom has no demo: release builds leave out the \
embedded fake Zoom (cargo feature `demo`). Run it from a source checkout with \
`cargo run --release -- demo`, or build with the default features \
(`cargo build --release -p moltbot-zoom`).";

#[cfg(not(feature = "demo"))]
async fn demo() -> anyhow::Result<()> {
    anyhow::bail!(NO_DEMO)
}
