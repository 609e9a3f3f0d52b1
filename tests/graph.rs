//! The Microsoft Graph transport end to end: a legacy program sends plain SMTP to the relay, the
//! relay delivers through Graph's `sendMail` (or a draft with upload sessions above 4 MB) with
//! the real reqwest client, against a stand-in that follows Graph's documented contract over
//! HTTPS with a test CA (tests/common/graph_server.rs) and tokens from the test token service.
//! Policy is asserted on what the stand-in received.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::graph_server::{GraphServer, Sent, Step};
use common::token_server::{SECRET, TokenServer};
use common::{BinaryRelay, Client, TestRelay, unique};

const MAILBOX: &str = "payroll@contoso.test";

/// A Graph upstream `m365` on `server` for a fresh app; `extra` lines for the upstream, `top`
/// top-level tables before it. Returns the config text and the app's client id.
fn upstream(server: &GraphServer, extra: &str, top: &str) -> (String, String, tempfile::TempDir) {
    let id = unique("graph-app");
    TokenServer::get().register(&id, Duration::from_secs(300), None);
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("secret.txt");
    std::fs::write(&secret, SECRET).unwrap();
    let text = format!(
        "[spf]\nmode = \"off\"\n{top}\n[[upstream]]\nname = \"m365\"\nkind = \"graph\"\n\
         graph_url = \"{url}\"\nca_file = \"{ca}\"\ntimeout = \"20s\"\n{extra}\n\
         [upstream.oauth2]\nflow = \"client_credentials\"\ntoken_url = \"{token}\"\n\
         client_id = \"{id}\"\nclient_secret_file = \"{secret}\"\n",
        url = server.url(),
        ca = server.ca_file().display(),
        token = TokenServer::url("/token"),
        secret = secret.display(),
    );
    (text, id, dir)
}

fn message(from: &str, to: &[&str], subject: &str) -> Vec<u8> {
    format!(
        "From: Payroll <{from}>\r\nTo: {}\r\nSubject: {subject}\r\n\
         Date: Wed, 02 Dec 2026 09:00:00 +0100\r\nMessage-ID: <{subject}@contoso.test>\r\n\
         MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\
         Your payslip is ready.\r\n.a line that needs dot-stuffing\r\n",
        to.iter()
            .map(|a| format!("<{a}>"))
            .collect::<Vec<_>>()
            .join(", ")
    )
    .into_bytes()
}

async fn send(addr: std::net::SocketAddr, from: &str, rcpts: &[&str], data: &[u8]) -> String {
    let (mut c, _) = Client::connect(addr).await;
    let rcpts: Vec<String> = rcpts.iter().map(|r| format!("<{r}>")).collect();
    let rcpts: Vec<&str> = rcpts.iter().map(String::as_str).collect();
    c.send(&format!("<{from}>"), &rcpts, data).await
}

fn header<'a>(mime: &'a str, name: &str) -> Option<&'a str> {
    let head = &mime[..mime.find("\r\n\r\n").unwrap_or(mime.len())];
    head.split("\r\n")
        .find(|l| l.len() > name.len() && l[..name.len()].eq_ignore_ascii_case(name))
        .map(|l| l[name.len() + 1..].trim())
}

fn text(s: &Sent) -> String {
    String::from_utf8_lossy(&s.mime).into_owned()
}

const WAIT: Duration = Duration::from_secs(30);

#[tokio::test]
async fn smarthost_run_delivers_an_smtp_message_through_graph_byte_identical() {
    let graph = GraphServer::start();
    graph.add_mailbox(MAILBOX);
    let (cfg, id, _d) = upstream(&graph, &format!("mailbox = \"{MAILBOX}\""), "");
    let cfg =
        format!("[server]\nlisten = [\"127.0.0.1:0\"]\n[spool]\ndir = \"{{dir}}/spool\"\n{cfg}");
    let relay = BinaryRelay::start(&cfg, &[]);
    let to = format!("{}@fabrikam.test", unique("ann"));
    let body = message(MAILBOX, &[&to], "payslip");
    let reply = send(relay.addr, MAILBOX, &[&to], &body).await;
    assert!(reply.starts_with("250"), "{reply}");
    let sent = graph.wait_sent(1, WAIT).await;
    assert_eq!(sent[0].mailbox, MAILBOX);
    assert_eq!(sent[0].client_id, id);
    assert!(!sent[0].via_draft);
    // What the program sent, after the relay's Received: header, arrives unchanged.
    assert!(
        sent[0].mime.starts_with(b"Received: "),
        "{}",
        text(&sent[0])
    );
    assert!(sent[0].mime.ends_with(&body), "{}", text(&sent[0]));
    relay.wait_log("delivered").await;
}

