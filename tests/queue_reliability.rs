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
    assert!(c.cmd("EHLO c").await.starts_with("250"));
    assert!(
        c.cmd(&format!("MAIL FROM:<{sender}>"))
            .await
            .starts_with("250")
    );
    assert!(
        c.cmd(&format!("RCPT TO:<{bad}> NOTIFY=NEVER"))
            .await
            .starts_with("250")
    );
    assert!(c.cmd("DATA").await.starts_with("354"));
    c.raw(&smarthost::upstream::dot_stuff(&message("never")))
        .await;
    assert!(c.reply().await.starts_with("250"));
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
