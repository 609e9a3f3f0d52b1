use super::*;
use crate::envelope::{BodyType, Notify, Ret};

pub(super) fn limits() -> Limits {
    Limits {
        hostname: "relay.test".into(),
        max_message_size: 1000,
        max_errors: 5,
        max_recipients: 3,
        tls_available: true,
    }
}

/// Feeds `input` and returns the replies as wire text; `Deliver` is answered with queue id "Q1".
pub(super) fn run(m: &mut Machine, input: &str) -> (Vec<String>, Vec<Transaction>) {
    let mut replies = Vec::new();
    let mut delivered = Vec::new();
    let mut rest = input.as_bytes();
    loop {
        let mut out = Vec::new();
        let used = m.receive(rest, &mut out);
        rest = &rest[used..];
        let mut progressed = used > 0;
        for a in out {
            match a {
                Action::Reply(r) => replies.push(r.to_wire()),
                Action::Deliver(tx) => {
                    delivered.push(*tx);
                    replies.push(m.delivered(Ok("Q1".into())).to_wire());
                    progressed = true;
                }
                Action::Authenticate(l) => {
                    let ok = l.username == "payroll" && l.password == "right";
                    let account = ok.then(|| l.username.clone());
                    replies.push(m.authenticated(account).to_wire());
                    progressed = true;
                }
                Action::CheckSender(sender) => {
                    let refusal = sender
                        .ends_with("@spf-fail.test")
                        .then(|| Reply::new(550, "5.7.23", "SPF: not authorized"));
                    replies.push(m.sender_checked(refusal).to_wire());
                    progressed = true;
                }
                Action::StartTls | Action::Close | Action::ClientSpeaksTls => {
                    return (replies, delivered);
                }
            }
        }
        if rest.is_empty() || !progressed {
            return (replies, delivered);
        }
    }
}

pub(super) fn codes(replies: &[String]) -> Vec<u16> {
    replies.iter().map(|r| r[..3].parse().unwrap()).collect()
}

/// Dialog table: each row is client input and the expected reply codes, in order.
#[test]
fn dialogs_get_the_rfc_5321_replies() {
    let table: &[(&str, &str, &[u16])] = &[
        (
            "simple transaction",
            "EHLO c\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nDATA\r\nhi\r\n.\r\nQUIT\r\n",
            &[250, 250, 250, 354, 250, 221],
        ),
        (
            "null sender",
            "HELO c\r\nMAIL FROM:<>\r\nRCPT TO:<b@y.test>\r\n",
            &[250, 250, 250],
        ),
        (
            "rcpt before mail",
            "EHLO c\r\nRCPT TO:<b@y.test>\r\n",
            &[250, 503],
        ),
        (
            "data before rcpt",
            "EHLO c\r\nMAIL FROM:<a@x.test>\r\nDATA\r\n",
            &[250, 250, 503],
        ),
        ("data before mail", "EHLO c\r\nDATA\r\n", &[250, 503]),
        (
            "nested mail",
            "EHLO c\r\nMAIL FROM:<a@x.test>\r\nMAIL FROM:<a@x.test>\r\n",
            &[250, 250, 503],
        ),
        (
            "rset clears the transaction",
            "EHLO c\r\nMAIL FROM:<a@x.test>\r\nRSET\r\nRCPT TO:<b@y.test>\r\n",
            &[250, 250, 250, 503],
        ),
        ("unknown command", "EHLO c\r\nFROB\r\n", &[250, 500]),
        (
            "bad mail syntax",
            "EHLO c\r\nMAIL FROM:a@x.test>\r\n",
            &[250, 501],
        ),
        (
            "noop vrfy help",
            "NOOP\r\nVRFY bob\r\nHELP\r\n",
            &[250, 252, 214],
        ),
        (
            "declared size too big",
            "EHLO c\r\nMAIL FROM:<a@x.test> SIZE=5000\r\n",
            &[250, 552],
        ),
        (
            "too many recipients",
            "EHLO c\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<1@y>\r\nRCPT TO:<2@y>\r\nRCPT TO:<3@y>\r\nRCPT TO:<4@y>\r\n",
            &[250, 250, 250, 250, 250, 452],
        ),
        (
            "unknown mail parameter",
            "EHLO c\r\nMAIL FROM:<a@x.test> FOO=bar\r\n",
            &[250, 555],
        ),
        (
            "auth not offered",
            "EHLO c\r\nAUTH PLAIN AGEAYg==\r\n",
            &[250, 502],
        ),
        (
            "bdat before mail: its octets are read, then 503",
            "EHLO c\r\nBDAT 6 LAST\r\nabcdef",
            &[250, 503],
        ),
        (
            "starttls inside a transaction",
            "EHLO c\r\nMAIL FROM:<a@x.test>\r\nSTARTTLS\r\n",
            &[250, 250, 503],
        ),
    ];
    for (name, input, want) in table {
        let mut m = Machine::new(limits(), false);
        let (replies, _) = run(&mut m, input);
        assert_eq!(codes(&replies), *want, "{name}: {replies:?}");
    }
}

