//! Provider limits end to end: batches and quotas through the real Postfix upstream (sink
//! timestamps), the `limits show|reset` tools on a running relay, and the throttling replies of
//! Office 365 replayed by the scripted upstream.

mod common;

use std::time::Duration;

use common::scripted::*;
use common::{Client, Harness, TestRelay, message, unique};

/// The harness's plain port (mynetworks relay, no AUTH).
const POSTFIX: &str = "[[upstream]]\nname = \"postfix\"\nhost = \"127.0.0.1\"\nport = 2025\nconn = \"plaintext\"\nauth = \"none\"\ntimeout = \"20s\"\n";

async fn send_to(relay: &TestRelay, rcpt: &str) {
    let (mut c, _) = Client::connect(relay.addr()).await;
    let r = c
        .send(
            "<payroll@example.test>",
            &[&format!("<{rcpt}>")],
            &message(rcpt),
        )
        .await;
    assert!(r.starts_with("250"), "{r}");
}

fn unique_rcpts(prefix: &str, n: usize) -> Vec<String> {
    (0..n)
        .map(|i| format!("{}@example.net", unique(&format!("{prefix}{i}"))))
        .collect()
}

/// How many of `rcpts` the Postfix sink holds.
fn in_sink(rcpts: &[String]) -> usize {
    let h = Harness::get();
    rcpts.iter().filter(|r| h.find(r).is_some()).count()
}