#[tokio::test]
async fn the_envelope_sender_is_the_mailbox_when_none_is_configured() {
    let graph = GraphServer::start();
    let sender = format!("{}@contoso.test", unique("clerk"));
    graph.add_mailbox(&sender);
    let (cfg, _, _d) = upstream(&graph, "", "");
    let relay = TestRelay::start(&cfg, "").await;
    send(
        relay.addr(),
        &sender,
        &["x@fabrikam.test"],
        &message(&sender, &["x@fabrikam.test"], "s"),
    )
    .await;
    let sent = graph.wait_sent(1, WAIT).await;
    assert_eq!(sent[0].mailbox, sender);
}

#[tokio::test]
async fn test_mode_through_graph_reaches_only_the_redirect_address() {
    let graph = GraphServer::start();
    graph.add_mailbox(MAILBOX);
    let top = "[test_mode]\nenabled = true\nredirect_to = \"tester@contoso.test\"\n";
    let (cfg, _, _d) = upstream(&graph, &format!("mailbox = \"{MAILBOX}\""), top);
    let relay = TestRelay::start(&cfg, "").await;
    let (a, b) = ("ann@fabrikam.test", "bob@fabrikam.test");
    send(
        relay.addr(),
        MAILBOX,
        &[a, b],
        &message(MAILBOX, &[a, b], "tm"),
    )
    .await;
    let sent = graph.wait_sent(1, WAIT).await;
    let mime = text(&sent[0]);
    let to = header(&mime, "To").unwrap_or("");
    assert!(!to.contains(a) && !to.contains(b), "{mime}");
    assert_eq!(
        header(&mime, "Bcc"),
        Some("<tester@contoso.test>"),
        "{mime}"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        graph.sent().len(),
        1,
        "one message, to the redirect address only"
    );
}

#[tokio::test]
async fn a_bcc_archive_copy_is_delivered_and_hidden_from_the_other_recipients() {
    let graph = GraphServer::start();
    graph.add_mailbox(MAILBOX);
    let top = "[rewrite]\nbcc = [\"archive@contoso.test\"]\n";
    let (cfg, _, _d) = upstream(&graph, &format!("mailbox = \"{MAILBOX}\""), top);
    let relay = TestRelay::start(&cfg, "").await;
    let to = "ann@fabrikam.test";
    send(
        relay.addr(),
        MAILBOX,
        &[to],
        &message(MAILBOX, &[to], "bcc"),
    )
    .await;
    let sent = graph.wait_sent(1, WAIT).await;
    let mime = text(&sent[0]);
    assert_eq!(
        header(&mime, "Bcc"),
        Some("<archive@contoso.test>"),
        "{mime}"
    );
    assert_eq!(header(&mime, "To"), Some("<ann@fabrikam.test>"), "{mime}");
}

#[tokio::test]
async fn a_1201_recipient_message_is_split_by_max_recipients_per_message() {
    let graph = GraphServer::start();
    graph.add_mailbox(MAILBOX);
    let extra =
        format!("mailbox = \"{MAILBOX}\"\n[upstream.limits]\nmax_recipients_per_message = 500");
    let (cfg, _, _d) = upstream(&graph, &extra, "");
    let relay = TestRelay::start(&cfg, "max_recipients = 2000").await;
    let rcpts: Vec<String> = (0..1201).map(|i| format!("r{i}@fabrikam.test")).collect();
    let refs: Vec<&str> = rcpts.iter().map(String::as_str).collect();
    let reply = send(
        relay.addr(),
        MAILBOX,
        &refs,
        &message(MAILBOX, &refs[..3], "split"),
    )
    .await;
    assert!(reply.starts_with("250"), "{reply}");
    let sent = graph.wait_sent(3, WAIT).await;
    let mut sizes = Vec::new();
    let mut all = Vec::new();
    for s in &sent {
        let mime = text(s);
        let named: Vec<String> = ["To", "Cc", "Bcc"]
            .iter()
            .filter_map(|h| header(&mime, h))
            .flat_map(|v| {
                v.split(", ")
                    .map(|a| a.trim_matches(['<', '>']).to_string())
            })
            .collect();
        sizes.push(named.len());
        all.extend(named);
    }
    sizes.sort();
    assert_eq!(sizes, vec![201, 500, 500]);
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 1201, "every recipient exactly once");
}

