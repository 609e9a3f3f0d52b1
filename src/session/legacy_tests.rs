//! Legacy programs as they are configured (issue 19): logins on loopback, CRAM-MD5, UTF-8
//! addresses without SMTPUTF8, size replies people understand, TLS on a plain port, and BDAT
//! under the same rules as DATA.

use super::tests::{codes, limits, run};
use super::*;
use crate::config::hardening::BareNewlines;

fn b64(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(s)
}

fn any_login_machine() -> Machine {
    Machine::new(limits(), false)
        .with_auth(AuthOffer::AlsoPlaintext, false)
        .with_cram_md5(Some("<1.2@relay.test>".into()))
}

#[test]
fn ehlo_offers_cram_md5_beside_plain_and_login_when_any_login_is_accepted() {
    let (r, _) = run(&mut any_login_machine(), "EHLO c\r\n");
    assert!(
        r[0].contains("250-AUTH PLAIN LOGIN CRAM-MD5\r\n"),
        "{}",
        r[0]
    );
    let accounts = Machine::new(limits(), false).with_auth(AuthOffer::AlsoPlaintext, false);
    let (r, _) = run(&mut { accounts }, "EHLO c\r\n");
    assert!(r[0].contains("250-AUTH PLAIN LOGIN\r\n"), "{}", r[0]);
}

