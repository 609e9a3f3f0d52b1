//! The `smarthost` binary: parse the command line, set up logging, hand over to the library.

#[path = "cli.rs"]
mod cli;
#[path = "platform.rs"]
mod platform;
#[cfg(windows)]
#[path = "winservice.rs"]
mod winservice;

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use cli::{Cli, Command, LimitsAction, QueueAction};
use smarthost::admin::QueueCommand;
use smarthost::config::Config;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

fn main() -> ExitCode {
    let cli = Cli::parse();
    #[cfg(windows)]
    if let Some(Command::Service {
        action: cli::ServiceAction::Run,
    }) = cli.command
    {
        // The service logs to a file beside its configuration, not to a console.
        return winservice::run_service(cli.log_format);
    }
    // Under systemd the journal stamps each line itself: no second timestamp, no colours.
    init_logs(cli.log_format, platform::logs_to_journal(), std::io::stderr);
    let result = match cli.command.unwrap_or(Command::Run { config: None }) {
        Command::Run { config } => run(config.as_deref()),
        Command::CheckConfig { config, file } => {
            return check_config(config.or(file).as_deref());
        }
        Command::Completions { shell } => {
            use clap::CommandFactory;
            let mut cmd = Cli::command();
            clap_complete::generate(shell, &mut cmd, "smarthost", &mut std::io::stdout());
            Ok(())
        }
        Command::Manpage => clap_mangen::Man::new(<Cli as clap::CommandFactory>::command())
            .render(&mut std::io::stdout())
            .context("writing the manual page"),
        #[cfg(windows)]
        Command::Service { action } => winservice::command(action),
        Command::Queue { config, action } => queue(config.as_deref(), action),
        Command::Limits { config, action } => limits(config.as_deref(), action),
        Command::Cluster { config, action } => match action {
            cli::ClusterAction::Status => cluster_status(config.as_deref()),
        },
        Command::SendTest {
            config,
            upstream,
            all: _,
            to,
            from,
            no_send,
            lang,
        } => {
            return send_test(
                config.as_deref(),
                smarthost::admin::send_test::SendTest {
                    upstream,
                    to,
                    from,
                    no_send,
                    lang: lang
                        .or_else(|| std::env::var("LANG").ok())
                        .and_then(|l| l.parse().ok())
                        .unwrap_or_default(),
                },
            );
        }
        Command::Spf {
            config,
            action: cli::SpfAction::Check { domain, upstream },
        } => return spf_check(config.as_deref(), &domain, upstream.as_deref()),
        Command::Dkim { config, action } => return dkim(config.as_deref(), action),
        Command::Oauth2 { config, action } => oauth2(config.as_deref(), action),
        Command::Passwd => passwd(),
        Command::Presets => {
            print!("{}", smarthost::admin::presets());
            Ok(())
        }
        Command::Upstreams { config, format } => upstreams(config.as_deref(), format),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("smarthost: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Logging to `writer`; `bare` leaves out the timestamp and colours (the journal adds its own).
pub(crate) fn init_logs<W>(format: cli::LogFormat, bare: bool, writer: W)
where
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    let logs = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("SMARTHOST_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .with_ansi(!bare)
        .with_writer(writer);
    // Client and upstream text is escaped: it must not be able to forge a log line.
    // Every mail-log event is also kept for the console's journal.
    let journal = smarthost::console::journal::Layer;
    match (format, bare) {
        (cli::LogFormat::Human, false) => logs
            .fmt_fields(smarthost::maillog::human_fields())
            .finish()
            .with(journal)
            .init(),
        (cli::LogFormat::Human, true) => logs
            .without_time()
            .fmt_fields(smarthost::maillog::human_fields())
            .finish()
            .with(journal)
            .init(),
        (cli::LogFormat::Json, false) => logs
            .json()
            .flatten_event(true)
            .finish()
            .with(journal)
            .init(),
        (cli::LogFormat::Json, true) => logs
            .without_time()
            .json()
            .flatten_event(true)
            .finish()
            .with(journal)
            .init(),
    }
}

/// SIGHUP: the configuration file again, applied without a restart; a file with errors is
/// not applied (each error logged with file, line and key) and the running one stays.
async fn reload_config(relay: &smarthost::Relay, path: Option<&Path>) {
    let Some(path) = path else {
        return;
    };
    let config = match Config::load_file(path) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!("SIGHUP: the configuration was not applied:\n{e}");
            return;
        }
    };
    match relay.reload(config).await {
        Ok(notes) => {
            tracing::info!("SIGHUP: configuration reloaded from {}", path.display());
            for n in notes {
                tracing::warn!("SIGHUP: {n}");
            }
        }
        Err(e) => tracing::error!("SIGHUP: the configuration was not applied: {e}"),
    }
}

fn load(path: Option<&Path>) -> Result<Config, smarthost::config::ConfigErrors> {
    match path {
        Some(p) => Config::load_file(p),
        None => Ok(Config::embedded_default()),
    }
}

fn check_config(path: Option<&Path>) -> ExitCode {
    match load(path) {
        Ok(config) => {
            if let Some(w) = config.exposed_secrets_warning() {
                eprintln!("{w}");
            }
            for w in config.tls_warnings() {
                eprintln!("{w}");
            }
            println!("configuration OK");
            ExitCode::SUCCESS
        }
        Err(errors) => {
            for e in &errors.0 {
                eprintln!("{e}");
            }
            ExitCode::from(1)
        }
    }
}

fn queue(path: Option<&Path>, action: QueueAction) -> anyhow::Result<()> {
    let config = load(path).map_err(|e| anyhow::anyhow!("{e}"))?;
    let cmd = match action {
        QueueAction::List => QueueCommand::List,
        QueueAction::Show { id } => QueueCommand::Show(id),
        QueueAction::Retry {
            id: None,
            all: false,
        } => anyhow::bail!("say which message to retry, or --all"),
        QueueAction::Retry { id, .. } => QueueCommand::Retry(id),
        QueueAction::Delete { id, silent } => QueueCommand::Delete { id, silent },
        QueueAction::Hold { id } => QueueCommand::Hold(id),
        QueueAction::Release { id } => QueueCommand::Release(id),
    };
    print!("{}", smarthost::admin::queue(&config, &cmd)?);
    Ok(())
}

fn send_test(path: Option<&Path>, test: smarthost::admin::send_test::SendTest) -> ExitCode {
    let run = || -> anyhow::Result<bool> {
        let config = load(path).map_err(|e| anyhow::anyhow!("{e}"))?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("tokio runtime")?;
        Ok(runtime.block_on(smarthost::admin::send_test::run(&config, &test))?)
    };
    match run() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("smarthost: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// Runs a check on a small runtime; its exit code is the check's (2 when it could not run).
fn checked<F>(work: F) -> ExitCode
where
    F: FnOnce() -> anyhow::Result<(String, smarthost::admin::sender_auth::Outcome)>,
{
    match work() {
        Ok((text, outcome)) => {
            print!("{text}");
            ExitCode::from(outcome.code())
        }
        Err(e) => {
            eprintln!("smarthost: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("tokio runtime")
}

fn spf_check(path: Option<&Path>, domain: &str, upstream: Option<&str>) -> ExitCode {
    checked(|| {
        let config = load(path).map_err(|e| anyhow::anyhow!("{e}"))?;
        Ok(
            runtime()?.block_on(smarthost::admin::sender_auth::spf_check(
                &config, domain, upstream,
            )),
        )
    })
}

fn dkim(path: Option<&Path>, action: cli::DkimAction) -> ExitCode {
    match action {
        cli::DkimAction::Check => checked(|| {
            let config = load(path).map_err(|e| anyhow::anyhow!("{e}"))?;
            Ok(runtime()?.block_on(smarthost::admin::sender_auth::dkim_check(&config)))
        }),
        cli::DkimAction::Keygen {
            algorithm,
            bits,
            out,
            domain,
            selector,
        } => {
            let run = || {
                smarthost::admin::sender_auth::dkim_keygen(
                    algorithm, bits, &out, &domain, &selector,
                )
            };
            match run() {
                Ok(text) => {
                    print!("{text}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("smarthost: {e:#}");
                    ExitCode::from(2)
                }
            }
        }
    }
}

fn oauth2(path: Option<&Path>, action: cli::OAuth2Action) -> anyhow::Result<()> {
    let config = load(path).map_err(|e| anyhow::anyhow!("{e}"))?;
    match action {
        cli::OAuth2Action::Status => {
            print!("{}", smarthost::oauth2::status(&config));
            Ok(())
        }
        cli::OAuth2Action::Login { upstream } => {
            let mut say = |line: &str| println!("{line}");
            runtime()?
                .block_on(smarthost::oauth2::device::login(
                    &config, &upstream, &mut say,
                ))
                .map_err(|e| anyhow::anyhow!(e))?;
            Ok(())
        }
    }
}

fn passwd() -> anyhow::Result<()> {
    use std::io::{BufRead, IsTerminal};
    if std::io::stdin().is_terminal() {
        eprint!("password for the client account (shown as you type; or pipe it in): ");
    }
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("reading the password")?;
    let password = line.trim_end_matches(['\r', '\n']);
    anyhow::ensure!(!password.is_empty(), "empty password");
    println!(
        "password_hash = \"{}\"",
        smarthost::config::hash_password(password)
    );
    Ok(())
}

fn upstreams(path: Option<&Path>, format: cli::ListFormat) -> anyhow::Result<()> {
    use smarthost::admin::Format;
    let config = load(path).map_err(|e| anyhow::anyhow!("{e}"))?;
    let format = match format {
        cli::ListFormat::Table => Format::Table,
        cli::ListFormat::Csv => Format::Csv,
        cli::ListFormat::Json => Format::Json,
    };
    print!("{}", smarthost::admin::upstreams(&config, format));
    Ok(())
}

fn limits(path: Option<&Path>, action: LimitsAction) -> anyhow::Result<()> {
    use smarthost::admin::LimitsCommand;
    let config = load(path).map_err(|e| anyhow::anyhow!("{e}"))?;
    let cmd = match action {
        LimitsAction::Show { upstream } => LimitsCommand::Show(upstream),
        LimitsAction::Reset { upstream } => LimitsCommand::Reset(upstream),
    };
    print!("{}", smarthost::admin::limits(&config, &cmd)?);
    if config.cluster.is_some() {
        use smarthost::admin::cluster;
        let shared = runtime()?.block_on(async {
            match &cmd {
                LimitsCommand::Show(name) => cluster::shared_limits(&config, name.as_deref()).await,
                LimitsCommand::Reset(name) => cluster::reset(&config, name.as_deref()).await,
            }
        });
        print!("{}", shared.unwrap_or_default());
    }
    Ok(())
}

fn cluster_status(path: Option<&Path>) -> anyhow::Result<()> {
    let config = load(path).map_err(|e| anyhow::anyhow!("{e}"))?;
    print!(
        "{}",
        runtime()?.block_on(smarthost::admin::cluster::status(&config))
    );
    Ok(())
}

fn run(path: Option<&Path>) -> anyhow::Result<()> {
    let config = load(path).map_err(|e| anyhow::anyhow!("{e}"))?;
    if path.is_none() {
        tracing::info!(
            "no --config given: embedded default (127.0.0.1:2525, mail goes to ./outbox/)"
        );
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("tokio runtime")?;
    runtime.block_on(async {
        // Handlers first: a SIGTERM that arrives while the relay starts must still stop it
        // gracefully, not kill it with the default action.
        let stop = platform::stop_signal()?;
        serve(config, path, stop, || {}).await
    })
}

/// Runs the relay until `stop` completes, then drains it. Tells the service manager when it is
/// ready (listeners bound, spool open; then `ready` runs) and when it stops.
pub(crate) async fn serve(
    config: Config,
    path: Option<&Path>,
    stop: impl std::future::Future<Output = ()>,
    ready: impl FnOnce(),
) -> anyhow::Result<()> {
    if let Some(w) = config.exposed_secrets_warning() {
        tracing::warn!("{w}");
    }
    platform::prepare_process();
    let mut reload = platform::Reload::install()?;
    let relay = smarthost::Relay::start(config).await?;
    platform::notify(platform::State::Ready);
    ready();
    tokio::pin!(stop);
    loop {
        tokio::select! {
            _ = &mut stop => break,
            _ = reload.recv() => {
                platform::notify(platform::State::Reloading);
                match relay.reload_tls() {
                    Ok(()) => tracing::info!("SIGHUP: TLS certificate and key reloaded"),
                    Err(e) => tracing::error!("SIGHUP: {e}; the certificate in use stays"),
                }
                reload_config(&relay, path).await;
                platform::notify(platform::State::Ready);
            }
        }
    }
    tracing::info!("shutting down");
    platform::notify(platform::State::Stopping);
    relay.shutdown().await;
    Ok(())
}
