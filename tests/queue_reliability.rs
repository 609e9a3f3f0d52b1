//! Retries, bounces (RFC 3464) and expiry: a message that got 250 is delivered, or its sender
//! gets a bounce that says why.

mod common;

use common::{Client, Harness, TestRelay, message, unique};
use mail_parser::MimeHeaders;

fn postfix_plain(extra: &str) -> String {
    format!(
        "{extra}\n[[upstream]]\nname = \"postfix\"\nhost = \"127.0.0.1\"\nport = 2025\nconn = \"plaintext\"\nauth = \"none\"\ntimeout = \"20s\"\n"
    )
}

#[tokio::test]
async fn a_rejected_recipient_bounces_to_the_sender_with_an_rfc_3464_report() {
    let h = Harness::get();
    let relay = TestRelay::start(&postfix_plain(""), "").await;
    let sender = format!("{}@example.net", unique("bounce-sender"));
    let bad = format!("{}@example.net", unique("reject"));
    let good = format!("{}@example.net", unique("good"));
    let (mut c, _) = Client::connect(relay.addr()).await;
    let r = c
        .send(
            &format!("<{sender}>"),
            &[&format!("<{bad}>"), &format!("<{good}>")],
            &message("bounce"),
        )
        .await;
    assert!(r.starts_with("250"), "{r}");

    let dsn = h.wait_for(&sender).await;
    assert_eq!(
        dsn.json["mail_from"], "",
        "a bounce is sent with the null sender"
    );
    let parsed = mail_parser::MessageParser::default()
        .parse(&dsn.data)
        .unwrap();
    let ct = parsed.content_type().unwrap();
    assert_eq!((ct.ctype(), ct.subtype()), ("multipart", Some("report")));
    assert_eq!(ct.attribute("report-type"), Some("delivery-status"));
    let text = String::from_utf8_lossy(&dsn.data);
    assert!(
        text.contains("Content-Type: message/delivery-status"),
        "{text}"
    );
    assert!(
        text.contains(&format!("Final-Recipient: rfc822; {bad}")),
        "{text}"
    );
    assert!(text.contains("Action: failed\r\nStatus: 5.1.1"), "{text}");
    assert!(text.contains("Diagnostic-Code: smtp; 550 5.1.1"), "{text}");
    assert!(
        !text.contains(&format!("Final-Recipient: rfc822; {good}")),
        "{text}"
    );
    h.wait_for(&good).await;
    relay
        .wait_queue("original and bounce gone", |q| q.is_empty())
        .await;
}

#[tokio::test]
async fn a_null_sender_message_never_bounces() {
    let h = Harness::get();
    let relay = TestRelay::start(&postfix_plain(""), "").await;
    let bad = format!("{}@example.net", unique("reject-nullsender"));
    let witness = format!("{}@example.net", unique("witness"));
    let (mut c, _) = Client::connect(relay.addr()).await;
    let r = c
        .send(
            "<>",
            &[&format!("<{bad}>"), &format!("<{witness}>")],
            &message("no loop"),
        )
        .await;
    assert!(r.starts_with("250"), "{r}");
    h.wait_for(&witness).await;
    relay
        .wait_queue("message done, nothing queued for a bounce", |q| {
            q.is_empty()
        })
        .await;
}

#[tokio::test]
async fn notify_never_suppresses_the_bounce() {
    let h = Harness::get();
    let relay = TestRelay::start(&postfix_plain(""), "").await;
    let sender = format!("{}@example.net", unique("never-sender"));
    let bad = format!("{}@example.net", unique("reject-never"));
    let (mut c, _) = Client::connect(relay.addr()).await;
    let r = c
        .send(
            &format!("<{sender}>"),
            &[&format!("<{bad}> NOTIFY=NEVER")],
            &message("never"),
        )
        .await;
    assert!(r.starts_with("250"), "{r}");
    relay.wait_queue("message done", |q| q.is_empty()).await;
    assert!(h.find(&sender).is_none(), "no bounce may be sent");
}

#[tokio::test]
async fn a_temporary_failure_is_retried_on_the_configured_schedule() {
    let relay = TestRelay::start(&postfix_plain("[retry]\nschedule = [\"1s\"]\n"), "").await;
    let later = format!("{}@example.net", unique("tempfail"));
    let (mut c, _) = Client::connect(relay.addr()).await;
    assert!(
        c.send(
            "<s@example.test>",
            &[&format!("<{later}>")],
            &message("retry")
        )
        .await
        .starts_with("250")
    );
    let q = relay
        .wait_queue("three attempts", |q| {
            q.first().is_some_and(|e| e.attempts >= 3)
        })
        .await;
    assert!(
        matches!(&q[0].rcpts[0].1, smarthost::spool::RcptState::Pending { last_reply: Some(r) } if r.contains("451"))
    );
}

