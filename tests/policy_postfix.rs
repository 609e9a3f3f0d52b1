//! Policy (rewrite, BCC archive, test mode, blacklist, routing) proved end to end: each test
//! sends through a relay whose upstream is the real Postfix on the plain port 2025
//! (tests/harness/) and reads what Postfix's sink got, using unique addresses so tests can run
//! in parallel with others against the shared sink.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{Client, Harness, TestRelay, WAIT, header, message, queue_id, unique};
use smarthost::spool::RcptState;

/// The Postfix upstream on the plain port: no TLS, no AUTH.
fn postfix(name: &str, extra: &str) -> String {
    format!(
        "[[upstream]]\nname = \"{name}\"\nhost = \"127.0.0.1\"\nport = 2025\nconn = \"plaintext\"\n\
         auth = \"none\"\ntimeout = \"20s\"\n{extra}"
    )
}

/// A relay with the policy sections `policy` (top-level tables, written before any
/// `[[upstream]]`) and the upstream tables `upstreams`.
async fn relay(policy: &str, upstreams: &str) -> TestRelay {
    TestRelay::start(&format!("{policy}\n{upstreams}"), "").await
}

fn addr(prefix: &str) -> String {
    format!("{}@example.net", unique(prefix))
}

fn sink_rcpts(got: &common::SinkMessage) -> Vec<String> {
    got.json["rcpt_to"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|r| r.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// Everything after the header block of `data`.
fn body_of(data: &[u8]) -> &[u8] {
    &data[common::find(data, b"\r\n\r\n").expect("header block ends") + 4..]
}

/// A message addressed to `to`, with a unique subject and Message-ID.
fn mail(from: &str, to: &str, cc: Option<&str>, subject: &str) -> Vec<u8> {
    let cc = cc.map(|c| format!("Cc: {c}\r\n")).unwrap_or_default();
    format!(
        "From: {from}\r\nTo: {to}\r\n{cc}Subject: {subject}\r\nMessage-ID: <{subject}@example.test>\r\n\
         \r\nHello,\r\n.a line starting with a dot\r\nend\r\n"
    )
    .into_bytes()
}

/// Polls until `path` exists, up to [`WAIT`].
/// A payslip mail: an 8-bit text part and a base64 PDF-like attachment with every byte value.
fn payslip(rcpt: &str) -> (Vec<u8>, Vec<u8>) {
    // A base64 PDF-like payload with every byte value, wrapped at 76 columns.
    let pdf: Vec<u8> = b"%PDF-1.4\n"
        .iter()
        .copied()
        .chain((0..=255u8).cycle().take(3000))
        .collect();
    let b64 = {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(&pdf)
    };
    let wrapped: Vec<&str> = b64
        .as_bytes()
        .chunks(76)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    let boundary = format!("=_{}", unique("boundary"));
    let subject = unique("payslip-pdf");
    let data = format!(
        "From: Ann Example <ann@example.test>\r\nTo: {rcpt}\r\nSubject: {subject}\r\n\
         Message-ID: <{subject}@example.test>\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"{boundary}\"\r\n\r\n\
         This is a multi-part message in MIME format.\r\n\r\n\
         --{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n\
         Bonjour,\r\n\r\nvotre fiche de paie est jointe. Gr\u{fc}\u{df}e\r\n.une ligne avec un point\r\n\r\n\
         --{boundary}\r\nContent-Type: application/pdf; name=\"fiche.pdf\"\r\n\
         Content-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename=\"fiche.pdf\"\r\n\r\n\
         {}\r\n\r\n--{boundary}--\r\n",
        wrapped.join("\r\n")
    )
    .into_bytes();
    (data, pdf)
}

async fn wait_file(path: &Path) {
    let deadline = Instant::now() + WAIT;
    while !path.exists() {
        assert!(
            Instant::now() < deadline,
            "{} never appeared",
            path.display()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Writes a blacklist holding `blocked` into a new temp dir.
fn blacklist(blocked: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("blacklist.txt");
    std::fs::write(&file, format!("# test list\n{blocked}\n")).unwrap();
    (dir, file)
}

#[tokio::test]
async fn sender_rewrite_changes_envelope_and_from_and_keeps_the_original_in_reply_to() {
    let h = Harness::get();
    let relay = relay(
        "[rewrite]\nfrom = \"payroll@company.test\"\n",
        &postfix("postfix", ""),
    )
    .await;
    let rcpt = addr("rewrite");
    let original = format!("{}@example.test", unique("ann"));
    let original_from = format!("Ann Example <{original}>");
    let data = mail(&original_from, &rcpt, None, &unique("rewrite"));
    let (mut c, _) = Client::connect(relay.addr()).await;
    let r = c
        .send(&format!("<{original}>"), &[&format!("<{rcpt}>")], &data)
        .await;
    assert!(r.starts_with("250"), "{r}");

    let got = h.wait_for(&rcpt).await;
    assert_eq!(got.json["mail_from"], "payroll@company.test");
    let headers = got.headers();
    assert_eq!(
        header(&headers, "From").as_deref(),
        Some("Ann Example <payroll@company.test>"),
        "{headers}"
    );
    assert_eq!(
        header(&headers, "Reply-To").as_deref(),
        Some(original_from.as_str()),
        "{headers}"
    );
    assert_eq!(headers.matches("\r\nFrom:").count(), 1, "{headers}");
}

#[tokio::test]
async fn bcc_archive_gets_an_envelope_copy_that_no_header_mentions() {
    let h = Harness::get();
    let archive = addr("archive");
    let relay = relay(
        &format!("[rewrite]\nbcc = [\"{archive}\"]\n"),
        &postfix("postfix", ""),
    )
    .await;
    let rcpt = addr("bcc-rcpt");
    let subject = unique("bcc");
    let data = mail("Ann <ann@example.test>", &rcpt, None, &subject);
    let (mut c, _) = Client::connect(relay.addr()).await;
    let r = c
        .send("<ann@example.test>", &[&format!("<{rcpt}>")], &data)
        .await;
    assert!(r.starts_with("250"), "{r}");

    let archived = h.wait_for(&archive).await;
    let delivered = h.wait_for(&rcpt).await;
    for got in [&archived, &delivered] {
        let headers = got.headers();
        assert!(
            headers.contains(&format!("Message-ID: <{subject}@example.test>")),
            "the archive copy is this message: {headers}"
        );
        let local = archive.split('@').next().unwrap();
        assert!(
            !headers.to_lowercase().contains(&local.to_lowercase()),
            "the archive address must appear in no header: {headers}"
        );
    }
    assert_eq!(
        archived.json["mail_from"], "ann@example.test",
        "{:?}",
        archived.json
    );
}

#[tokio::test]
async fn test_mode_delivers_only_to_the_tester_with_the_originals_in_headers() {
    let h = Harness::get();
    let tester = addr("tester");
    let relay = relay(
        &format!("[test_mode]\nenabled = true\nredirect_to = \"{tester}\"\n"),
        &postfix("postfix", ""),
    )
    .await;
    let to = addr("testmode-to");
    let cc = addr("testmode-cc");
    let subject = unique("payslip");
    let data = mail("Ann <ann@example.test>", &to, Some(&cc), &subject);
    let (mut c, _) = Client::connect(relay.addr()).await;
    let r = c
        .send(
            "<ann@example.test>",
            &[&format!("<{to}>"), &format!("<{cc}>")],
            &data,
        )
        .await;
    assert!(r.starts_with("250"), "{r}");

    let got = h.wait_for(&tester).await;
    assert_eq!(sink_rcpts(&got), vec![tester.clone()], "{:?}", got.json);
    let headers = got.headers();
    let original_to = header(&headers, "X-Original-To");
    assert!(
        original_to.as_deref().is_some_and(|v| v.contains(&to)),
        "{headers}"
    );
    let subj = header(&headers, "Subject").unwrap_or_default();
    assert!(subj.starts_with("[TEST] "), "{headers}");
    assert!(subj.contains(&subject), "{headers}");
    // The tester's copy has arrived; the relay sent nothing else for this message.
    relay.wait_queue("delivered", |q| q.is_empty()).await;
    assert!(h.find(&to).is_none(), "{to} must get nothing");
    assert!(h.find(&cc).is_none(), "{cc} must get nothing");
}

#[tokio::test]
async fn blacklisted_recipient_is_rejected_at_rcpt_and_the_others_are_delivered() {
    let h = Harness::get();
    let blocked = addr("blocked");
    let (_bl_dir, file) = blacklist(&blocked);
    let relay = relay(
        &format!(
            "[blacklist]\nfile = \"{}\"\naction = \"reject\"\n",
            file.display()
        ),
        &postfix("postfix", ""),
    )
    .await;
    let good = addr("bl-good");
    // Postfix answers 451 to tempfail*: that recipient stays pending, so the queue entry
    // (with its full recipient list) can still be read after the good one is delivered.
    let later = addr("tempfail-bl");
    let (mut c, _) = Client::connect(relay.addr()).await;
    assert!(c.cmd("EHLO client.test").await.starts_with("250"));
    assert!(
        c.cmd("MAIL FROM:<ann@example.test>")
            .await
            .starts_with("250")
    );
    let r = c.cmd(&format!("RCPT TO:<{blocked}>")).await;
    assert!(r.starts_with("550 5.7.1"), "{r}");
    for rc in [&good, &later] {
        let r = c.cmd(&format!("RCPT TO:<{rc}>")).await;
        assert!(r.starts_with("250"), "RCPT {rc}: {r}");
    }
    assert!(c.cmd("DATA").await.starts_with("354"));
    c.raw(&smarthost::upstream::dot_stuff(&message(&unique("bl"))))
        .await;
    let r = c.reply().await;
    assert!(r.starts_with("250"), "{r}");
    let id = queue_id(&r);

    let got = h.wait_for(&good).await;
    assert!(!sink_rcpts(&got).contains(&blocked), "{:?}", got.json);
    let q = relay
        .wait_queue("the tempfail recipient was tried", |q| {
            q.iter().any(|e| e.id == id && e.attempts >= 1)
        })
        .await;
    let entry = q.iter().find(|e| e.id == id).unwrap();
    let rcpts: Vec<&str> = entry.rcpts.iter().map(|(a, _)| a.as_str()).collect();
    assert_eq!(rcpts, vec![good.as_str(), later.as_str()], "{entry:?}");
    assert!(matches!(entry.rcpts[0].1, RcptState::Delivered { .. }));
    assert!(
        q.iter().all(|e| e
            .rcpts
            .iter()
            .all(|(a, _)| !a.eq_ignore_ascii_case(&blocked))),
        "{q:#?}"
    );
    assert!(h.find(&blocked).is_none());
}

#[tokio::test]
async fn blacklisted_recipient_with_drop_is_accepted_but_never_delivered() {
    let h = Harness::get();
    let blocked = addr("dropped");
    let (_bl_dir, file) = blacklist(&blocked);
    let relay = relay(
        &format!(
            "[blacklist]\nfile = \"{}\"\naction = \"drop\"\n",
            file.display()
        ),
        &postfix("postfix", ""),
    )
    .await;
    let good = addr("drop-good");
    let (mut c, _) = Client::connect(relay.addr()).await;
    // `send` asserts 250 for every RCPT: the dropped one is accepted too.
    let r = c
        .send(
            "<ann@example.test>",
            &[&format!("<{blocked}>"), &format!("<{good}>")],
            &message(&unique("drop")),
        )
        .await;
    assert!(r.starts_with("250"), "{r}");

    let got = h.wait_for(&good).await;
    assert_eq!(sink_rcpts(&got), vec![good.clone()], "{:?}", got.json);
    relay.wait_queue("delivered", |q| q.is_empty()).await;
    assert!(h.find(&blocked).is_none(), "{blocked} must get nothing");
}

#[tokio::test]
async fn mail_is_routed_by_sender_domain_to_postfix_and_otherwise_to_the_default() {
    let h = Harness::get();
    let domain = format!("{}.test", unique("routed"));
    let out = tempfile::tempdir().unwrap();
    let upstreams = format!(
        "[[upstream]]\nname = \"local\"\nkind = \"file\"\ndir = \"{}\"\ndefault = true\n\n{}",
        out.path().display(),
        postfix("postfix", &format!("senders = [\"{domain}\"]\n"))
    );
    let relay = relay("", &upstreams).await;

    // From the routed domain: Postfix.
    let routed = addr("route-postfix");
    let (mut c, _) = Client::connect(relay.addr()).await;
    let r = c
        .send(
            &format!("<someone@{domain}>"),
            &[&format!("<{routed}>")],
            &message(&unique("routed")),
        )
        .await;
    assert!(r.starts_with("250"), "{r}");
    let routed_id = queue_id(&r);
    let got = h.wait_for(&routed).await;
    assert_eq!(got.json["mail_from"], format!("someone@{domain}"));

    // From anyone else: the default file upstream.
    let other = addr("route-file");
    let (mut c, _) = Client::connect(relay.addr()).await;
    let r = c
        .send(
            "<someone@elsewhere.test>",
            &[&format!("<{other}>")],
            &message(&unique("default")),
        )
        .await;
    assert!(r.starts_with("250"), "{r}");
    let id = queue_id(&r);
    let eml = out.path().join(format!("{id}.eml"));
    wait_file(&eml).await;
    let written = std::fs::read_to_string(&eml).unwrap();
    assert!(
        written.contains(&format!("X-Smarthost-Rcpt-To: <{other}>\r\n")),
        "{written}"
    );

    relay.wait_queue("both delivered", |q| q.is_empty()).await;
    assert!(h.find(&other).is_none(), "{other} must not reach Postfix");
    assert!(
        !out.path().join(format!("{routed_id}.eml")).exists(),
        "the routed message must not land in the file upstream"
    );
}

#[tokio::test]
async fn attachment_bytes_arrive_unchanged_when_the_sender_is_rewritten() {
    let h = Harness::get();
    let relay = relay(
        "[rewrite]\nfrom = \"payroll@company.test\"\n",
        &postfix("postfix", ""),
    )
    .await;
    let rcpt = addr("attachment");
    let (data, _pdf) = payslip(&rcpt);
    let (mut c, _) = Client::connect(relay.addr()).await;
    let r = c
        .send("<ann@example.test>", &[&format!("<{rcpt}>")], &data)
        .await;
    assert!(r.starts_with("250"), "{r}");

    let got = h.wait_for(&rcpt).await;
    assert_eq!(got.json["mail_from"], "payroll@company.test");
    assert!(
        got.headers()
            .contains("From: Ann Example <payroll@company.test>\r\n"),
        "the rewrite did happen: {}",
        got.headers()
    );
    assert!(
        got.body() == body_of(&data),
        "the body (text part and attachment) must arrive byte-identical"
    );
}

#[tokio::test]
async fn signature_is_added_to_the_text_part_and_the_attachment_arrives_unchanged() {
    let h = Harness::get();
    let relay = relay(
        "[rewrite]\nsignature_text = \"ACME SA, Lausanne\"\n",
        &postfix("postfix", ""),
    )
    .await;
    let rcpt = addr("signature");
    let (data, pdf) = payslip(&rcpt);
    let (mut c, _) = Client::connect(relay.addr()).await;
    let r = c
        .send("<ann@example.test>", &[&format!("<{rcpt}>")], &data)
        .await;
    assert!(r.starts_with("250"), "{r}");
    let got = h.wait_for(&rcpt).await;
    let parsed = mail_parser::MessageParser::default()
        .parse(&got.data)
        .unwrap();
    let text = parsed.body_text(0).unwrap();
    assert!(
        text.contains("votre fiche de paie") && text.trim_end().ends_with("ACME SA, Lausanne"),
        "{text}"
    );
    assert_eq!(parsed.attachment(0).unwrap().contents(), pdf.as_slice());
    // The attachment part's raw bytes are exactly what the client sent.
    let sent = body_of(&data);
    let tail_at = common::find(sent, b"Content-Type: application/pdf").unwrap();
    assert!(got.body().ends_with(&sent[tail_at..]));
}
