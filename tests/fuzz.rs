//! Property-based fuzzing (proptest) of what reads untrusted input: the SMTP session machine
//! with its command parser and DATA reader, fed arbitrary and SMTP-shaped bytes in arbitrary
//! chunks; and the config loader, fed arbitrary and TOML-shaped text. Properties: no panic,
//! every reply well-formed, bytes consumed never more than given, unconsumed input bounded
//! (no unbounded memory), messages never larger than the size limit. Failing inputs are kept
//! by proptest in `proptest-regressions/fuzz.txt` and replayed first on every run.
//! `FUZZ_CASES` sets the number of cases per target (CI default below).

use std::path::Path;

use proptest::prelude::*;
use smarthost::config::Config;
use smarthost::session::login::AuthOffer;
use smarthost::session::machine::{Action, Limits, Machine};
use smarthost::upstream;

const MAX_SIZE: u64 = 4096;

fn cases() -> u32 {
    std::env::var("FUZZ_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(2000)
}

fn machine(tls: bool) -> Machine {
    Machine::new(
        Limits {
            hostname: "relay.test".into(),
            max_message_size: MAX_SIZE,
            max_errors: 50,
            max_recipients: 20,
            tls_available: tls,
        },
        false,
    )
    .with_auth(
        if tls {
            AuthOffer::AlsoPlaintext
        } else {
            AuthOffer::TlsOnly
        },
        tls,
    )
    // Half the cases also hold MAIL for a sender check (SPF in reject mode).
    .with_sender_check(tls)
}

/// Feeds `chunks` the way the session driver does and checks the properties after each step.
fn drive(m: &mut Machine, chunks: &[Vec<u8>]) {
    let mut pending: Vec<u8> = Vec::new();
    let mut actions = Vec::new();
    for chunk in chunks {
        pending.extend_from_slice(chunk);
        loop {
            let used = m.receive(&pending, &mut actions);
            assert!(
                used <= pending.len(),
                "consumed {used} of {}",
                pending.len()
            );
            pending.drain(..used);
            for a in actions.drain(..) {
                match a {
                    Action::Reply(r) => {
                        assert!((200..600).contains(&r.code), "reply code {}", r.code);
                        let mut out = Vec::new();
                        r.write_to(&mut out);
                        assert!(out.ends_with(b"\r\n"));
                        assert!(out.iter().all(|b| *b != 0), "NUL in a reply");
                    }
                    Action::Deliver(tx) => {
                        assert!(
                            tx.body.len() as u64 <= MAX_SIZE,
                            "oversize message delivered"
                        );
                        assert!(!tx.envelope.recipients.is_empty());
                        m.delivered(Ok("QUEUEID".into()));
                    }
                    Action::StartTls => {
                        // RFC 3207: input pipelined after STARTTLS is discarded.
                        pending.clear();
                        m.tls_established();
                    }
                    Action::Authenticate(l) => {
                        let ok = l.password.len() % 2 == 0;
                        m.authenticated(ok.then(|| l.username.clone()));
                    }
                    Action::CheckSender(sender) => {
                        let refuse = sender.len() % 2 == 1;
                        m.sender_checked(
                            refuse.then(|| {
                                smarthost::session::reply::Reply::new(550, "5.7.23", "SPF")
                            }),
                        );
                    }
                    Action::Close | Action::ClientSpeaksTls => return,
                }
            }
            if m.is_closed() {
                return;
            }
            if used == 0 || pending.is_empty() {
                break;
            }
        }
        // A line is at most 1,000 bytes (a DATA line may be longer, but is consumed as it
        // comes): what waits for more input stays small whatever the client sends.
        assert!(
            pending.len() <= 2048 + chunk.len(),
            "{} bytes left unconsumed",
            pending.len()
        );
    }
}

/// The bodies of the messages a normalizing machine delivers for `chunks`.
fn delivered_bodies(chunks: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let mut m = machine(false);
    let mut bodies = Vec::new();
    let mut pending = Vec::new();
    let mut actions = Vec::new();
    for chunk in chunks {
        pending.extend_from_slice(chunk);
        loop {
            let used = m.receive(&pending, &mut actions);
            pending.drain(..used);
            for a in actions.drain(..) {
                if let Action::Deliver(tx) = a {
                    bodies.push(tx.body);
                    m.delivered(Ok("Q".into()));
                }
            }
            if used == 0 || pending.is_empty() || m.is_closed() {
                break;
            }
        }
    }
    bodies
}

/// Every CR is followed by LF, every LF follows a CR, and `CRLF . CRLF` (or a first line `.`)
/// appears only as the final end-of-data line.
fn assert_crlf_only_and_one_terminator(data: &[u8]) {
    for (i, b) in data.iter().enumerate() {
        match b {
            b'\r' => assert_eq!(data.get(i + 1), Some(&b'\n'), "bare CR at {i}: {data:?}"),
            b'\n' => assert!(i > 0 && data[i - 1] == b'\r', "bare LF at {i}: {data:?}"),
            _ => {}
        }
    }
    let framed = [b"\r\n", data].concat();
    let ends = memchr::memmem::find_iter(&framed, b"\r\n.\r\n").count();
    assert_eq!(ends, 1, "end-of-data lines: {data:?}");
    assert!(framed.ends_with(b"\r\n.\r\n"));
}

fn chunked(bytes: Vec<u8>, cuts: Vec<usize>) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut rest = bytes.as_slice();
    for c in cuts {
        if rest.is_empty() {
            break;
        }
        let (a, b) = rest.split_at(c.min(rest.len()).max(1));
        out.push(a.to_vec());
        rest = b;
    }
    if !rest.is_empty() {
        out.push(rest.to_vec());
    }
    out
}

