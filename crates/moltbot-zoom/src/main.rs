//! `moltbot-zoom`: the Zoom channel sidecar for Moltbot.
//!
//! Subcommands: `run` (the sidecar), `demo` (the whole pipeline on an embedded
//! fake Zoom), `render` (Zoom events → chat messages as JSON lines),
//! `install` / `uninstall` (the Moltbot extension).

mod config;
mod demo;
mod doctor;
mod extension;
mod host_dirs;
mod logging;
mod outbox_cmd;
mod render;
mod sidecar;
mod status_cmd;
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
        /// TOML config file naming the database (default: $MOLTBOT_ZOOM_CONFIG).
        #[arg(long, global = true)]
        config: Option<PathBuf>,
        /// The SQLite database (default: `database` from the configuration).
        #[arg(long, global = true, env = "MOLTBOT_ZOOM_DATABASE")]
        database: Option<PathBuf>,
    },
    /// Play a scripted meeting through the real pipeline against an embedded fake Zoom.
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
        /// Extensions folder (default: <state dir of the host>/extensions).
        #[arg(long)]
        extensions_dir: Option<PathBuf>,
        /// The host whose state dir to use (default: the one present; required when several are).
        #[arg(long, value_enum)]
        host: Option<host_dirs::Host>,
        /// Copy this binary into the extension, or link to it where it is.
        #[arg(long, value_enum, default_value = "copy")]
        binary_mode: extension::BinaryMode,
    },
    /// Remove the Moltbot extension.
    Uninstall {
        /// Extensions folder (default: <state dir of the host>/extensions).
        #[arg(long)]
        extensions_dir: Option<PathBuf>,
        /// The host whose state dir to use (default: the one present; required when several are).
        #[arg(long, value_enum)]
        host: Option<host_dirs::Host>,
    },
}

fn main() -> ExitCode {
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
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Run { config } => sidecar::run(config).await,
            Command::Doctor(args) => doctor::run(args).await,
            Command::Status(args) => status_cmd::run(args).await,
            Command::Outbox {
                command,
                config,
                database,
            } => {
                let db = match database {
                    Some(db) => db,
                    None => config::Config::merge(&config::Sources::from_process(config)?)
                        .map_err(|p| {
                            anyhow::anyhow!("invalid configuration:\n  - {}", p.join("\n  - "))
                        })?
                        .database_path(),
                };
                outbox_cmd::run(command, db)
            }
            Command::Demo => demo::run().await,
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
                    extensions_dir: Some(extension::extensions_dir(extensions_dir, host)?),
                    binary_mode,
                    sidecar_binary: std::env::current_exe()?,
                })?;
                println!("{report}");
                Ok(())
            }
            Command::Uninstall {
                extensions_dir,
                host,
            } => {
                let dir = extension::extensions_dir(extensions_dir, host)?;
                println!("{}", extension::uninstall(Some(&dir))?);
                Ok(())
            }
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