#[test]
fn ehlo_advertises_the_extensions_and_the_size_limit() {
    let mut m = Machine::new(limits(), false);
    let (r, _) = run(&mut m, "EHLO client.test\r\n");
    for ext in [
        "PIPELINING",
        "SIZE 1000",
        "8BITMIME",
        "SMTPUTF8",
        "ENHANCEDSTATUSCODES",
        "DSN",
        "STARTTLS",
    ] {
        assert!(
            r[0].contains(&format!("250-{ext}\r\n")) || r[0].contains(&format!("250 {ext}\r\n")),
            "{ext}: {}",
            r[0]
        );
    }
}

#[test]
fn starttls_is_not_offered_without_a_certificate_or_once_tls_is_up() {
    let mut m = Machine::new(
        Limits {
            tls_available: false,
            ..limits()
        },
        false,
    );
    let (r, _) = run(&mut m, "EHLO c\r\nSTARTTLS\r\n");
    assert!(!r[0].contains("STARTTLS"));
    assert!(r[1].starts_with("502"));
    let mut m = Machine::new(limits(), true);
    let (r, _) = run(&mut m, "EHLO c\r\n");
    assert!(!r[0].contains("STARTTLS"));
}

#[test]
fn starttls_resets_the_session_state() {
    let mut m = Machine::new(limits(), false);
    let mut out = Vec::new();
    let input = b"EHLO c\r\nSTARTTLS\r\nMAIL FROM:<injected@x>\r\n";
    let used = m.receive(input, &mut out);
    assert!(out.contains(&Action::StartTls));
    assert!(
        used < input.len(),
        "bytes after STARTTLS must be left to the driver to drop"
    );
    m.tls_established();
    assert!(m.helo_name().is_none());
    assert!(m.is_tls());
}

#[test]
fn message_is_dot_unstuffed_and_envelope_carries_dsn_parameters() {
    let mut m = Machine::new(limits(), false);
    let (_, txs) = run(
        &mut m,
        "EHLO c\r\nMAIL FROM:<a@x.test> RET=HDRS ENVID=id+2B1 BODY=8BITMIME\r\n\
         RCPT TO:<b@y.test> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;b+2B1@y.test\r\nDATA\r\n\
         Subject: t\r\n\r\n..leading dot\r\nend\r\n.\r\n",
    );
    let tx = &txs[0];
    assert_eq!(tx.body, b"Subject: t\r\n\r\n.leading dot\r\nend\r\n");
    assert_eq!(tx.envelope.ret, Some(Ret::Hdrs));
    assert_eq!(tx.envelope.envid.as_deref(), Some("id+1"));
    assert_eq!(tx.envelope.body, BodyType::EightBitMime);
    let r = &tx.envelope.recipients[0];
    assert_eq!(r.orcpt.as_deref(), Some("b+1@y.test"));
    assert_eq!(
        r.notify,
        Some(Notify::On {
            success: true,
            failure: true,
            delay: false
        })
    );
}

#[test]
fn oversize_message_gets_552_and_is_not_delivered() {
    let mut m = Machine::new(limits(), false);
    let big = "x".repeat(2000);
    let (r, txs) = run(
        &mut m,
        &format!("EHLO c\r\nMAIL FROM:<a@x>\r\nRCPT TO:<b@y>\r\nDATA\r\n{big}\r\n.\r\nNOOP\r\n"),
    );
    assert!(txs.is_empty());
    assert_eq!(codes(&r), vec![250, 250, 250, 354, 552, 250]);
}

