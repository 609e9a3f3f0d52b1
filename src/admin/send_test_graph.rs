//! `smarthost send-test` for a Graph upstream: the token request, the mailbox lookup and a test
//! message, each step timed, then the verdict and the fix from the message catalog, as for SMTP.
//! Never touches the spool's queue; the token and the secret are never printed.

use std::time::Instant;

use crate::config::{Config, GraphUpstream};
use crate::diagnose::{self, Lang, Target};
use crate::graph::{GraphClient, GraphError};

use super::verdict::{test_message, verdict};

/// Ok when every step passed.
/// `to`: the test message's recipient; `None` stops before sending (`--no-send`).
pub async fn one(
    config: &Config,
    name: &str,
    cfg: &GraphUpstream,
    from: &str,
    to: Option<&str>,
    lang: Lang,
) -> bool {
    let target = Target {
        host: cfg.graph_url.trim_start_matches("https://").to_string(),
        port: 443,
        conn: crate::config::ConnMode::SslTls,
        oauth: true,
    };
    println!(
        "send-test: upstream \"{name}\" Microsoft Graph at {} (OAuth2 {})",
        cfg.graph_url,
        cfg.oauth2.flow.as_str()
    );
    let client = match GraphClient::new(name, cfg, &config.spool.dir) {
        Ok(c) => c,
        Err(e) => return fail(&e, &target, lang),
    };
    let mailbox = client.mailbox(from).to_string();
    let start = Instant::now();
    let step = |label: &str, text: &str| {
        println!("[{:>5} ms] {label:<11} {text}", start.elapsed().as_millis());
    };
    if let Err(e) = client.token().await {
        return fail(&e, &target, lang);
    }
    step(
        "token",
        &format!("access token from {}", cfg.oauth2.token_url),
    );
    if let Err(e) = client.lookup(&mailbox).await {
        return fail(&e, &target, lang);
    }
    step("mailbox", &format!("{mailbox} found"));
    let Some(to) = to else {
        println!("OK: token and mailbox work (nothing sent: --no-send)\n");
        return true;
    };
    let message = test_message(from, to);
    let key = format!("send-test-{}", crate::spool::new_queue_id());
    if let Err(e) = client.send(&mailbox, message.as_bytes(), &key).await {
        return fail(&e, &target, lang);
    }
    step("sendMail", "202 Accepted");
    println!("OK: Microsoft Graph accepted the test message for {to} (a copy is in Sent Items)\n");
    true
}

fn fail(e: &GraphError, target: &Target, lang: Lang) -> bool {
    verdict(diagnose::from_graph(e), target, lang, &e.to_string())
}