/// SMTP-shaped lines: real verbs with odd arguments, DATA bodies with dot lines, long lines,
/// bare LF and CR, 8-bit bytes.
fn smtp_line() -> impl Strategy<Value = Vec<u8>> {
    let verb = prop::sample::select(vec![
        "EHLO",
        "HELO",
        "MAIL FROM:",
        "RCPT TO:",
        "DATA",
        "RSET",
        "NOOP",
        "QUIT",
        "VRFY",
        "HELP",
        "STARTTLS",
        "AUTH PLAIN",
        "BDAT",
        "mail from:<",
        "RCPT TO:<",
        ".",
        "..",
        "",
    ]);
    let arg = prop::collection::vec(any::<u8>(), 0..40);
    let tail = prop::sample::select(vec![
        "<a@b.test>",
        "<>",
        "<a@b.test> SIZE=99999999",
        "<a@b.test> BODY=8BITMIME SMTPUTF8",
        "<r@x.test> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;r+40x.test",
        "<@route:a@b>",
        "<a@[127.0.0.1]>",
        " RET=HDRS ENVID=x+2By",
        "",
    ]);
    let end = prop::sample::select(vec!["\r\n", "\n", "\r", "", "\r\n\r\n"]);
    let long = prop::option::weighted(0.05, 900usize..3000);
    (verb, tail, arg, end, long).prop_map(|(v, t, a, e, long)| {
        let mut line = v.as_bytes().to_vec();
        line.extend_from_slice(t.as_bytes());
        line.extend_from_slice(&a);
        if let Some(n) = long {
            line.extend(std::iter::repeat_n(b'x', n));
        }
        line.extend_from_slice(e.as_bytes());
        line
    })
}