#[test]
fn line_over_1000_octets_gets_500_and_the_session_goes_on() {
    let mut m = Machine::new(limits(), false);
    let long = format!("NOOP {}\r\n", "a".repeat(1200));
    let (r, _) = run(&mut m, &format!("EHLO c\r\n{long}NOOP\r\n"));
    assert_eq!(codes(&r), vec![250, 500, 250]);
}

#[test]
fn line_over_1000_octets_split_across_reads_gets_500() {
    let mut m = Machine::new(limits(), false);
    let mut out = Vec::new();
    let chunk = vec![b'a'; 1500];
    let used = m.receive(&chunk, &mut out);
    assert_eq!(used, chunk.len());
    m.receive(b"aaa\r\nNOOP\r\n", &mut out);
    let codes: Vec<u16> = out
        .iter()
        .filter_map(|a| {
            if let Action::Reply(r) = a {
                Some(r.code)
            } else {
                None
            }
        })
        .collect();
    assert_eq!(codes, vec![500, 250]);
}

#[test]
fn too_many_errors_get_421_and_close() {
    let mut m = Machine::new(limits(), false);
    let (r, _) = run(&mut m, &"FROB\r\n".repeat(10));
    assert_eq!(codes(&r), vec![500, 500, 500, 500, 500, 421]);
    assert!(m.is_closed());
}

#[test]
fn pipelined_commands_are_answered_in_order() {
    let mut m = Machine::new(limits(), false);
    let (r, txs) = run(
        &mut m,
        "EHLO c\r\nMAIL FROM:<a@x>\r\nRCPT TO:<b@y>\r\nRCPT TO:<c@y>\r\nDATA\r\nbody\r\n.\r\nMAIL FROM:<d@x>\r\nRCPT TO:<e@y>\r\nDATA\r\nsecond\r\n.\r\nQUIT\r\n",
    );
    assert_eq!(
        codes(&r),
        vec![250, 250, 250, 250, 354, 250, 250, 250, 354, 250, 221]
    );
    assert_eq!(txs.len(), 2);
    assert_eq!(txs[1].body, b"second\r\n");
}

#[test]
fn data_split_in_every_possible_place_gives_the_same_message() {
    let input = b"EHLO c\r\nMAIL FROM:<a@x>\r\nRCPT TO:<b@y>\r\nDATA\r\nl1\r\n..l2\r\n.\r\n";
    for split in 1..input.len() {
        let mut m = Machine::new(limits(), false);
        let mut out = Vec::new();
        let mut buf = Vec::new();
        let mut body = None;
        for part in [&input[..split], &input[split..]] {
            buf.extend_from_slice(part);
            let used = m.receive(&buf, &mut out);
            buf.drain(..used);
            for a in out.drain(..) {
                if let Action::Deliver(tx) = a {
                    body = Some(tx.body.clone());
                    m.delivered(Ok("Q".into()));
                }
            }
        }
        assert_eq!(
            body.as_deref(),
            Some(&b"l1\r\n.l2\r\n"[..]),
            "split at {split}"
        );
    }
}

#[test]
fn arbitrary_bytes_never_panic() {
    // A cheap deterministic fuzz: every byte pattern of a small alphabet in short sequences.
    let alphabet: &[&[u8]] = &[
        b"MAIL FROM:<",
        b"RCPT TO:",
        b"DATA\r\n",
        b"\r\n",
        b".",
        b"\n",
        b"\0\xff",
        b"EHLO ",
        b">",
        b" SIZE=9",
    ];
    for a in alphabet {
        for b in alphabet {
            for c in alphabet {
                let mut m = Machine::new(limits(), false);
                let input = [*a, *b, *c, *a, *b].concat();
                let mut out = Vec::new();
                let mut rest = &input[..];
                for _ in 0..20 {
                    let used = m.receive(rest, &mut out);
                    rest = &rest[used..];
                    if out.iter().any(|a| matches!(a, Action::Deliver(_))) {
                        m.delivered(Ok("Q".into()));
                    }
                    out.clear();
                }
            }
        }
    }
}

