//! 8-bit and UTF-8 mail toward upstreams that offer neither 8BITMIME nor SMTPUTF8 (issue 19,
//! part 3): the real Postfix on the harness's port 2591 (`smtputf8_enable = no`, 8BITMIME not
//! advertised) and a scripted 7-bit server. An 8-bit body goes out converted to 7 bits and
//! signed again (the signature verifies against the key in the test DNS); a UTF-8 recipient
//! bounces with 5.6.7 while the other recipients of the message are delivered; a UTF-8 address
//! sent without the SMTPUTF8 parameter is never relayed bare.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::scripted::{Seen, next, seven_bit_server};
use common::{Client, Harness, TestRelay, unique};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

fn dns() {
    let ok = Command::new(root().join("tests/dns/test-dns.sh"))
        .arg("ready")
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "the test DNS server is not running: tests/dns/test-dns.sh start"
    );
}

fn dkim_section() -> String {
    format!(
        "[dkim]\ndomain = \"dkim.smarthost.test\"\nselector = \"rsa\"\nkey_file = \"{}\"\n",
        root().join("tests/dns/keys/rsa.pem").display()
    )
}

fn eight_bit_message(from: &str, subject: &str) -> Vec<u8> {
    format!(
        "From: Jörg Müller <{from}>\r\nTo: kunden@example.net\r\nSubject: {subject} für März\r\n\
         Message-ID: <{subject}@dkim.smarthost.test>\r\n\r\nGrüße aus Zürich,\r\n\
         die Lohnabrechnung ist fertig.\r\n"
    )
    .into_bytes()
}

/// Sends like msmtp and Perl do: no SMTPUTF8 and no BODY parameter, UTF-8 as it comes.
async fn send_bare(relay: &TestRelay, from: &str, rcpts: &[&str], data: &[u8]) -> String {
    let (mut c, _) = Client::connect(relay.addr()).await;
    c.send(&format!("<{from}>"), rcpts, data).await
}

#[tokio::test]
async fn an_8bit_message_reaches_a_7bit_server_converted_and_signed() {
    dns();
    let (port, mut seen) = seven_bit_server().await;
    let upstream = format!(
        "{}[[upstream]]\nname = \"old\"\nhost = \"127.0.0.1\"\nport = {port}\n\
         conn = \"plaintext\"\nauth = \"none\"\ntimeout = \"10s\"\n",
        dkim_section()
    );
    let relay = TestRelay::start(&upstream, "").await;
    let from = format!("{}@dkim.smarthost.test", unique("pay"));
    let subject = unique("seven");
    let original = eight_bit_message(&from, &subject);
    let r = send_bare(&relay, &from, &["<someone@example.net>"], &original).await;
    assert!(r.starts_with("250"), "{r}");
    let Seen::Message(data) = next(&mut seen).await else {
        panic!("no message")
    };
    assert!(data.is_ascii(), "8-bit octets sent to a 7-bit server");
    let parsed = mail_parser::MessageParser::default().parse(&data).unwrap();
    assert_eq!(
        parsed.subject(),
        Some(format!("{subject} für März").as_str())
    );
    assert_eq!(
        parsed.body_text(0).unwrap(),
        "Grüße aus Zürich,\r\ndie Lohnabrechnung ist fertig.\r\n"
    );
    let (code, report) = common::dkim_verify(&data);
    assert_eq!(code, 0, "the signature must cover what was sent: {report}");
    assert!(report.contains("result=pass"), "{report}");
}

#[tokio::test]
async fn toward_postfix_without_smtputf8_a_utf8_recipient_bounces_5_6_7_and_the_others_go() {
    dns();
    let h = Harness::get();
    let upstream = format!(
        "{}[[upstream]]\nname = \"postfix-7bit\"\nhost = \"127.0.0.1\"\nport = {}\n\
         conn = \"plaintext\"\nauth = \"none\"\ntimeout = \"20s\"\n",
        dkim_section(),
        h.var("HARNESS_7BIT_PORT")
    );
    let relay = TestRelay::start(&upstream, "").await;
    let from = format!("{}@dkim.smarthost.test", unique("pay"));
    let ascii = format!("{}@example.net", unique("ascii"));
    let utf8 = format!("{}@bücher.example", unique("jörg"));
    let message = eight_bit_message(&from, &unique("utf8"));
    let r = send_bare(
        &relay,
        &from,
        &[&format!("<{utf8}>"), &format!("<{ascii}>")],
        &message,
    )
    .await;
    assert!(r.starts_with("250"), "{r}");

    // The ASCII recipient: delivered, in 7 bits, signed, without SMTPUTF8 or the UTF-8 address.
    let got = h.wait_for(&ascii).await;
    assert!(
        got.data.is_ascii(),
        "{}",
        String::from_utf8_lossy(&got.data)
    );
    assert!(
        !got.mail_params().iter().any(|p| p.contains("SMTPUTF8")),
        "{:?}",
        got.mail_params()
    );
    let rcpts = got.json["rcpt_to"].as_array().unwrap();
    assert_eq!(rcpts.len(), 1, "only the ASCII recipient: {rcpts:?}");
    let (code, report) = common::dkim_verify(&got.data);
    assert_eq!(code, 0, "{report}");

    // The UTF-8 recipient: a bounce to the sender, with 5.6.7 and the reason.
    let bounce = h.wait_for(&from).await;
    let text = String::from_utf8_lossy(&bounce.data);
    assert!(text.contains("5.6.7"), "{text}");
    assert!(text.contains("does not offer SMTPUTF8"), "{text}");
    relay
        .wait_queue("message done", |q| q.is_empty() || q.len() == 1)
        .await;
}

#[tokio::test]
async fn a_utf8_address_sent_without_the_parameter_is_forwarded_with_smtputf8() {
    let h = Harness::get();
    let upstream = format!(
        "[[upstream]]\nname = \"postfix\"\nhost = \"127.0.0.1\"\nport = {}\n\
         conn = \"plaintext\"\nauth = \"none\"\ntimeout = \"20s\"\n",
        h.var("HARNESS_PLAIN_PORT")
    );
    let relay = TestRelay::start(&upstream, "").await;
    let utf8 = format!("{}@bücher.example", unique("jörg"));
    let message = eight_bit_message("payroll@example.test", &unique("bare"));
    let r = send_bare(
        &relay,
        "payroll@example.test",
        &[&format!("<{utf8}>")],
        &message,
    )
    .await;
    assert!(r.starts_with("250"), "{r}");
    // Postfix refuses a UTF-8 address without SMTPUTF8 (553 5.6.7): reaching the sink at all
    // shows the parameter was sent, and Postfix passes it on.
    let got = h.wait_for(&utf8).await;
    assert!(
        got.mail_params().iter().any(|p| p == "SMTPUTF8"),
        "{:?}",
        got.mail_params()
    );
    assert!(
        got.top_received().contains("with UTF8SMTP"),
        "{}",
        got.top_received()
    );
    // Our own trace field says so too (RFC 6531).
    let ours = got.headers().replace("\r\n\t", " ");
    assert!(ours.contains("(smarthost) with UTF8SMTP id "), "{ours}");
}