#[tokio::test]
async fn mail_that_cannot_be_delivered_before_max_age_expires_and_bounces() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let up = format!(
        "[retry]\nschedule = [\"1s\"]\nmax_age = \"2s\"\n\n[[upstream]]\nname = \"down\"\nhost = \"127.0.0.1\"\nport = {port}\nconn = \"plaintext\"\nauth = \"none\"\ntimeout = \"1s\"\n"
    );
    let relay = TestRelay::start(&up, "").await;
    let (mut c, _) = Client::connect(relay.addr()).await;
    let r = c
        .send(
            "<payroll@example.test>",
            &["<far@example.net>"],
            &message("expire"),
        )
        .await;
    let id = common::queue_id(&r);
    // The original gives way to a bounce (null sender) addressed to the sender, which waits for
    // the same upstream.
    let q = relay
        .wait_queue("expired and bounced", |q| {
            q.len() == 1 && q[0].id != id && q[0].mail_from.is_empty()
        })
        .await;
    assert_eq!(q[0].rcpts[0].0, "payroll@example.test");
}

fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

#[tokio::test]
async fn an_unreachable_primary_hands_mail_to_its_fallback() {
    let h = Harness::get();
    let up = format!(
        "[[upstream]]\nname = \"primary\"\nhost = \"127.0.0.1\"\nport = {}\nconn = \"plaintext\"\nauth = \"none\"\n\
         timeout = \"2s\"\nfallback = \"postfix\"\ndefault = true\n{}",
        closed_port(),
        postfix_plain("")
    );
    let relay = TestRelay::start(&up, "").await;
    let rcpt = format!("{}@example.net", unique("failover"));
    let (mut c, _) = Client::connect(relay.addr()).await;
    assert!(
        c.send(
            "<s@example.test>",
            &[&format!("<{rcpt}>")],
            &message("failover")
        )
        .await
        .starts_with("250")
    );
    h.wait_for(&rcpt).await;
    relay
        .wait_queue("delivered through the fallback", |q| q.is_empty())
        .await;
}

#[tokio::test]
async fn a_recipient_refused_by_the_primary_is_not_retried_on_the_fallback() {
    let h = Harness::get();
    let out = tempfile::tempdir().unwrap();
    let up = format!(
        "{}fallback = \"spare\"\ndefault = true\n\n[[upstream]]\nname = \"spare\"\nkind = \"file\"\ndir = \"{}\"\n",
        postfix_plain(""),
        out.path().display()
    );
    let relay = TestRelay::start(&up, "").await;
    let sender = format!("{}@example.net", unique("nofailover-sender"));
    let bad = format!("{}@example.net", unique("reject-nofailover"));
    let (mut c, _) = Client::connect(relay.addr()).await;
    assert!(
        c.send(
            &format!("<{sender}>"),
            &[&format!("<{bad}>")],
            &message("refused")
        )
        .await
        .starts_with("250")
    );
    h.wait_for(&sender).await; // the bounce
    relay.wait_queue("done", |q| q.is_empty()).await;
    assert_eq!(
        std::fs::read_dir(out.path()).unwrap().count(),
        0,
        "nothing may go to the fallback"
    );
}

#[tokio::test]
async fn one_delay_notice_is_sent_after_delay_warning() {
    let up = format!(
        "[retry]\nschedule = [\"1s\"]\ndelay_warning = \"1s\"\n\n[[upstream]]\nname = \"down\"\nhost = \"127.0.0.1\"\n\
         port = {}\nconn = \"plaintext\"\nauth = \"none\"\ntimeout = \"1s\"\n",
        closed_port()
    );
    let relay = TestRelay::start(&up, "").await;
    let (mut c, _) = Client::connect(relay.addr()).await;
    let r = c
        .send(
            "<payroll@example.test>",
            &["<far@example.net>"],
            &message("slow"),
        )
        .await;
    let id = common::queue_id(&r);
    let notices =
        |q: &[smarthost::spool::QueueEntry]| q.iter().filter(|e| e.mail_from.is_empty()).count();
    relay
        .wait_queue("a delay notice to the sender", |q| notices(q) == 1)
        .await;
    // Two more attempts of the original: still a single notice.
    let q = relay
        .wait_queue("more attempts", |q| {
            q.iter().any(|e| e.id == id && e.attempts >= 4)
        })
        .await;
    assert_eq!(notices(&q), 1, "{q:#?}");
    let notice = q.iter().find(|e| e.mail_from.is_empty()).unwrap();
    assert_eq!(notice.rcpts[0].0, "payroll@example.test");
}