// === AUTH on the listener (RFC 4954) ===

fn b64(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(s)
}

fn auth_machine(offer: AuthOffer, required: bool, tls: bool) -> Machine {
    Machine::new(limits(), tls).with_auth(offer, required)
}

#[test]
fn auth_over_plaintext_is_refused_with_538_when_tls_is_required_for_it() {
    let mut m = auth_machine(AuthOffer::TlsOnly, false, false);
    let (r, _) = run(
        &mut m,
        &format!("EHLO c\r\nAUTH PLAIN {}\r\n", b64("\0payroll\0right")),
    );
    assert!(!r[0].contains("AUTH"), "not offered before TLS: {}", r[0]);
    assert_eq!(codes(&r), vec![250, 538]);
    assert!(m.user().is_none());
}

#[test]
fn auth_plain_with_an_initial_response_logs_in_over_tls() {
    let mut m = auth_machine(AuthOffer::TlsOnly, true, true);
    let input = format!(
        "EHLO c\r\nAUTH PLAIN {}\r\nMAIL FROM:<a@x.test>\r\n",
        b64("\0payroll\0right")
    );
    let (r, _) = run(&mut m, &input);
    assert!(r[0].contains("AUTH PLAIN LOGIN"), "{}", r[0]);
    assert_eq!(codes(&r), vec![250, 235, 250]);
    assert_eq!(m.user(), Some("payroll"));
}

#[test]
fn auth_login_asks_for_username_then_password() {
    let mut m = auth_machine(AuthOffer::AlsoPlaintext, false, false);
    let input = format!(
        "EHLO c\r\nAUTH LOGIN\r\n{}\r\n{}\r\n",
        b64("payroll"),
        b64("right")
    );
    let (r, _) = run(&mut m, &input);
    assert_eq!(codes(&r), vec![250, 334, 334, 235]);
    assert_eq!(r[1], "334 VXNlcm5hbWU6\r\n");
}

#[test]
fn a_wrong_password_gets_535_and_mail_stays_refused_when_auth_is_required() {
    let mut m = auth_machine(AuthOffer::TlsOnly, true, true);
    let input = format!(
        "EHLO c\r\nAUTH PLAIN {}\r\nMAIL FROM:<a@x.test>\r\n",
        b64("\0payroll\0wrong")
    );
    let (r, _) = run(&mut m, &input);
    assert_eq!(codes(&r), vec![250, 535, 530]);
}

#[test]
fn auth_can_be_cancelled_and_is_not_implemented_without_accounts() {
    let mut m = auth_machine(AuthOffer::TlsOnly, false, true);
    let (r, _) = run(&mut m, "EHLO c\r\nAUTH LOGIN\r\n*\r\nAUTH CRAM-MD5\r\n");
    assert_eq!(codes(&r), vec![250, 334, 501, 504]);
    let mut m = auth_machine(AuthOffer::Off, false, true);
    let (r, _) = run(&mut m, "EHLO c\r\nAUTH PLAIN AGFiAGM=\r\n");
    assert_eq!(codes(&r), vec![250, 502]);
}

#[test]
fn a_refused_sender_check_ends_the_transaction_before_rcpt_and_data() {
    let mut m = Machine::new(limits(), false).with_sender_check(true);
    let (replies, delivered) = run(
        &mut m,
        "EHLO c\r\nMAIL FROM:<a@spf-fail.test>\r\nRCPT TO:<b@y.test>\r\nDATA\r\nQUIT\r\n",
    );
    assert_eq!(codes(&replies), [250, 550, 503, 503, 221]);
    assert!(replies[1].starts_with("550 5.7.23 "), "{}", replies[1]);
    assert!(delivered.is_empty());
}

#[test]
fn an_accepted_sender_check_answers_mail_with_250_and_the_transaction_goes_on() {
    let mut m = Machine::new(limits(), false).with_sender_check(true);
    let (replies, delivered) = run(
        &mut m,
        "EHLO c\r\nMAIL FROM:<a@ok.test>\r\nRCPT TO:<b@y.test>\r\nDATA\r\nhi\r\n.\r\n",
    );
    assert_eq!(codes(&replies), [250, 250, 250, 354, 250]);
    assert_eq!(delivered.len(), 1);
}
