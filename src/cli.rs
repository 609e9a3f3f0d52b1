//! Command-line interface (clap): `run`, `check-config`, `--version`. Parses arguments only;
//! the work is done by the library.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "smarthost",
    version,
    about = "SMTP relay for legacy business software"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the relay (the default). Without --config: the embedded default, listening on
    /// 127.0.0.1:2525 and writing every message into ./outbox/.
    Run {
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Validate a configuration file; prints `configuration OK` or every error with file,
    /// line and key.
    CheckConfig {
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
}