#[tokio::test]
async fn notify_success_is_reported_by_smarthost_when_the_upstream_cannot_do_dsn() {
    let out = tempfile::tempdir().unwrap();
    let up = format!(
        "[[upstream]]\nname = \"out\"\nkind = \"file\"\ndir = \"{}\"\n",
        out.path().display()
    );
    let relay = TestRelay::start(&up, "").await;
    let (mut c, _) = Client::connect(relay.addr()).await;
    let r = c
        .send(
            "<payroll@example.test>",
            &["<r@example.net> NOTIFY=SUCCESS"],
            &message("success"),
        )
        .await;
    assert!(r.starts_with("250"), "{r}");
    let deadline = std::time::Instant::now() + common::WAIT;
    loop {
        let reports: Vec<String> = std::fs::read_dir(out.path())
            .unwrap()
            .filter_map(|e| std::fs::read_to_string(e.ok()?.path()).ok())
            .filter(|t| t.contains("Action: relayed"))
            .collect();
        if let Some(r) = reports.first() {
            assert!(
                r.starts_with("Return-Path: <>\r\nX-Smarthost-Rcpt-To: <payroll@example.test>"),
                "{r}"
            );
            break;
        }
        assert!(std::time::Instant::now() < deadline, "no success report");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn notify_success_is_left_to_an_upstream_that_does_dsn() {
    let h = Harness::get();
    let relay = TestRelay::start(&postfix_plain(""), "").await;
    let sender = format!("{}@example.net", unique("success-sender"));
    let rcpt = format!("{}@example.net", unique("success"));
    let (mut c, _) = Client::connect(relay.addr()).await;
    let r = c
        .send(
            &format!("<{sender}>"),
            &[&format!("<{rcpt}> NOTIFY=SUCCESS")],
            &message("success"),
        )
        .await;
    assert!(r.starts_with("250"), "{r}");
    let got = h.wait_for(&rcpt).await;
    assert!(
        got.rcpt_params(&rcpt)
            .contains(&"NOTIFY=SUCCESS".to_string())
    );
    relay.wait_queue("done", |q| q.is_empty()).await;
    assert!(
        h.find(&sender).is_none(),
        "smarthost must not send its own report"
    );
}

#[tokio::test]
async fn a_restart_keeps_each_messages_attempts_and_next_attempt_time() {
    let up = format!(
        "[retry]\nschedule = [\"1h\"]\n\n[[upstream]]\nname = \"down\"\nhost = \"127.0.0.1\"\nport = {}\n\
         conn = \"plaintext\"\nauth = \"none\"\ntimeout = \"1s\"\n",
        closed_port()
    );
    let relay = TestRelay::start(&up, "").await;
    let (mut c, _) = Client::connect(relay.addr()).await;
    let r = c
        .send(
            "<payroll@example.test>",
            &["<far@example.net>"],
            &message("restart"),
        )
        .await;
    drop(c);
    let id = common::queue_id(&r);
    let before = relay
        .wait_queue("one attempt", |q| {
            q.iter().any(|e| e.id == id && e.attempts == 1)
        })
        .await;
    let relay = relay.restart().await;
    let after = relay.queue().await;
    assert_eq!(after.len(), 1);
    assert_eq!(
        (after[0].attempts, after[0].next_attempt),
        (before[0].attempts, before[0].next_attempt)
    );
    // What the restarted relay's first scan asks for: not this message, its time has not come.
    let due = relay
        .relay
        .spool
        .due(smarthost::spool::now_ms(), 100, true)
        .await
        .unwrap();
    assert!(due.is_empty(), "{due:?}");
}

/// A TCP forwarder to Postfix's plain port that can be taken down and brought back on the same
/// port: the upstream "stopped for a while".
struct Switch {
    port: u16,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Switch {
    fn down() -> Switch {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        Switch { port, task: None }
    }

    async fn up(&mut self) {
        let l = tokio::net::TcpListener::bind(("127.0.0.1", self.port))
            .await
            .unwrap();
        self.task = Some(tokio::spawn(async move {
            while let Ok((mut client, _)) = l.accept().await {
                tokio::spawn(async move {
                    if let Ok(mut server) = tokio::net::TcpStream::connect("127.0.0.1:2025").await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
            }
        }));
    }
}

impl Drop for Switch {
    fn drop(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }
}

#[tokio::test]
async fn everything_queued_while_postfix_was_unreachable_is_delivered_when_it_is_back() {
    let h = Harness::get();
    let mut switch = Switch::down();
    let up = format!(
        "[retry]\nschedule = [\"1s\"]\n\n[[upstream]]\nname = \"postfix\"\nhost = \"127.0.0.1\"\nport = {}\n\
         conn = \"plaintext\"\nauth = \"none\"\ntimeout = \"2s\"\n",
        switch.port
    );
    let relay = TestRelay::start(&up, "").await;
    let rcpts: Vec<String> = (0..3)
        .map(|i| format!("{}@example.net", unique(&format!("comeback{i}"))))
        .collect();
    for r in &rcpts {
        let (mut c, _) = Client::connect(relay.addr()).await;
        assert!(
            c.send(
                "<s@example.test>",
                &[&format!("<{r}>")],
                &message("comeback")
            )
            .await
            .starts_with("250")
        );
    }
    relay
        .wait_queue("all deferred while down", |q| {
            q.len() == 3 && q.iter().all(|e| e.attempts >= 1)
        })
        .await;
    switch.up().await;
    for r in &rcpts {
        h.wait_for(r).await;
    }
    relay.wait_queue("queue empty", |q| q.is_empty()).await;
}
