//! `smarthost send-test`: connects to an upstream exactly as the relay would (same CONN and AUTH
//! modes, same TLS trust), prints every step with its timing, sends a short test message (or
//! stops before MAIL with `--no-send`), and ends with a verdict and the fix in plain words.
//! Never touches the spool; passwords are never printed.

use std::time::{Duration, Instant};

use super::verdict::{test_message, verdict};
use crate::config::{Config, SmtpUpstream, Transport, Upstream};
use crate::diagnose::{self, Lang, Target};
use crate::upstream::client::{Conn, UpReply};
use crate::upstream::connect::Endpoint;
use crate::upstream::error::UpstreamError;
use crate::upstream::trace::{Step, Tracer};

/// A test longer than this per step is a failure worth reporting, not worth waiting for.
const MAX_STEP_WAIT: Duration = Duration::from_secs(15);

#[derive(Debug, Clone)]
pub struct SendTest {
    /// `None`: every SMTP and Graph upstream.
    pub upstream: Option<String>,
    pub to: Option<String>,
    pub from: Option<String>,
    pub no_send: bool,
    pub lang: Lang,
}

#[derive(Debug, thiserror::Error)]
pub enum SendTestError {
    #[error("no upstream named {0} to test (configured: {1})")]
    NoUpstream(String, String),
    #[error("--to ADDRESS is needed to send a test message (or --no-send)")]
    NoRecipient,
}

/// Runs the test; prints as it goes. Ok(true) when every upstream tested accepted the message
/// (or, with `--no-send`, connected and logged in).
pub async fn run(config: &Config, t: &SendTest) -> Result<bool, SendTestError> {
    if t.to.is_none() && !t.no_send {
        return Err(SendTestError::NoRecipient);
    }
    let chosen: Vec<&Upstream> = config
        .upstreams
        .iter()
        .filter(|u| !matches!(u.transport, Transport::File { .. }))
        .filter(|u| t.upstream.as_deref().is_none_or(|want| want == u.name))
        .collect();
    if chosen.is_empty() {
        let known: Vec<&str> = config.upstreams.iter().map(|u| u.name.as_str()).collect();
        let asked = t.upstream.clone().unwrap_or_else(|| "(any)".into());
        return Err(SendTestError::NoUpstream(asked, known.join(", ")));
    }
    let mut all_ok = true;
    for u in chosen {
        let from = sender(config, u, t);
        all_ok &= match &u.transport {
            Transport::Smtp(cfg) => one(config, &u.name, cfg, &from, t).await,
            Transport::Graph(cfg) => {
                let to = t.to.as_deref().filter(|_| !t.no_send);
                super::send_test_graph::one(config, &u.name, cfg, &from, to, t.lang).await
            }
            Transport::File { .. } => true,
        };
    }
    Ok(all_ok)
}

/// The test's sender: `--from`, the rewrite address, the login name or Graph mailbox, else
/// postmaster at our name.
fn sender(config: &Config, u: &Upstream, t: &SendTest) -> String {
    let login = match &u.transport {
        Transport::Smtp(cfg) => cfg.credentials.as_ref().map(|c| c.username.clone()),
        Transport::Graph(cfg) => cfg.mailbox.clone(),
        Transport::File { .. } => None,
    };
    t.from
        .clone()
        .or_else(|| config.policy.overridden_by(&u.policy).rewrite.from)
        .or_else(|| login.filter(|u| u.contains('@')))
        .unwrap_or_else(|| format!("postmaster@{}", config.server.hostname))
}

async fn one(config: &Config, name: &str, cfg: &SmtpUpstream, from: &str, t: &SendTest) -> bool {
    let mut cfg = cfg.clone();
    cfg.timeout = cfg.timeout.min(MAX_STEP_WAIT);
    let target = Target {
        host: cfg.host.clone(),
        port: cfg.port,
        conn: cfg.conn,
        oauth: cfg.oauth2.is_some(),
    };
    println!(
        "send-test: upstream \"{name}\" {}:{} (conn {}, auth {})",
        cfg.host, cfg.port, cfg.conn, cfg.auth
    );
    let (tracer, mut steps) = Tracer::new();
    let start = Instant::now();
    let printer = tokio::spawn(async move {
        while let Some((at, step)) = steps.recv().await {
            print_step(at.duration_since(start), &step);
        }
    });
    let endpoint = match Endpoint::new(name, cfg, &config.server.hostname, &config.spool.dir) {
        Ok(e) => e.traced(tracer),
        Err(e) => {
            drop(printer);
            return verdict_err(&e, &target, t.lang);
        }
    };
    let outcome = conversation(&endpoint, from, t).await;
    let seen = endpoint.server_certificate();
    drop(endpoint);
    let _ = printer.await;
    match outcome {
        Ok(Some(reply)) => {
            println!(
                "OK: {}:{} accepted the test message ({reply})\n",
                target.host, target.port
            );
            true
        }
        Ok(None) => {
            println!(
                "OK: connection, TLS and login to {}:{} work (nothing sent: --no-send)\n",
                target.host, target.port
            );
            true
        }
        Err(Failure::Error(e)) => {
            let ok = verdict_err(&e, &target, t.lang);
            pin_advice(&e, &target, seen, t.lang);
            ok
        }
        Err(Failure::Refused(stage, reply)) => {
            let p = diagnose::from_reply(stage, &reply);
            verdict(p, &target, t.lang, &format!("{stage}: {reply}"))
        }
    }
}

