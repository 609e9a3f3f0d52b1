//! Command-line interface (clap): `run`, `check-config`, `queue`, `limits`, `send-test`, `spf`,
//! `dkim`, `oauth2`, `completions`, `manpage`, `service` (Windows), `--version`. Parses arguments only;
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
    /// Log lines as text for people (default) or one JSON object per line for log collectors.
    #[arg(long, global = true, value_enum, default_value = "human")]
    pub log_format: LogFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Human,
    Json,
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
        /// The file to check (the same as --config FILE).
        #[arg(conflicts_with = "config", value_name = "FILE")]
        file: Option<PathBuf>,
    },
    /// Look at and act on queued mail, also while the relay runs.
    Queue {
        #[arg(long, short, global = true)]
        config: Option<PathBuf>,
        #[command(subcommand)]
        action: QueueAction,
    },
    /// Test an upstream step by step (DNS, TCP, TLS, EHLO, AUTH, MAIL/RCPT/DATA) and say in plain
    /// words what is wrong and how to fix it. Exit code 0 only when the message was accepted.
    SendTest {
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// The upstream to test (see `smarthost upstreams`).
        #[arg(long, required_unless_present = "all")]
        upstream: Option<String>,
        /// Test every SMTP upstream.
        #[arg(long, conflicts_with = "upstream")]
        all: bool,
        /// Recipient of the test message.
        #[arg(long, required_unless_present = "no_send")]
        to: Option<String>,
        /// Envelope sender; default: the upstream's rewrite.from, else its username.
        #[arg(long)]
        from: Option<String>,
        /// Stop after the login; send nothing.
        #[arg(long)]
        no_send: bool,
        /// Language of the verdict: en, fr or de (default: from LANG, else en).
        #[arg(long)]
        lang: Option<String>,
    },
    /// Print the argon2id hash of a client password (read from standard input) for
    /// `password_hash` in a [[client]] section.
    Passwd,
    /// The built-in provider presets (host, port, CONN, AUTH, limits, password advice).
    Presets,
    /// The configured upstream servers, one row each.
    Upstreams {
        #[arg(long, short)]
        config: Option<PathBuf>,
        #[arg(long, value_enum, default_value = "table")]
        format: ListFormat,
    },
    /// SPF of a sender domain, checked against the upstreams.
    Spf {
        #[arg(long, short, global = true)]
        config: Option<PathBuf>,
        #[command(subcommand)]
        action: SpfAction,
    },
    /// OAuth2 grants for XOAUTH2/OAUTHBEARER upstreams: sign in, or see the tokens' state.
    Oauth2 {
        #[arg(long, short, global = true)]
        config: Option<PathBuf>,
        #[command(subcommand)]
        action: OAuth2Action,
    },
    /// DKIM keys: make one, or check the published record.
    Dkim {
        #[arg(long, short, global = true)]
        config: Option<PathBuf>,
        #[command(subcommand)]
        action: DkimAction,
    },
    /// Provider limits per upstream: quota use, pauses, held mail; reset them by hand. Acts on
    /// the running relay.
    Limits {
        #[arg(long, short, global = true)]
        config: Option<PathBuf>,
        #[command(subcommand)]
        action: LimitsAction,
    },
    /// Two or more relays sharing provider limits through Redis (`[cluster]`).
    Cluster {
        #[arg(long, short, global = true)]
        config: Option<PathBuf>,
        #[command(subcommand)]
        action: ClusterAction,
    },
    /// Print the shell completion script for SHELL (bash, zsh, fish, elvish, powershell).
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff, for `man`).
    Manpage,
    /// The Windows service: install (automatic start, restart on failure), uninstall, start,
    /// stop, status. Configuration in %ProgramData%\smarthost\smarthost.toml.
    #[cfg(windows)]
    Service {
        #[command(subcommand)]
        action: ServiceAction,
    },
}

#[cfg(windows)]
#[derive(Debug, Clone, Copy, Subcommand)]
pub enum ServiceAction {
    /// Register the service (automatic start, restart on failure) and create
    /// %ProgramData%\smarthost with the reference configuration if it has none.
    Install,
    /// Stop and remove the service; the configuration and the spool stay.
    Uninstall,
    Start,
    /// Stop the service: sessions and deliveries in flight may finish, the queue stays.
    Stop,
    Status,
    /// Run as the service (the service control manager starts this; not for a console).
    #[command(hide = true)]
    Run,
}

#[derive(Debug, Subcommand)]
pub enum ClusterAction {
    /// The nodes alive, their queues and the shared limits.
    Status,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum ListFormat {
    Table,
    Csv,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum SpfAction {
    /// Does DOMAIN's SPF record authorize the upstream (or every SMTP upstream)? Prints the
    /// record, the evaluation path and a verdict with the fix. Exit code 0 pass, 1 fail (or
    /// softfail, neutral, none, a broken record), 2 error (DNS).
    Check {
        domain: String,
        #[arg(long)]
        upstream: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum OAuth2Action {
    /// Sign in for UPSTREAM in the browser (device code flow) and store its refresh token.
    Login { upstream: String },
    /// Each OAuth2 upstream: its refresh token, when its access token expires, the last refresh.
    Status,
}

#[derive(Debug, Subcommand)]
pub enum DkimAction {
    /// Write a new private key and print the DNS record to publish for it.
    Keygen {
        #[arg(long, value_enum, default_value = "rsa")]
        algorithm: smarthost::dkim::Algorithm,
        /// RSA key size: 2048 (the usual), 3072 or 4096.
        #[arg(long, default_value_t = 2048)]
        bits: usize,
        /// Where to write the key (an existing file is never overwritten); then set it as
        /// `key_file` in [dkim].
        #[arg(long)]
        out: PathBuf,
        /// The domain that signs (d=), normally the domain of your From: addresses.
        #[arg(long)]
        domain: String,
        /// The selector (s=): the name of this key under _domainkey.
        #[arg(long, default_value = "smarthost")]
        selector: String,
    },
    /// Compare each configured key with the one published in DNS. Exit code 0 when all match,
    /// 1 when one is missing or different, 2 on a DNS error.
    Check,
}

#[derive(Debug, Subcommand)]
pub enum LimitsAction {
    /// Used and remaining per upstream and window, and when held mail will go.
    Show { upstream: Option<String> },
    /// Forget the counted use and any provider pause (of one upstream, or all); held mail goes
    /// out now.
    Reset { upstream: Option<String> },
}

#[derive(Debug, Subcommand)]
pub enum QueueAction {
    /// Every queued message: id, age, attempts, next attempt, sender, recipients with state.
    List,
    /// One message: its envelope and headers.
    Show {
        id: String,
    },
    /// Try now instead of waiting for the next retry time.
    Retry {
        id: Option<String>,
        /// Every message that is not held.
        #[arg(long, conflicts_with = "id")]
        all: bool,
    },
    /// Remove a message; its sender gets a bounce unless --silent.
    Delete {
        id: String,
        #[arg(long)]
        silent: bool,
    },
    /// Keep a message from being delivered until released.
    Hold {
        id: String,
    },
    Release {
        id: String,
    },
}