#[test]
fn cram_md5_sends_the_challenge_and_hands_the_name_to_the_driver() {
    let mut m = any_login_machine();
    let mut out = Vec::new();
    m.receive(b"EHLO c\r\nAUTH CRAM-MD5\r\n", &mut out);
    let challenge = match &out[1] {
        Action::Reply(r) => r.lines[0].to_string(),
        other => panic!("{other:?}"),
    };
    assert_eq!(login::decode(&challenge).unwrap(), "<1.2@relay.test>");
    out.clear();
    let answer = format!("{}\r\n", b64("payroll 0123456789abcdef0123456789abcdef"));
    m.receive(answer.as_bytes(), &mut out);
    match &out[..] {
        [Action::Authenticate(l)] => assert_eq!(l.username, "payroll"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn cram_md5_with_accounts_is_refused_naming_the_mechanisms_offered() {
    let mut m = Machine::new(limits(), false).with_auth(AuthOffer::AlsoPlaintext, false);
    let (r, _) = run(&mut m, "EHLO c\r\nAUTH CRAM-MD5\r\n");
    assert_eq!(
        r[1],
        "504 5.5.4 Unrecognized authentication type (use PLAIN LOGIN)\r\n"
    );
}

#[test]
fn a_paused_login_is_answered_454_and_the_session_goes_on() {
    let mut m = any_login_machine();
    let mut out = Vec::new();
    let line = format!("EHLO c\r\nAUTH PLAIN {}\r\n", b64("\0payroll\0wrong"));
    m.receive(line.as_bytes(), &mut out);
    assert!(matches!(out.last(), Some(Action::Authenticate(_))));
    let r = m.auth_refused(reply::login_paused("payroll", "14:35"));
    assert_eq!(
        r.to_wire(),
        "454 4.7.0 Too many failed logins as payroll; try again after 14:35\r\n"
    );
    let (r, d) = run(
        &mut m,
        "MAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nDATA\r\nhi\r\n.\r\n",
    );
    assert_eq!(codes(&r), [250, 250, 354, 250]);
    assert_eq!(d.len(), 1);
}

#[test]
fn only_a_utf8_address_marks_the_transaction_smtputf8_even_without_the_parameter() {
    let mut m = Machine::new(limits(), false);
    let (r, d) = run(
        &mut m,
        "EHLO c\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<jörg@bücher.test>\r\nDATA\r\nhi\r\n.\r\n\
         MAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nDATA\r\nhi\r\n.\r\n",
    );
    assert_eq!(codes(&r), [250, 250, 250, 354, 250, 250, 250, 354, 250]);
    assert!(d[0].envelope.smtputf8, "marked as needing SMTPUTF8");
    assert_eq!(d[0].envelope.recipients[0].address, "jörg@bücher.test");
    assert!(
        !d[1].envelope.smtputf8,
        "an ASCII transaction is not marked"
    );
}

#[test]
fn a_declared_size_over_the_limit_gets_the_size_and_the_limit_in_words() {
    let mut m = Machine::new(limits(), false);
    let (r, _) = run(&mut m, "EHLO c\r\nMAIL FROM:<a@x.test> SIZE=1400\r\n");
    assert_eq!(
        r[1],
        "552 5.3.4 Message too big: 1.4 KB, the limit is 1 KB\r\n"
    );
    assert_eq!(m.last_sender(), Some("a@x.test"));
}

#[test]
fn a_message_over_the_limit_after_data_gets_its_size_and_the_limit() {
    let mut m = Machine::new(limits(), false);
    let body = "x".repeat(1998);
    let input =
        format!("EHLO c\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nDATA\r\n{body}\r\n.\r\n");
    let (r, _) = run(&mut m, &input);
    assert_eq!(
        r[4],
        "552 5.3.4 Message too big: 2 KB, the limit is 1 KB\r\n"
    );
}

#[test]
fn a_tls_client_hello_on_a_plain_port_closes_without_a_reply() {
    let mut m = Machine::new(limits(), false);
    let mut out = Vec::new();
    let hello = [
        0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03, b'\n',
    ];
    let used = m.receive(&hello, &mut out);
    assert_eq!(used, hello.len());
    assert_eq!(out, vec![Action::ClientSpeaksTls]);
    assert!(m.is_closed());
}

// === BDAT (RFC 3030) ===

#[test]
fn ehlo_offers_chunking() {
    let (r, _) = run(&mut Machine::new(limits(), false), "EHLO c\r\n");
    assert!(r[0].contains("250-CHUNKING\r\n"), "{}", r[0]);
}

#[test]
fn bdat_chunks_make_one_message_without_dot_unstuffing() {
    let mut m = Machine::new(limits(), false);
    let (r, d) = run(
        &mut m,
        "EHLO c\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nBDAT 8\r\n..a\r\nb\r\nBDAT 8 LAST\r\n.\r\nend\r\nQUIT\r\n",
    );
    assert_eq!(codes(&r), [250, 250, 250, 250, 250, 221]);
    assert_eq!(d[0].body, b"..a\r\nb\r\n.\r\nend\r\n");
}

#[test]
fn bdat_normalizes_bare_newlines_like_data() {
    let mut m = Machine::new(limits(), false);
    let (_, d) = run(
        &mut m,
        "EHLO c\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nBDAT 7 LAST\r\na\nb\rc\0\r",
    );
    assert_eq!(d[0].body, b"a\r\nb\r\nc\r\n");
}

#[test]
fn bdat_with_a_bare_newline_is_refused_under_reject() {
    let mut m = Machine::new(limits(), false).with_bare_newlines(BareNewlines::Reject);
    let (r, d) = run(
        &mut m,
        "EHLO c\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nBDAT 4 LAST\r\na\nb\n",
    );
    assert!(r[3].starts_with("550 5.5.2"), "{}", r[3]);
    assert!(d.is_empty());
}

#[test]
fn bdat_over_the_size_limit_gets_552_at_the_last_chunk() {
    let mut m = Machine::new(limits(), false);
    let chunk = "x".repeat(800);
    let input = format!(
        "EHLO c\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nBDAT 800\r\n{chunk}BDAT 800 LAST\r\n{chunk}NOOP\r\n"
    );
    let (r, d) = run(&mut m, &input);
    assert_eq!(codes(&r), [250, 250, 250, 250, 552, 250]);
    assert!(r[4].contains("1.6 KB, the limit is 1 KB"), "{}", r[4]);
    assert!(d.is_empty());
}

#[test]
fn bdat_counts_against_the_memory_budget() {
    let budget = super::super::budget::MemoryBudget::new(100);
    let mut m = Machine::new(limits(), false).with_memory_budget(budget.clone());
    let chunk = "y".repeat(200);
    let input =
        format!("EHLO c\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nBDAT 200 LAST\r\n{chunk}");
    let (r, d) = run(&mut m, &input);
    assert!(r[3].starts_with("452 4.3.1"), "{}", r[3]);
    assert!(d.is_empty());
    assert_eq!(budget.used(), 0, "the reservation is given back");
}

#[test]
fn a_refused_bdat_chunk_is_read_before_its_503_and_not_taken_for_commands() {
    let mut m = Machine::new(limits(), false);
    let (r, d) = run(&mut m, "EHLO c\r\nBDAT 6 LAST\r\nQUIT\r\nNOOP\r\n");
    assert_eq!(codes(&r), [250, 503, 250]);
    assert!(d.is_empty());
}

#[test]
fn data_inside_a_bdat_transaction_is_a_sequence_error() {
    let mut m = Machine::new(limits(), false);
    let (r, _) = run(
        &mut m,
        "EHLO c\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nBDAT 3\r\nabcDATA\r\n",
    );
    assert_eq!(codes(&r), [250, 250, 250, 250, 503]);
}
