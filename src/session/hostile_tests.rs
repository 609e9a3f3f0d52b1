//! Hostile-client dialogs against the machine (issue 18, findings 2, 3, 4 and 13). Each table
//! row is the client input after `DATA`, the reply codes from then on, and the bodies delivered.

use super::tests::{codes, limits, run};
use super::*;

const HEAD: &str = "EHLO c\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nDATA\r\n";
const SMUGGLED: &str = "MAIL FROM:<ceo@x.test>\r\nRCPT TO:<v@y.test>\r\nDATA\r\nevil\r\n.\r\n";

type Row<'a> = (&'a str, String, &'a [u16], &'a [&'a str]);

/// Runs every row on a fresh machine (`rule` for bare line ends) and checks codes and bodies.
fn check_table(rule: BareNewlines, table: &[Row]) {
    for (name, input, want_codes, want_bodies) in table {
        let mut m = Machine::new(limits(), false).with_bare_newlines(rule);
        let (replies, txs) = run(&mut m, &format!("{HEAD}{input}"));
        assert_eq!(codes(&replies)[4..], **want_codes, "{name}: {replies:?}");
        let bodies: Vec<String> = txs
            .iter()
            .map(|t| String::from_utf8_lossy(&t.body).into_owned())
            .collect();
        assert_eq!(bodies, *want_bodies, "{name}");
    }
}

/// The smuggled transaction, as it must arrive: content of the first message, CRLF only.
fn kept(prefix: &str) -> String {
    format!("{prefix}MAIL FROM:<ceo@x.test>\r\nRCPT TO:<v@y.test>\r\nDATA\r\nevil\r\n")
}

#[test]
fn data_ends_only_at_crlf_dot_crlf_so_no_second_transaction_is_smuggled() {
    let rows: Vec<(&str, String, String)> = vec![
        (
            "CRLF . CR CR LF",
            "hi\r\n.\r\r\n".into(),
            kept("hi\r\n.\r\n\r\n"),
        ),
        (
            "CRLF . CR CR CR LF",
            "hi\r\n.\r\r\r\n".into(),
            kept("hi\r\n.\r\n\r\n\r\n"),
        ),
        ("CRLF . LF", "hi\r\n.\n".into(), kept("hi\r\n.\r\n")),
        ("LF . LF", "hi\n.\n".into(), kept("hi\r\n.\r\n")),
        ("LF . CRLF", "hi\n.\r\n".into(), kept("hi\r\n.\r\n")),
        ("CR . CRLF", "hi\r.\r\n".into(), kept("hi\r\n.\r\n")),
    ];
    for (name, start, body) in rows {
        check_table(
            BareNewlines::Normalize,
            &[(name, format!("{start}{SMUGGLED}"), &[250], &[body.as_str()])],
        );
    }
}

#[test]
fn a_dot_alone_on_the_first_data_line_ends_an_empty_message() {
    check_table(
        BareNewlines::Normalize,
        &[("first line .", ".\r\nQUIT\r\n".into(), &[250, 221], &[""])],
    );
}

#[test]
fn a_first_data_line_starting_with_two_dots_is_unstuffed() {
    check_table(
        BareNewlines::Normalize,
        &[("first line ..x", "..x\r\n.\r\n".into(), &[250], &[".x\r\n"])],
    );
}

#[test]
fn bare_cr_and_bare_lf_become_crlf_and_nul_is_removed_under_normalize() {
    check_table(
        BareNewlines::Normalize,
        &[
            ("bare LF", "a\nb\r\n.\r\n".into(), &[250], &["a\r\nb\r\n"]),
            ("bare CR", "a\rb\r\n.\r\n".into(), &[250], &["a\r\nb\r\n"]),
            (
                "CR CR LF",
                "a\r\r\nb\r\n.\r\n".into(),
                &[250],
                &["a\r\n\r\nb\r\n"],
            ),
            ("NUL", "a\0b\r\n.\r\n".into(), &[250], &["ab\r\n"]),
            (
                "body with a bare-CR dot line",
                "x\r.\r\nMAIL FROM:<e@x.test>\r\n.\r\n".into(),
                &[250],
                &["x\r\n.\r\nMAIL FROM:<e@x.test>\r\n"],
            ),
        ],
    );
}

#[test]
fn bare_cr_lf_or_nul_under_reject_get_550_5_5_2_and_nothing_is_delivered() {
    let rows: &[(&str, &str)] = &[
        ("bare LF", "a\nb\r\n.\r\nNOOP\r\n"),
        ("bare CR", "a\rb\r\n.\r\nNOOP\r\n"),
        ("NUL", "a\0b\r\n.\r\nNOOP\r\n"),
    ];
    for (name, input) in rows {
        let mut m = Machine::new(limits(), false).with_bare_newlines(BareNewlines::Reject);
        let (replies, txs) = run(&mut m, &format!("{HEAD}{input}"));
        assert_eq!(codes(&replies)[4..], [550, 250], "{name}: {replies:?}");
        assert!(
            replies[4].starts_with("550 5.5.2 "),
            "{name}: {}",
            replies[4]
        );
        assert!(txs.is_empty(), "{name}");
    }
}

#[test]
fn a_message_with_100_received_fields_is_refused_as_a_loop_with_554_5_4_6() {
    let mut big = limits();
    big.max_message_size = 100_000;
    for (hops, want) in [(99, 250), (100, 554), (150, 554)] {
        let trace = "Received: from a by b; Mon, 1 Jan 2024 00:00:00 +0000\r\n".repeat(hops);
        let mut m = Machine::new(big.clone(), false);
        let (replies, txs) = run(
            &mut m,
            &format!("{HEAD}{trace}Subject: x\r\n\r\nhi\r\n.\r\n"),
        );
        assert_eq!(codes(&replies)[4], want, "{hops} hops: {replies:?}");
        if want == 554 {
            assert!(replies[4].starts_with("554 5.4.6 "), "{}", replies[4]);
            assert!(txs.is_empty());
        }
    }
}

#[test]
fn a_size_parameter_too_large_for_64_bits_is_refused_not_wrapped() {
    let mut m = Machine::new(limits(), false);
    let (replies, _) = run(
        &mut m,
        "EHLO c\r\nMAIL FROM:<a@x.test> SIZE=18446744073709551626000\r\nMAIL FROM:<a@x.test> SIZE=10\r\n",
    );
    assert_eq!(codes(&replies), [250, 552, 250]);
}

#[test]
fn envid_or_orcpt_decoding_to_control_characters_is_refused_with_501() {
    let mut m = Machine::new(limits(), false);
    let (replies, _) = run(
        &mut m,
        "EHLO c\r\nMAIL FROM:<a@x.test> ENVID=x+0D+0AX-Injected:+20yes\r\n\
         MAIL FROM:<a@x.test> ENVID=ok-1\r\n\
         RCPT TO:<b@y.test> ORCPT=rfc822;b@y.test+0D+0AAction:+20delivered\r\n\
         RCPT TO:<b@y.test> ORCPT=rfc822;b+2B1@y.test\r\n",
    );
    assert_eq!(codes(&replies), [250, 501, 250, 501, 250], "{replies:?}");
}

/// Issue 18 finding 1: each row is a MAIL or RCPT and the reply code it must get.
#[test]
fn addresses_that_could_inject_parameters_or_control_characters_get_553() {
    let table: &[(&str, &str, u16)] = &[
        (
            "rcpt quoted ORCPT injection",
            "RCPT TO:<\"victim@target.test> ORCPT=rfc822;x\"@dest.test>",
            553,
        ),
        ("rcpt quoted NUL", "RCPT TO:<\"a\0b\"@dest.test>", 553),
        ("rcpt quoted ESC", "RCPT TO:<\"a\x1b[2Jb\"@dest.test>", 553),
        ("rcpt quoted BEL", "RCPT TO:<\"a\x07\"@dest.test>", 553),
        ("rcpt plain", "RCPT TO:<b@dest.test>", 250),
    ];
    for (name, cmd, want) in table {
        let mut m = Machine::new(limits(), false);
        let input = format!("EHLO c\r\nMAIL FROM:<a@x.test>\r\n{cmd}\r\n");
        let (replies, _) = run(&mut m, &input);
        assert_eq!(codes(&replies)[2], *want, "{name}: {replies:?}");
    }
    for (name, cmd) in [
        (
            "mail AUTH injection",
            "MAIL FROM:<\"a> AUTH=<ceo@x.test>\"@x.test>",
        ),
        (
            "mail ENVID injection",
            "MAIL FROM:<\"a ENVID=forged\"@x.test>",
        ),
        ("mail quoted NUL", "MAIL FROM:<\"a\0\"@x.test>"),
    ] {
        let mut m = Machine::new(limits(), false);
        let (replies, _) = run(&mut m, &format!("EHLO c\r\n{cmd}\r\n"));
        assert!(replies[1].starts_with("553 5.1.7 "), "{name}: {replies:?}");
    }
}

#[test]
fn a_quoted_local_part_is_kept_quoted_in_the_envelope() {
    let mut m = Machine::new(limits(), false);
    let (_, txs) = run(
        &mut m,
        "EHLO c\r\nMAIL FROM:<\"odd@sender\"@x.test>\r\nRCPT TO:<\"victim@target.test\"@dest.test>\r\n\
         RCPT TO:<\"plain\"@dest.test>\r\nDATA\r\nhi\r\n.\r\n",
    );
    let env = &txs[0].envelope;
    assert_eq!(env.mail_from, "\"odd@sender\"@x.test");
    assert_eq!(
        env.recipients[0].address,
        "\"victim@target.test\"@dest.test"
    );
    assert_eq!(env.recipients[1].address, "plain@dest.test");
}

#[test]
fn a_message_past_the_shared_memory_budget_gets_452_4_3_1_and_the_next_one_fits() {
    let budget = super::super::budget::MemoryBudget::new(100);
    let mut m = Machine::new(limits(), false).with_memory_budget(budget.clone());
    let big = "x".repeat(150);
    let (replies, txs) = run(
        &mut m,
        &format!(
            "{HEAD}{big}\r\n.\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nDATA\r\nsmall\r\n.\r\n"
        ),
    );
    assert_eq!(
        codes(&replies)[4..],
        [452, 250, 250, 354, 250],
        "{replies:?}"
    );
    assert!(replies[4].starts_with("452 4.3.1 "), "{}", replies[4]);
    assert_eq!(txs.len(), 1);
    drop(txs);
    assert_eq!(budget.used(), 0, "every reservation is given back");
}

#[test]
fn a_declared_size_the_memory_budget_cannot_hold_gets_452_at_mail() {
    let budget = super::super::budget::MemoryBudget::new(500);
    let mut m = Machine::new(limits(), false).with_memory_budget(budget);
    let (replies, _) = run(
        &mut m,
        "EHLO c\r\nMAIL FROM:<a@x.test> SIZE=900\r\nMAIL FROM:<a@x.test> SIZE=400\r\n",
    );
    assert_eq!(codes(&replies), [250, 452, 250], "{replies:?}");
}