/// A 25 MB PDF: over Graph's 4 MB request limit, so a draft, an upload session in aligned
/// chunks, then send; the stand-in checks alignment and ranges and keeps the bytes.
#[tokio::test]
async fn a_25_mb_pdf_goes_through_an_upload_session_byte_identical() {
    let graph = GraphServer::start();
    graph.add_mailbox(MAILBOX);
    let (cfg, _, _d) = upstream(&graph, &format!("mailbox = \"{MAILBOX}\""), "");
    let relay = TestRelay::start(&cfg, "max_message_size = \"40MB\"").await;
    let pdf = pdf_bytes(25 * 1024 * 1024);
    let body = with_attachment(MAILBOX, "ann@fabrikam.test", "report.pdf", &pdf);
    let reply = send(relay.addr(), MAILBOX, &["ann@fabrikam.test"], &body).await;
    assert!(reply.starts_with("250"), "{reply}");
    let sent = graph.wait_sent(1, Duration::from_secs(120)).await;
    assert!(sent[0].via_draft);
    assert_eq!(sent[0].attachments.len(), 1);
    let (name, ctype, bytes) = &sent[0].attachments[0];
    assert_eq!(
        (name.as_str(), ctype.as_str()),
        ("report.pdf", "application/pdf")
    );
    assert!(
        bytes == &pdf,
        "the PDF arrived changed ({} bytes)",
        bytes.len()
    );
    assert!(text(&sent[0]).contains("Please find the report attached."));
    assert_eq!(graph.drafts(), 0);
    let puts = graph
        .requests()
        .into_iter()
        .filter(|r| r.method == "PUT")
        .count();
    assert_eq!(puts, (25 * 1024 * 1024usize).div_ceil(327_680 * 12));
}

#[tokio::test]
async fn a_draft_path_failing_midway_deletes_the_draft_and_sends_once_on_the_retry() {
    let graph = GraphServer::start();
    graph.add_mailbox(MAILBOX);
    graph.fail_step(Step::UploadChunk);
    let (cfg, _, _d) = upstream(
        &graph,
        &format!("mailbox = \"{MAILBOX}\""),
        "[retry]\nschedule = [\"1s\"]\n",
    );
    let relay = TestRelay::start(&cfg, "").await;
    let pdf = pdf_bytes(5 * 1024 * 1024);
    let body = with_attachment(MAILBOX, "ann@fabrikam.test", "r.pdf", &pdf);
    send(relay.addr(), MAILBOX, &["ann@fabrikam.test"], &body).await;
    relay
        .wait_queue("first attempt failed", |q| {
            q.first().is_some_and(|e| e.attempts >= 1)
        })
        .await;
    let sent = graph.wait_sent(1, WAIT).await;
    assert_eq!(sent[0].attachments[0].2, pdf);
    assert_eq!(graph.drafts(), 0, "the failed attempt's draft was deleted");
    let deletes = graph
        .requests()
        .into_iter()
        .filter(|r| r.method == "DELETE")
        .count();
    assert!(deletes >= 1);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(graph.sent().len(), 1, "sent once");
}

#[tokio::test]
async fn a_429_with_retry_after_holds_the_mail_without_counting_an_attempt() {
    let graph = GraphServer::start();
    graph.add_mailbox(MAILBOX);
    graph.fail_next(429, "ApplicationThrottled", Some(2), 1);
    let (cfg, _, _d) = upstream(&graph, &format!("mailbox = \"{MAILBOX}\""), "");
    let relay = TestRelay::start(&cfg, "").await;
    let start = Instant::now();
    send(
        relay.addr(),
        MAILBOX,
        &["a@fabrikam.test"],
        &message(MAILBOX, &["a@fabrikam.test"], "t"),
    )
    .await;
    let q = relay
        .wait_queue("held", |q| {
            q.first().is_some_and(|e| e.limited_by.is_some())
        })
        .await;
    assert_eq!(q[0].attempts, 0, "a hold is not an attempt");
    graph.wait_sent(1, WAIT).await;
    assert!(
        start.elapsed() >= Duration::from_secs(2),
        "it rested as long as Graph asked"
    );
}

#[tokio::test]
async fn a_503_with_retry_after_pauses_the_upstream_too() {
    let graph = GraphServer::start();
    graph.add_mailbox(MAILBOX);
    graph.fail_next(503, "ServiceUnavailable", Some(1), 1);
    let (cfg, _, _d) = upstream(&graph, &format!("mailbox = \"{MAILBOX}\""), "");
    let relay = TestRelay::start(&cfg, "").await;
    send(
        relay.addr(),
        MAILBOX,
        &["a@fabrikam.test"],
        &message(MAILBOX, &["a@fabrikam.test"], "t"),
    )
    .await;
    relay
        .wait_queue("held", |q| {
            q.first()
                .is_some_and(|e| e.limited_by.is_some() && e.attempts == 0)
        })
        .await;
    graph.wait_sent(1, WAIT).await;
}