/// The kept corpus (`tests/fuzz-corpus/`): seeds and past findings, each replayed whole and in
/// every two-piece split, on both kinds of session.
#[test]
fn the_corpus_replays_without_a_finding() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz-corpus");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        for tls in [false, true] {
            drive(&mut machine(tls), std::slice::from_ref(&bytes));
            for cut in 1..bytes.len() {
                drive(
                    &mut machine(tls),
                    &[bytes[..cut].to_vec(), bytes[cut..].to_vec()],
                );
            }
        }
        n += 1;
    }
    assert!(n >= 4, "corpus missing: {}", dir.display());
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: cases(),
        // Integration tests have no lib.rs beside them: keep failures in one known file.
        failure_persistence: Some(Box::new(
            proptest::test_runner::FileFailurePersistence::Direct("proptest-regressions/fuzz.txt"),
        )),
        ..ProptestConfig::default()
    })]

    #[test]
    fn session_machine_survives_arbitrary_bytes(
        bytes in prop::collection::vec(any::<u8>(), 0..4096),
        cuts in prop::collection::vec(1usize..600, 0..20),
        tls in any::<bool>(),
    ) {
        drive(&mut machine(tls), &chunked(bytes, cuts));
    }

    #[test]
    fn session_machine_survives_smtp_shaped_input(
        lines in prop::collection::vec(smtp_line(), 0..60),
        cuts in prop::collection::vec(1usize..300, 0..30),
        tls in any::<bool>(),
    ) {
        let mut bytes = b"EHLO fuzz.test\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\n".to_vec();
        for l in lines {
            bytes.extend_from_slice(&l);
        }
        drive(&mut machine(tls), &chunked(bytes, cuts));
    }

    /// Issue 18 finding 3: whatever a client sends in DATA, what goes upstream (the delivered
    /// body, dot-stuffed) has CRLF line ends only and one end-of-data line, its last.
    #[test]
    fn bytes_sent_upstream_never_hold_a_bare_cr_or_lf_inside_data(
        body in prop::collection::vec(
            prop::sample::select(vec![b'\r', b'\n', b'.', b'\0', b'x', b' ']), 0..300),
        noise in prop::collection::vec(any::<u8>(), 0..100),
        cuts in prop::collection::vec(1usize..100, 0..10),
    ) {
        let mut input = b"EHLO c\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\nDATA\r\n".to_vec();
        input.extend_from_slice(&body);
        input.extend_from_slice(&noise);
        input.extend_from_slice(b"\r\n.\r\n");
        for upstream in delivered_bodies(&chunked(input, cuts)).iter().map(|b| upstream::dot_stuff(b)) {
            assert_crlf_only_and_one_terminator(&upstream);
        }
    }

    #[test]
    fn config_loader_never_panics_on_arbitrary_text(text in ".{0,400}") {
        let _ = Config::load(&text, Path::new("fuzz.toml"));
    }

    #[test]
    fn config_loader_never_panics_on_toml_shaped_text(
        parts in prop::collection::vec(
            (
                prop::sample::select(vec![
                    "[server]", "[spool]", "[retry]", "[[upstream]]", "[upstream.limits]",
                    "[blacklist]", "[test_mode]", "[rewrite]", "[admin]", "[upstream.rewrite]", "",
                ]),
                prop::sample::select(vec![
                    "listen", "name", "host", "port", "conn", "auth", "username", "password",
                    "preset", "rate", "batch", "batch_wait", "per_hour", "per_day", "count",
                    "max_connections", "schedule", "max_age", "from", "redirect_to", "enabled",
                    "allowed_networks", "max_message_size", "kind", "dir", "default", "senders",
                ]),
                prop::sample::select(vec![
                    "\"587 AUTH:LOGIN CONN:STARTTLS LIMITE:12 WAIT:15.5\"", "0", "-1", "99999999999",
                    "\"\"", "\"30/min\"", "\"0/s\"", "\"1.5s\"", "[\"1m\"]", "[]", "true",
                    "\"recipients\"", "\"office365\"", "\"127.0.0.1:0\"", "[\"10.0.0.0/33\"]",
                    "\"35MB\"", "\"é\u{0}x\"", "{ a = 1 }", "1e309",
                ]),
            ),
            0..25,
        ),
    ) {
        let mut text = String::new();
        for (section, key, value) in parts {
            text.push_str(&format!("{section}\n{key} = {value}\n"));
        }
        let _ = Config::load(&text, Path::new("fuzz.toml"));
    }
}