enum Failure {
    Error(UpstreamError),
    Refused(&'static str, UpReply),
}

/// Connects and logs in; then MAIL, RCPT, DATA one step at a time. The accepting reply, or
/// `None` with `--no-send`.
async fn conversation(
    endpoint: &Endpoint,
    from: &str,
    t: &SendTest,
) -> Result<Option<String>, Failure> {
    let mut conn = endpoint.open().await.map_err(Failure::Error)?;
    let result = transaction(&mut conn, from, t).await;
    conn.quit().await;
    result
}

async fn transaction(conn: &mut Conn, from: &str, t: &SendTest) -> Result<Option<String>, Failure> {
    let Some(to) = t.to.as_deref().filter(|_| !t.no_send) else {
        return Ok(None);
    };
    let step = |r: Result<UpReply, UpstreamError>, stage: &'static str, want: u16| match r {
        Ok(r) if r.code == want || (want == 250 && r.is_positive() && r.code < 300) => Ok(r),
        Ok(r) => Err(Failure::Refused(stage, r)),
        Err(e) => Err(Failure::Error(e)),
    };
    step(
        conn.command(&format!("MAIL FROM:<{from}>"), "MAIL").await,
        "MAIL",
        250,
    )?;
    step(
        conn.command(&format!("RCPT TO:<{to}>"), "RCPT").await,
        "RCPT",
        250,
    )?;
    step(conn.command("DATA", "DATA").await, "DATA", 354)?;
    let message = test_message(from, to);
    conn.write(&crate::upstream::dot_stuff(message.as_bytes()), "DATA")
        .await
        .map_err(Failure::Error)?;
    let end = step(conn.read_reply("end of DATA").await, "end of DATA", 250)?;
    Ok(Some(end.to_string()))
}

fn print_step(at: Duration, step: &Step) {
    let ms = at.as_millis();
    let line = |label: &str, text: &str| {
        let mut lines = text.lines();
        println!("[{ms:>5} ms] {label:<11} {}", lines.next().unwrap_or(""));
        for l in lines {
            println!("{:<23}{l}", "");
        }
    };
    match step {
        Step::Resolved { host, addrs } => {
            let list: Vec<String> = addrs.iter().map(|a| a.ip().to_string()).collect();
            line("DNS", &format!("{host} -> {}", list.join(", ")));
        }
        Step::Connected { addr } => line("TCP", &format!("connected to {addr}")),
        Step::Tls {
            version,
            cipher,
            certificates,
        } => line(
            "TLS",
            &format!("{version}, {cipher}; certificate chain of {certificates} verified"),
        ),
        Step::Reply { stage, reply } => line(stage, &reply.text),
        Step::Auth { mechanism, offered } => line(
            "AUTH",
            &format!("{mechanism} chosen (server offers {})", offered.join(" ")),
        ),
        Step::ServerCertificate(f) => {
            line("certificate", &format!("{}\n{}", f.sha256, f.summary()))
        }
        Step::ClientCertificate { asked, sent } => {
            let sent = sent.as_ref().map(|f| f.summary()).unwrap_or_default();
            let text = match asked {
                true => format!("the server asked for one; sent {sent}"),
                false => format!("the server did not ask for one (not sent: {sent})"),
            };
            line("client cert", &text)
        }
        Step::Note(n) => line("note", n),
    }
}

/// After a certificate the relay does not trust: the `tls_fingerprint` line that trusts it.
fn pin_advice(
    e: &UpstreamError,
    target: &Target,
    seen: Option<crate::config::cert::CertFacts>,
    lang: Lang,
) {
    if let Some(f) = seen.filter(|_| diagnose::wants_pin(diagnose::from_error(e, target))) {
        let line = format!("tls_fingerprint = \"{}\"", f.sha256);
        let text = crate::catalog::text(lang, "tls-pin-advice", &[("line", line.as_str())]);
        println!("  {text}\n");
    }
}

fn verdict_err(e: &UpstreamError, target: &Target, lang: Lang) -> bool {
    let p = diagnose::from_error(e, target);
    verdict(p, target, lang, &e.to_string())
}