#[tokio::test]
async fn a_401_drops_the_token_and_succeeds_with_a_fresh_one() {
    let graph = GraphServer::start();
    graph.add_mailbox(MAILBOX);
    graph.fail_next(401, "InvalidAuthenticationToken", None, 1);
    let (cfg, id, _d) = upstream(&graph, &format!("mailbox = \"{MAILBOX}\""), "");
    let relay = TestRelay::start(&cfg, "").await;
    send(
        relay.addr(),
        MAILBOX,
        &["a@fabrikam.test"],
        &message(MAILBOX, &["a@fabrikam.test"], "t"),
    )
    .await;
    graph.wait_sent(1, WAIT).await;
    relay.wait_queue("gone", |q| q.is_empty()).await;
    assert_eq!(TokenServer::get().client(&id).token_requests, 2);
}

/// 403 and 404 are the admin's to fix: the mail stays queued, never bounces.
#[tokio::test]
async fn configuration_refusals_keep_the_mail_queued_with_graphs_reason() {
    type Refuse = fn(&GraphServer, &str);
    let cases: [(&str, Refuse); 3] = [
        ("ErrorAccessDenied", |g, id| g.deny_client(id)),
        ("ErrorSendAsDenied", |g, _| g.deny_send_as(MAILBOX)),
        ("ErrorInvalidUser", |_, _| {}),
    ];
    for (code, arrange) in cases {
        let graph = GraphServer::start();
        if code != "ErrorInvalidUser" {
            graph.add_mailbox(MAILBOX);
        }
        let (cfg, id, _d) = upstream(&graph, &format!("mailbox = \"{MAILBOX}\""), "");
        arrange(&graph, &id);
        let relay = TestRelay::start(&cfg, "").await;
        send(
            relay.addr(),
            MAILBOX,
            &["a@fabrikam.test"],
            &message(MAILBOX, &["a@fabrikam.test"], "c"),
        )
        .await;
        let reply = relay.first_deferral().await;
        assert!(reply.contains(code), "{code}: {reply}");
        assert!(graph.sent().is_empty());
    }
}

#[tokio::test]
async fn a_400_for_a_malformed_message_bounces_with_graphs_text() {
    let graph = GraphServer::start();
    graph.add_mailbox(MAILBOX);
    graph.fail_next(400, "ErrorInvalidRecipients", None, 1);
    let (cfg, _, _d) = upstream(&graph, &format!("mailbox = \"{MAILBOX}\""), "");
    let relay = TestRelay::start(&cfg, "").await;
    send(
        relay.addr(),
        MAILBOX,
        &["a@fabrikam.test"],
        &message(MAILBOX, &["a@fabrikam.test"], "b"),
    )
    .await;
    // The bounce itself goes out through Graph to the sender.
    let sent = graph.wait_sent(1, WAIT).await;
    let bounce = text(&sent[0]);
    assert!(bounce.contains("multipart/report"), "{bounce}");
    assert!(bounce.contains("ErrorInvalidRecipients"), "{bounce}");
    assert!(
        header(&bounce, "Bcc").is_some_and(|b| b.contains(MAILBOX))
            || header(&bounce, "To").is_some_and(|b| b.contains(MAILBOX)),
        "{bounce}"
    );
}

#[tokio::test]
async fn notify_success_gets_the_relays_own_relayed_notice() {
    let graph = GraphServer::start();
    graph.add_mailbox(MAILBOX);
    let (cfg, _, _d) = upstream(&graph, &format!("mailbox = \"{MAILBOX}\""), "");
    let relay = TestRelay::start(&cfg, "").await;
    let (mut c, _) = Client::connect(relay.addr()).await;
    c.cmd("EHLO payroll.local").await;
    c.cmd(&format!("MAIL FROM:<{MAILBOX}>")).await;
    c.cmd("RCPT TO:<a@fabrikam.test> NOTIFY=SUCCESS").await;
    c.cmd("DATA").await;
    let mut data = smarthost::upstream::dot_stuff(&message(MAILBOX, &["a@fabrikam.test"], "n"));
    if !data.ends_with(b".\r\n") {
        data.extend_from_slice(b".\r\n");
    }
    c.raw(&data).await;
    assert!(c.reply().await.starts_with("250"));
    let sent = graph.wait_sent(2, WAIT).await;
    let notice = sent
        .iter()
        .map(text)
        .find(|m| m.contains("multipart/report"))
        .unwrap();
    assert!(notice.contains("Action: relayed"), "{notice}");
}

