//! `smarthost send-test` for a Graph upstream: the token request, the mailbox lookup and a test
//! message, each step timed, then the verdict and the fix from the message catalog, as for SMTP.
//! Never touches the spool's queue; the token and the secret are never printed.

use std::time::Instant;

use crate::catalog::text;
use crate::config::{Config, GraphUpstream};
use crate::diagnose::{self, Lang, Target};
use crate::graph::{GraphClient, GraphError};

use super::send_test_report::{Line, Report};
use super::verdict::{test_message, verdict};

/// What one Graph test sends, and in which language it reports.
pub struct GraphTest<'a> {
    pub from: &'a str,
    /// The test message's recipient; `None` stops before sending (`--no-send`).
    pub to: Option<&'a str>,
    pub lang: Lang,
}

/// Ok when every step passed.
pub async fn one(
    config: &Config,
    name: &str,
    cfg: &GraphUpstream,
    test: &GraphTest<'_>,
    report: &dyn Report,
) -> bool {
    let lang = test.lang;
    let target = Target {
        host: cfg.graph_url.trim_start_matches("https://").to_string(),
        port: 443,
        conn: crate::config::ConnMode::SslTls,
        oauth: true,
    };
    let how = text(
        lang,
        "sendtest-start-graph",
        &[("url", &cfg.graph_url), ("flow", cfg.oauth2.flow.as_str())],
    );
    report.line(Line::Start {
        upstream: name.to_string(),
        how,
    });
    let client = match GraphClient::new(name, cfg, &config.spool.dir) {
        Ok(c) => c,
        Err(e) => return fail(&e, &target, lang, report),
    };
    let mailbox = client.mailbox(test.from).to_string();
    let start = Instant::now();
    let step = |label: &str, text: String| {
        report.line(Line::Step {
            ms: start.elapsed().as_millis(),
            label: label.to_string(),
            text,
        });
    };
    if let Err(e) = client.token().await {
        return fail(&e, &target, lang, report);
    }
    step(
        "token",
        text(
            lang,
            "sendtest-step-token",
            &[("url", &cfg.oauth2.token_url)],
        ),
    );
    if let Err(e) = client.lookup(&mailbox).await {
        return fail(&e, &target, lang, report);
    }
    step(
        "mailbox",
        text(lang, "sendtest-step-mailbox", &[("mailbox", &mailbox)]),
    );
    let Some(to) = test.to else {
        let text = text(lang, "sendtest-ok-graph-no-send", &[]);
        report.line(Line::Ok { text });
        return true;
    };
    let message = test_message(test.from, to);
    let key = format!("send-test-{}", crate::spool::new_queue_id());
    if let Err(e) = client.send(&mailbox, message.as_bytes(), &key).await {
        return fail(&e, &target, lang, report);
    }
    step("sendMail", "202 Accepted".to_string());
    let text = text(lang, "sendtest-ok-graph-accepted", &[("to", to)]);
    report.line(Line::Ok { text });
    true
}

fn fail(e: &GraphError, target: &Target, lang: Lang, report: &dyn Report) -> bool {
    verdict(
        diagnose::from_graph(e),
        target,
        lang,
        &e.to_string(),
        report,
    )
}