async fn wait_sink(rcpts: &[String], n: usize) {
    let deadline = std::time::Instant::now() + common::WAIT;
    while in_sink(rcpts) < n {
        assert!(
            std::time::Instant::now() < deadline,
            "only {} of {n} reached the sink",
            in_sink(rcpts)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn batches_of_three_reach_postfix_in_groups_at_least_two_seconds_apart() {
    Harness::get();
    let relay = TestRelay::start(
        &format!("{POSTFIX}\n[upstream.limits]\nbatch = 3\nbatch_wait = \"3s\"\n"),
        "",
    )
    .await;
    let rcpts = unique_rcpts("batch", 9);
    for r in &rcpts {
        send_to(&relay, r).await;
    }
    wait_sink(&rcpts, 9).await;
    let h = Harness::get();
    let mut at: Vec<chrono::DateTime<chrono::FixedOffset>> = rcpts
        .iter()
        .map(|r| {
            let json = h.find(r).unwrap().json;
            chrono::DateTime::parse_from_rfc3339(json["received_at"].as_str().unwrap()).unwrap()
        })
        .collect();
    at.sort();
    let gaps: Vec<i64> = at
        .windows(2)
        .map(|w| (w[1] - w[0]).num_milliseconds())
        .collect();
    // The relay rests 3 s after a batch's last transaction, and the sink must see at least 2 s:
    // Postfix's queue sits between the relay and the sink, and the second of allowance is for a
    // message it holds back on a loaded machine. The relay's own rest is measured exactly by the
    // unit tests with paused time.
    for g in [2, 5] {
        assert!(gaps[g] >= 2000, "pause before message {}: {gaps:?}", g + 2);
    }
    for g in [0, 1, 3, 4, 6, 7] {
        assert!(gaps[g] < 2000, "no pause inside a batch: {gaps:?}");
    }
}

#[tokio::test]
async fn per_hour_quota_holds_mail_across_a_restart_until_limits_reset() {
    Harness::get();
    let relay =
        TestRelay::start(&format!("{POSTFIX}\n[upstream.limits]\nper_hour = 5\n"), "").await;
    let rcpts = unique_rcpts("quota", 7);
    for r in &rcpts {
        send_to(&relay, r).await;
    }
    wait_sink(&rcpts, 5).await;
    let q = relay
        .wait_queue("two messages held by the quota", |q| {
            q.len() == 2 && q.iter().all(|e| e.limited_by.as_deref() == Some("postfix"))
        })
        .await;
    assert!(
        q.iter().all(|e| e.attempts == 0),
        "a hold is not a failed attempt: {q:?}"
    );

    let (code, out) = relay.cli(&["limits", "show"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("per_hour  5 of 5 messages used, 0 left; next at "),
        "{out}"
    );
    assert!(
        out.contains("2 message(s) waiting for these limits"),
        "{out}"
    );

    let relay = relay.restart().await;
    // Give the restarted relay its first scans: the held mail must stay held.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(relay.queue().await.len(), 2);
    assert_eq!(in_sink(&rcpts), 5, "the counters survived the restart");
    let (_, out) = relay.cli(&["limits", "show", "postfix"]);
    assert!(out.contains("5 of 5 messages used"), "{out}");

    let (code, out) = relay.cli(&["limits", "reset", "postfix"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("2 held message(s) released"), "{out}");
    wait_sink(&rcpts, 7).await;
    relay
        .wait_queue("all delivered after the reset", |q| q.is_empty())
        .await;
    let (_, out) = relay.cli(&["limits", "show"]);
    assert!(out.contains("2 of 5 messages used, 3 left"), "{out}");
}

#[tokio::test]
async fn limits_of_an_unknown_upstream_is_an_error_naming_the_configured_ones() {
    let relay = TestRelay::start(POSTFIX, "").await;
    let (code, out) = relay.cli(&["limits", "reset", "nosuch"]);
    assert_ne!(code, 0);
    assert!(
        out.contains("no SMTP upstream named nosuch (configured: postfix)"),
        "{out}"
    );
}

// === Throttling replies (scripted upstream) ===

/// Messages the scripted upstream accepted, so far.
fn accepted(seen: &mut tokio::sync::mpsc::UnboundedReceiver<Seen>) -> usize {
    let mut n = 0;
    while let Ok(s) = seen.try_recv() {
        n += matches!(s, Seen::Message(_)) as usize;
    }
    n
}

#[tokio::test]
async fn office365_concurrency_reply_lowers_the_connection_count_and_nothing_is_bounced() {
    let (port, mut seen) = scripted_server(
        "PLAIN",
        accept_plain,
        AfterData::ReplyFirst(
            "432 4.3.2 Concurrent connections limit exceeded. Visit https://aka.ms/concurrent_sending for more information.",
        ),
    )
    .await;
    let up = format!(
        "{}\n[upstream.limits]\nmax_connections = 3\n",
        upstream(port, "none", "u", "password = \"p\"", "5s")
    );
    let relay = TestRelay::start(&up, "").await;
    send_one(&relay).await;
    let reply = relay.first_deferral().await;
    assert!(reply.starts_with("432 4.3.2"), "{reply}");
    assert_eq!(relay.relay.delivery.connection_limit("scripted"), Some(2));
    relay
        .wait_queue("delivered after the back-off", |q| q.is_empty())
        .await;
    assert_eq!(accepted(&mut seen), 1, "the message, and no bounce");
}

#[tokio::test]
async fn submission_quota_exceeded_pauses_the_upstream_instead_of_bouncing() {
    let (port, mut seen) = scripted_server(
        "PLAIN",
        accept_plain,
        AfterData::ReplyFirst(
            "554 5.2.0 STOREDRV.Submission.Exception:SubmissionQuotaExceededException; Failed to process message due to a permanent exception",
        ),
    )
    .await;
    let relay = TestRelay::start(&upstream(port, "none", "u", "password = \"p\"", "5s"), "").await;
    send_one(&relay).await;
    let reply = relay.first_deferral().await;
    assert!(reply.contains("SubmissionQuotaExceeded"), "{reply}");
    let q = relay.queue().await;
    assert_eq!(q[0].limited_by.as_deref(), Some("scripted"));
    let wait = q[0].next_attempt - smarthost::spool::now_ms();
    assert!(
        wait > 50 * 60_000,
        "paused for the window, not a retry step: {wait} ms"
    );
    let (_, out) = relay.cli(&["limits", "show"]);
    assert!(out.contains("paused until"), "{out}");
    assert!(out.contains("1 message(s) waiting"), "{out}");

    relay.cli(&["limits", "reset"]);
    relay
        .wait_queue("delivered once the pause is lifted", |q| q.is_empty())
        .await;
    assert_eq!(accepted(&mut seen), 1, "the message, and no bounce");
}

/// Sends one message to `n` recipients through an upstream taking `per` per transaction;
/// returns the transaction sizes the upstream saw.
async fn transaction_sizes(per: usize, n: usize) -> Vec<usize> {
    let (port, mut seen) = scripted_server("PLAIN", accept_plain, AfterData::Accept).await;
    let up = format!(
        "{}\n[upstream.limits]\nmax_recipients_per_message = {per}\n",
        upstream(port, "none", "u", "password = \"p\"", "5s")
    );
    let relay = TestRelay::start(&up, "max_recipients = 2000\n").await;
    let rcpts: Vec<String> = (0..n).map(|i| format!("<r{i}@example.net>")).collect();
    let rcpts: Vec<&str> = rcpts.iter().map(String::as_str).collect();
    let (mut c, _) = Client::connect(relay.addr()).await;
    let r = c
        .send("<payroll@example.test>", &rcpts, &message("payslips"))
        .await;
    assert!(r.starts_with("250"), "{r}");
    relay.wait_queue("all delivered", |q| q.is_empty()).await;
    let mut sizes = Vec::new();
    while let Ok(s) = seen.try_recv() {
        if let Seen::Transaction(n) = s {
            sizes.push(n);
        }
    }
    sizes
}

#[tokio::test]
async fn a_message_to_1201_recipients_goes_out_as_500_500_and_201() {
    assert_eq!(transaction_sizes(500, 1201).await, vec![500, 500, 201]);
}

#[tokio::test]
async fn more_recipients_than_the_provider_takes_go_out_as_several_transactions() {
    assert_eq!(
        transaction_sizes(2, 5).await,
        vec![2, 2, 1],
        "never bounced for it, never more than 2 at once"
    );
}

#[tokio::test]
async fn max_connections_caps_concurrent_connections_to_the_upstream() {
    let (port, mut seen) = scripted_server("PLAIN", accept_plain, AfterData::Accept).await;
    let up = format!(
        "{}\n[upstream.limits]\nmax_connections = 1\n",
        upstream(port, "none", "u", "password = \"p\"", "5s")
    );
    let relay = TestRelay::start(&up, "").await;
    let sends = (0..8).map(|_| {
        let addr = relay.addr();
        tokio::spawn(async move {
            let (mut c, _) = Client::connect(addr).await;
            let rcpt = format!("<{}@example.net>", unique("cap"));
            c.send("<payroll@example.test>", &[&rcpt], &message("cap"))
                .await
        })
    });
    for s in sends.collect::<Vec<_>>() {
        assert!(s.await.unwrap().starts_with("250"));
    }
    relay.wait_queue("all delivered", |q| q.is_empty()).await;
    let mut peak = 0;
    let mut messages = 0;
    while let Ok(s) = seen.try_recv() {
        match s {
            Seen::Open(n) => peak = peak.max(n),
            Seen::Message(_) => messages += 1,
            _ => {}
        }
    }
    assert_eq!((peak, messages), (1, 8));
}

/// Sends `n` messages one after the other and returns when the upstream accepted each.
async fn accepted_times(limits: &str, n: usize) -> Vec<std::time::Duration> {
    let (port, mut seen) = scripted_server("PLAIN", accept_plain, AfterData::Accept).await;
    let up = format!(
        "{}\n[upstream.limits]\n{limits}",
        upstream(port, "none", "u", "password = \"p\"", "5s")
    );
    let relay = TestRelay::start(&up, "").await;
    for _ in 0..n {
        send_one(&relay).await;
    }
    relay.wait_queue("all delivered", |q| q.is_empty()).await;
    let mut at = Vec::new();
    while let Ok(s) = seen.try_recv() {
        if let Seen::At(t) = s {
            at.push(t);
        }
    }
    at.sort();
    at.iter().map(|t| t.duration_since(at[0])).collect()
}

#[tokio::test]
async fn a_batch_goes_out_then_waits_before_the_next_one() {
    let at = accepted_times("batch = 2\nbatch_wait = \"1s\"\n", 4).await;
    assert_eq!(at.len(), 4);
    // Lower bounds only: the pause must have happened; a slow machine can only add to it. It
    // runs from the end of the batch's last transaction, so it shows whole at the upstream.
    assert!(
        at[2] - at[1] >= std::time::Duration::from_millis(1000),
        "second batch began {:?} after the first ended",
        at[2] - at[1]
    );
    assert!(at[3] >= at[2]);
}

#[tokio::test]
async fn a_rate_paces_delivery() {
    let at = accepted_times("rate = \"2/s\"\n", 3).await;
    assert_eq!(at.len(), 3);
    assert!(
        at[2] >= std::time::Duration::from_millis(900),
        "third message at {:?}",
        at[2]
    );
}