#[tokio::test]
async fn a_dkim_signature_is_made_again_when_graph_needs_other_recipient_headers() {
    let graph = GraphServer::start();
    let from = "pay@dkim.smarthost.test";
    graph.add_mailbox(from);
    let top = format!(
        "[dkim]\ndomain = \"dkim.smarthost.test\"\nselector = \"rsa\"\nkey_file = \"{}\"\n\
         [test_mode]\nenabled = true\nredirect_to = \"tester@contoso.test\"\n",
        root().join("tests/dns/keys/rsa.pem").display()
    );
    let (cfg, _, _d) = upstream(&graph, "", &top);
    let relay = TestRelay::start(&cfg, "").await;
    send(
        relay.addr(),
        from,
        &["ann@fabrikam.test"],
        &message(from, &["ann@fabrikam.test"], "dkim"),
    )
    .await;
    let sent = graph.wait_sent(1, WAIT).await;
    let mime = text(&sent[0]);
    assert_eq!(mime.matches("DKIM-Signature:").count(), 1, "{mime}");
    let (code, report) = common::dkim_verify(&sent[0].mime);
    assert_eq!(code, 0, "{report}");
    assert!(report.contains("result=pass"), "{report}");
}

#[tokio::test]
async fn send_test_names_the_graph_verdict_in_french() {
    let graph = GraphServer::start();
    graph.add_mailbox(MAILBOX);
    let (cfg, id, _d) = upstream(&graph, &format!("mailbox = \"{MAILBOX}\""), "");
    let relay = TestRelay::start(&cfg, "").await;
    let (code, out) = relay.cli(&[
        "send-test",
        "--upstream",
        "m365",
        "--to",
        "ann@fabrikam.test",
    ]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("token") && out.contains("mailbox") && out.contains("202 Accepted"),
        "{out}"
    );
    assert_eq!(graph.sent().len(), 1);
    graph.deny_client(&id);
    let (code, out) = relay.cli(&[
        "send-test",
        "--upstream",
        "m365",
        "--no-send",
        "--lang",
        "fr",
    ]);
    assert_ne!(code, 0, "{out}");
    assert!(out.contains("FAILED (graph_permission_missing)"), "{out}");
    assert!(
        out.contains("autorisation d'application Mail.Send"),
        "{out}"
    );
}

/// Throughput of the Graph path against the stand-in, one and ten concurrent clients (a figure
/// for the notes, not an assertion): `cargo test --release --test graph -- --ignored --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn graph_throughput() {
    for clients in [1usize, 10] {
        let graph = GraphServer::start();
        graph.add_mailbox(MAILBOX);
        let (cfg, _, _d) = upstream(
            &graph,
            &format!("mailbox = \"{MAILBOX}\"\n[upstream.limits]\nmax_connections = 10"),
            "",
        );
        let relay = TestRelay::start(&cfg, "").await;
        let n = 300;
        let start = Instant::now();
        let addr = relay.addr();
        let tasks: Vec<_> = (0..clients)
            .map(|c| {
                tokio::spawn(async move {
                    for i in 0..n / clients {
                        let to = format!("r{c}-{i}@fabrikam.test");
                        send(addr, MAILBOX, &[&to], &message(MAILBOX, &[&to], "tp")).await;
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        graph.wait_sent(n, Duration::from_secs(300)).await;
        let secs = start.elapsed().as_secs_f64();
        println!(
            "graph path: {clients} client(s): {n} messages in {secs:.2} s = {:.0} msg/s",
            n as f64 / secs
        );
    }
}

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Bytes that look like a PDF and cover every byte value, so any re-encoding would show.
fn pdf_bytes(n: usize) -> Vec<u8> {
    let mut v = b"%PDF-1.7\n".to_vec();
    let mut x: u32 = 2463534242;
    while v.len() < n {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        v.push((x >> 24) as u8);
    }
    v
}

fn with_attachment(from: &str, to: &str, name: &str, bytes: &[u8]) -> Vec<u8> {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(bytes);
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(76)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "From: <{from}>\r\nTo: <{to}>\r\nSubject: report\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"XYZ\"\r\n\r\n--XYZ\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\r\nPlease find the report attached.\r\n--XYZ\r\n\
         Content-Type: application/pdf; name=\"{name}\"\r\n\
         Content-Disposition: attachment; filename=\"{name}\"\r\n\
         Content-Transfer-Encoding: base64\r\n\r\n{}\r\n--XYZ--\r\n",
        lines.join("\r\n")
    )
    .into_bytes()
}
