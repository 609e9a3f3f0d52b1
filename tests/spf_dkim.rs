//! SPF pre-flight and DKIM signing against real parts: a DNS server on 127.0.0.1:5353 serving
//! test zones (tests/dns/, dnsmasq) and the Postfix upstream on 127.0.0.1:2025
//! (tests/harness/). Signatures are checked by an independent verifier, Python's dkimpy, with
//! the key published in the test DNS.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use common::{Client, Harness, TestRelay, header, unique};
use smarthost::config::{Config, SpfResult};
use smarthost::spf::SpfCheck;

const DNS: &str = "127.0.0.1:5353";

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The test DNS must run (tests/run.sh starts it).
fn dns() {
    static READY: OnceLock<()> = OnceLock::new();
    READY.get_or_init(|| {
        let ok = Command::new(root().join("tests/dns/test-dns.sh"))
            .arg("ready")
            .status()
            .is_ok_and(|s| s.success());
        assert!(
            ok,
            "the test DNS server is not running: start it with tests/dns/test-dns.sh start \
             (tests/run.sh does)"
        );
    });
}

fn key(name: &str) -> PathBuf {
    root().join("tests/dns/keys").join(name)
}

fn spf_section(mode: &str) -> String {
    format!("[spf]\nmode = \"{mode}\"\ndns_servers = [\"{DNS}\"]\ntimeout = \"2s\"\n")
}

/// The Postfix upstream on the plain port, named `harness`.
fn postfix(extra: &str) -> String {
    format!(
        "[[upstream]]\nname = \"harness\"\nhost = \"127.0.0.1\"\nport = 2025\nconn = \"plaintext\"\n\
         auth = \"none\"\ntimeout = \"20s\"\n{extra}"
    )
}

fn config(text: &str) -> Config {
    Config::load(text, Path::new("test.toml")).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

/// The verdict for `domain` through `upstream` of the upstreams `cfg`, asking the test DNS.
async fn verdict(cfg: &str, domain: &str, upstream: &str) -> smarthost::spf::Verdict {
    dns();
    let check = SpfCheck::new(&config(&format!("{}{cfg}", spf_section("warn"))));
    check
        .check_now(domain, Some(upstream))
        .await
        .unwrap_or_else(|e| panic!("{domain}: {e}"))
}

fn mail(from: &str, to: &str, subject: &str) -> Vec<u8> {
    format!(
        "From: Payroll <{from}>\r\nTo: <{to}>\r\nSubject: {subject}\r\n\
         Date: Tue, 24 Nov 2026 10:00:00 +0100\r\nMessage-ID: <{subject}@smarthost.test>\r\n\
         MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\
         Your payslip is attached.\r\n.a line that needs dot-stuffing\r\nRegards\r\n"
    )
    .into_bytes()
}

/// Sends one message through `relay` and returns what Postfix's sink got.
async fn relay_one(relay: &TestRelay, from: &str, header_from: &str) -> common::SinkMessage {
    let to = format!("{}@example.net", unique("spf"));
    let (mut c, _) = Client::connect(relay.addr()).await;
    let r = c
        .send(
            &format!("<{from}>"),
            &[&format!("<{to}>")],
            &mail(header_from, &to, &unique("subj")),
        )
        .await;
    assert!(r.starts_with("250"), "{r}");
    Harness::get().wait_for(&to).await
}

// ---- RFC 7208 evaluation against the test zones ----

#[tokio::test]
async fn each_spf_result_comes_out_of_its_test_zone() {
    let cfg = postfix("");
    for (domain, want) in [
        ("pass", SpfResult::Pass),
        ("fail", SpfResult::Fail),
        ("softfail", SpfResult::SoftFail),
        ("neutral", SpfResult::Neutral),
        ("none", SpfResult::None),
        ("nonexistent", SpfResult::None),
    ] {
        let v = verdict(&cfg, &format!("{domain}.smarthost.test"), "harness").await;
        assert_eq!(v.result, want, "{domain}: {}", v.sentence());
    }
}

#[tokio::test]
async fn include_chains_redirect_a_mx_and_macros_are_followed() {
    let cfg = postfix("");
    for domain in ["include", "chain", "redirect", "a", "mx", "macro"] {
        let v = verdict(&cfg, &format!("{domain}.smarthost.test"), "harness").await;
        assert_eq!(v.result, SpfResult::Pass, "{domain}: {}", v.sentence());
    }
}

#[tokio::test]
async fn two_spf_records_are_a_permerror_that_says_so() {
    let v = verdict(&postfix(""), "twospf.smarthost.test", "harness").await;
    assert_eq!(v.result, SpfResult::PermError);
    assert!(
        v.sentence().contains("publishes 2 SPF records"),
        "{}",
        v.sentence()
    );
}

#[tokio::test]
async fn more_than_ten_lookups_are_a_permerror_that_says_so() {
    let v = verdict(&postfix(""), "toomany.smarthost.test", "harness").await;
    assert_eq!(v.result, SpfResult::PermError);
    assert!(
        v.sentence().contains("more than 10 DNS lookups"),
        "{}",
        v.sentence()
    );
}

#[tokio::test]
async fn a_record_with_bad_syntax_is_a_permerror() {
    let v = verdict(&postfix(""), "syntax.smarthost.test", "harness").await;
    assert_eq!(v.result, SpfResult::PermError);
    assert!(v.sentence().contains("not valid SPF"), "{}", v.sentence());
}

#[tokio::test]
async fn a_dns_server_that_never_answers_gives_temperror_within_the_timeout() {
    let started = std::time::Instant::now();
    let v = verdict(&postfix(""), "timeout.smarthost.test", "harness").await;
    assert_eq!(v.result, SpfResult::TempError, "{}", v.sentence());
    // The budget is 2 s; the check gives up instead of hanging the session.
    assert!(started.elapsed() < std::time::Duration::from_secs(30));
}

#[tokio::test]
async fn an_office365_upstream_needs_the_outlook_include() {
    let o365 = "[[upstream]]\nname = \"o365\"\npreset = \"office365\"\nusername = \"a@o365-ok.smarthost.test\"\npassword = \"x\"\n";
    assert_eq!(
        verdict(o365, "o365-ok.smarthost.test", "o365").await.result,
        SpfResult::Pass
    );
    let v = verdict(o365, "o365-missing.smarthost.test", "o365").await;
    assert_eq!(v.result, SpfResult::Fail);
    assert_eq!(
        v.sentence(),
        "o365-missing.smarthost.test does not authorize Microsoft 365 / Exchange Online: add \
         include:spf.protection.outlook.com to its SPF record"
    );
}

#[tokio::test]
async fn a_gmail_upstream_needs_the_google_include() {
    let gmail = "[[upstream]]\nname = \"gmail\"\npreset = \"gmail\"\nusername = \"a@gmail-ok.smarthost.test\"\npassword = \"x\"\n";
    assert_eq!(
        verdict(gmail, "gmail-ok.smarthost.test", "gmail")
            .await
            .result,
        SpfResult::Pass
    );
    let v = verdict(gmail, "o365-ok.smarthost.test", "gmail").await;
    assert_eq!(v.result, SpfResult::Fail);
    assert!(
        v.sentence().contains("add include:_spf.google.com"),
        "{}",
        v.sentence()
    );
}

#[tokio::test]
async fn spf_ips_are_the_addresses_that_are_tested() {
    let cfg = postfix("spf_ips = [\"192.0.2.1\"]\n");
    assert_eq!(
        verdict(&cfg, "fail.smarthost.test", "harness").await.result,
        SpfResult::Pass
    );
    let v = verdict(&cfg, "pass.smarthost.test", "harness").await;
    assert_eq!(v.result, SpfResult::Fail);
    assert!(
        v.sentence().contains("add ip4:192.0.2.1"),
        "{}",
        v.sentence()
    );
}

// ---- the cache ----

fn queries_for(name: &str) -> usize {
    let log = std::fs::read_to_string("/tmp/smarthost-dns/queries.log").unwrap_or_default();
    log.lines()
        .filter(|l| l.contains(&format!("query[TXT] {name} ")))
        .count()
}

#[tokio::test]
async fn a_result_is_reused_until_the_record_ttl_runs_out() {
    dns();
    // The test zones are served with a TTL of 2 s.
    let check = SpfCheck::new(&config(&format!("{}{}", spf_section("warn"), postfix(""))));
    let name = "cached.smarthost.test";
    let before = queries_for(name);
    for _ in 0..3 {
        let v = check
            .check("app@cached.smarthost.test", Some("harness"))
            .await
            .unwrap();
        assert_eq!(v.result, SpfResult::Pass);
    }
    assert_eq!(
        queries_for(name) - before,
        1,
        "three checks within the TTL, one query"
    );
    tokio::time::sleep(std::time::Duration::from_millis(2600)).await;
    check
        .check("app@cached.smarthost.test", Some("harness"))
        .await
        .unwrap();
    assert_eq!(
        queries_for(name) - before,
        2,
        "after the TTL the record is read again"
    );
}

#[tokio::test]
async fn concurrent_messages_from_one_domain_share_one_evaluation() {
    dns();
    let check = std::sync::Arc::new(SpfCheck::new(&config(&format!(
        "{}{}",
        spf_section("warn"),
        postfix("")
    ))));
    let name = "shared.smarthost.test";
    let before = queries_for(name);
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let check = check.clone();
            tokio::spawn(async move {
                check
                    .check(&format!("app{i}@shared.smarthost.test"), Some("harness"))
                    .await
                    .unwrap()
                    .result
            })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap(), SpfResult::Pass);
    }
    assert_eq!(queries_for(name) - before, 1);
}

// ---- the relay, end to end through Postfix ----

#[tokio::test]
async fn reject_mode_refuses_a_failing_domain_at_mail_with_550_5_7_23_and_queues_nothing() {
    dns();
    let relay = TestRelay::start(&format!("{}{}", spf_section("reject"), postfix("")), "").await;
    let (mut c, _) = Client::connect(relay.addr()).await;
    c.cmd("EHLO client.test").await;
    let r = c.cmd("MAIL FROM:<invoices@fail.smarthost.test>").await;
    assert!(r.starts_with("550 5.7.23 "), "{r}");
    assert!(
        r.contains("fail.smarthost.test does not authorize 127.0.0.1: add ip4:127.0.0.1"),
        "{r}"
    );
    let r = c.cmd("RCPT TO:<someone@example.net>").await;
    assert!(
        r.starts_with("503"),
        "no transaction after the refusal: {r}"
    );
    assert!(relay.queue().await.is_empty());
}

#[tokio::test]
async fn reject_mode_with_a_sender_rewrite_refuses_at_the_end_of_data() {
    dns();
    // The client's sender passes, but the rewritten one (what the upstream sees) does not.
    let cfg = format!(
        "{}[rewrite]\nfrom = \"invoices@fail.smarthost.test\"\n{}",
        spf_section("reject"),
        postfix("")
    );
    let relay = TestRelay::start(&cfg, "").await;
    let (mut c, _) = Client::connect(relay.addr()).await;
    c.cmd("EHLO client.test").await;
    assert!(
        c.cmd("MAIL FROM:<app@pass.smarthost.test>")
            .await
            .starts_with("250")
    );
    assert!(
        c.cmd("RCPT TO:<someone@example.net>")
            .await
            .starts_with("250")
    );
    assert!(c.cmd("DATA").await.starts_with("354"));
    c.raw(&smarthost::upstream::dot_stuff(&mail(
        "app@pass.smarthost.test",
        "someone@example.net",
        "x",
    )))
    .await;
    let r = c.reply().await;
    assert!(r.starts_with("550 5.7.23 "), "{r}");
    assert!(r.contains("fail.smarthost.test"), "{r}");
    assert!(relay.queue().await.is_empty());
}

#[tokio::test]
async fn reject_mode_answers_a_dns_timeout_with_451_4_4_3() {
    dns();
    let relay = TestRelay::start(&format!("{}{}", spf_section("reject"), postfix("")), "").await;
    let (mut c, _) = Client::connect(relay.addr()).await;
    c.cmd("EHLO client.test").await;
    let r = c.cmd("MAIL FROM:<invoices@timeout.smarthost.test>").await;
    assert!(r.starts_with("451 4.4.3 "), "{r}");
    assert!(relay.queue().await.is_empty());
}

#[tokio::test]
async fn reject_mode_relays_a_passing_domain_with_spf_pass_in_the_header() {
    dns();
    let relay = TestRelay::start(&format!("{}{}", spf_section("reject"), postfix("")), "").await;
    let got = relay_one(&relay, "app@pass.smarthost.test", "app@pass.smarthost.test").await;
    let h = header(&got.headers(), "X-Smarthost-SPF").expect("X-Smarthost-SPF header");
    assert_eq!(
        h,
        "pass domain=pass.smarthost.test; upstream=harness; ip=127.0.0.1"
    );
}

#[tokio::test]
async fn warn_mode_relays_a_failing_domain_with_the_result_and_the_fix_in_the_header() {
    dns();
    let relay = TestRelay::start(&format!("{}{}", spf_section("warn"), postfix("")), "").await;
    let got = relay_one(&relay, "app@fail.smarthost.test", "app@fail.smarthost.test").await;
    let h = header(&got.headers(), "X-Smarthost-SPF").expect("X-Smarthost-SPF header");
    assert!(
        h.starts_with("fail domain=fail.smarthost.test; upstream=harness; ip=127.0.0.1"),
        "{h}"
    );
    assert!(h.contains("add ip4:127.0.0.1 to its SPF record"), "{h}");
}

#[tokio::test]
async fn mode_off_adds_no_header() {
    dns();
    let relay = TestRelay::start(&format!("{}{}", spf_section("off"), postfix("")), "").await;
    let got = relay_one(&relay, "app@fail.smarthost.test", "app@fail.smarthost.test").await;
    assert_eq!(header(&got.headers(), "X-Smarthost-SPF"), None);
}

// ---- DKIM ----

fn dkim_section(selector: &str, key_file: &str) -> String {
    format!(
        "[dkim]\ndomain = \"dkim.smarthost.test\"\nselector = \"{selector}\"\nkey_file = \"{}\"\n",
        key(key_file).display()
    )
}

#[tokio::test]
async fn rsa_signed_mail_verifies_against_the_published_key() {
    dns();
    let relay = TestRelay::start(
        &format!("{}{}", dkim_section("rsa", "rsa.pem"), postfix("")),
        "",
    )
    .await;
    let got = relay_one(&relay, "pay@dkim.smarthost.test", "pay@dkim.smarthost.test").await;
    let sig = header(&got.headers(), "DKIM-Signature").expect("signed");
    assert!(
        sig.contains("a=rsa-sha256") && sig.contains("c=relaxed/relaxed"),
        "{sig}"
    );
    let (code, report) = common::dkim_verify(&got.data);
    assert_eq!(code, 0, "{report}");
    assert!(
        report.contains("d=dkim.smarthost.test s=rsa a=rsa-sha256 result=pass"),
        "{report}"
    );
}

#[tokio::test]
async fn ed25519_signed_mail_verifies_against_the_published_key() {
    dns();
    let relay = TestRelay::start(
        &format!("{}{}", dkim_section("ed", "ed25519.pem"), postfix("")),
        "",
    )
    .await;
    let got = relay_one(&relay, "pay@dkim.smarthost.test", "pay@dkim.smarthost.test").await;
    let (code, report) = common::dkim_verify(&got.data);
    assert_eq!(code, 0, "{report}");
    assert!(report.contains("a=ed25519-sha256 result=pass"), "{report}");
}

#[tokio::test]
async fn a_changed_subject_breaks_the_signature() {
    dns();
    let relay = TestRelay::start(
        &format!("{}{}", dkim_section("rsa", "rsa.pem"), postfix("")),
        "",
    )
    .await;
    let got = relay_one(&relay, "pay@dkim.smarthost.test", "pay@dkim.smarthost.test").await;
    let text = String::from_utf8_lossy(&got.data).replacen("Subject: ", "Subject: Re: ", 1);
    let (code, report) = common::dkim_verify(text.as_bytes());
    assert_eq!(code, 1, "{report}");
}

#[tokio::test]
async fn signing_comes_after_the_sender_rewrite() {
    dns();
    // The client writes From: an address of another domain; policy rewrites it into the signing
    // domain, and the signature must cover the rewritten header.
    let cfg = format!(
        "{}[rewrite]\nfrom = \"noreply@dkim.smarthost.test\"\n{}",
        dkim_section("rsa", "rsa.pem"),
        postfix("")
    );
    let relay = TestRelay::start(&cfg, "").await;
    let got = relay_one(&relay, "app@legacy.example", "app@legacy.example").await;
    let h = got.headers();
    assert!(
        header(&h, "From")
            .unwrap()
            .contains("noreply@dkim.smarthost.test"),
        "{h}"
    );
    let (code, report) = common::dkim_verify(&got.data);
    assert_eq!(code, 0, "{report}");
}

#[tokio::test]
async fn mail_from_another_domain_is_not_signed() {
    dns();
    let relay = TestRelay::start(
        &format!("{}{}", dkim_section("rsa", "rsa.pem"), postfix("")),
        "",
    )
    .await;
    let got = relay_one(&relay, "app@other.example", "app@other.example").await;
    assert_eq!(header(&got.headers(), "DKIM-Signature"), None);
}

#[tokio::test]
async fn an_upstream_dkim_section_replaces_the_global_one() {
    dns();
    let upstream_dkim = format!(
        "[upstream.dkim]\ndomain = \"dkim.smarthost.test\"\nselector = \"ed\"\nkey_file = \"{}\"\n",
        key("ed25519.pem").display()
    );
    let cfg = format!(
        "{}{}",
        dkim_section("rsa", "rsa.pem"),
        postfix(&upstream_dkim)
    );
    let relay = TestRelay::start(&cfg, "").await;
    let got = relay_one(&relay, "pay@dkim.smarthost.test", "pay@dkim.smarthost.test").await;
    let sig = header(&got.headers(), "DKIM-Signature").expect("signed");
    assert!(
        sig.contains("a=ed25519-sha256") && sig.contains("s=ed"),
        "{sig}"
    );
    assert_eq!(common::dkim_verify(&got.data).0, 0);
}

// ---- the commands ----

/// `smarthost ARGS` with a config file holding `text`; (exit code, output).
fn cli(text: &str, args: &[&str]) -> (i32, String) {
    dns();
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("smarthost.toml");
    std::fs::write(&p, text).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_smarthost"))
        .args(args)
        .arg("--config")
        .arg(&p)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

fn o365_config() -> String {
    format!(
        "{}[[upstream]]\nname = \"o365\"\npreset = \"office365\"\nusername = \"a@b.test\"\npassword = \"x\"\n",
        spf_section("warn")
    )
}

#[test]
fn spf_check_of_an_authorizing_domain_prints_the_record_and_exits_0() {
    let (code, out) = cli(&o365_config(), &["spf", "check", "o365-ok.smarthost.test"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("\"v=spf1 include:spf.protection.outlook.com -all\""),
        "{out}"
    );
    assert!(out.contains("result   pass"), "{out}");
}

#[test]
fn spf_check_says_which_include_is_missing_and_exits_1() {
    let (code, out) = cli(
        &o365_config(),
        &[
            "spf",
            "check",
            "o365-missing.smarthost.test",
            "--upstream",
            "o365",
        ],
    );
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(
            "o365-missing.smarthost.test does not authorize Microsoft 365 / Exchange Online: add include:spf.protection.outlook.com"
        ),
        "{out}"
    );
    // The evaluation path: the records the check read on the way.
    assert!(
        out.contains("_spf.google.com  \"v=spf1 include:_netblocks.google.com"),
        "{out}"
    );
    assert!(
        out.contains("publish  o365-missing.smarthost.test  TXT  \"v=spf1 include:_spf.google.com include:spf.protection.outlook.com -all\""),
        "{out}"
    );
}

#[test]
fn spf_check_exits_2_when_dns_does_not_answer() {
    let (code, out) = cli(&o365_config(), &["spf", "check", "timeout.smarthost.test"]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("temperror"), "{out}");
}

fn dkim_config(selector: &str) -> String {
    format!(
        "{}{}{}",
        spf_section("warn"),
        dkim_section(selector, "rsa.pem"),
        postfix("")
    )
}

#[test]
fn dkim_check_confirms_the_published_key_and_exits_0() {
    let (code, out) = cli(&dkim_config("rsa"), &["dkim", "check"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.starts_with("OK        rsa._domainkey.dkim.smarthost.test"),
        "{out}"
    );
}

#[test]
fn dkim_check_finds_a_published_key_that_is_not_ours_and_exits_1() {
    let (code, out) = cli(&dkim_config("stale"), &["dkim", "check"]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.starts_with("MISMATCH  stale._domainkey.dkim.smarthost.test"),
        "{out}"
    );
}

#[test]
fn dkim_check_finds_a_missing_record_and_says_what_to_publish() {
    let (code, out) = cli(&dkim_config("nothing"), &["dkim", "check"]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.starts_with("MISSING   nothing._domainkey.dkim.smarthost.test"),
        "{out}"
    );
    assert!(
        out.contains("publish TXT \"v=DKIM1; k=rsa; p=MIIB"),
        "{out}"
    );
}

#[test]
fn dkim_keygen_writes_a_private_key_and_prints_its_record() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let out_file = dir.path().join("dkim.pem");
    let out = Command::new(env!("CARGO_BIN_EXE_smarthost"))
        .args([
            "dkim",
            "keygen",
            "--algorithm",
            "ed25519",
            "--domain",
            "example.com",
            "--selector",
            "s1",
            "--out",
        ])
        .arg(&out_file)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    let mode = std::fs::metadata(&out_file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let k = smarthost::dkim::Key::load(&out_file).unwrap();
    assert!(text.contains("name:  s1._domainkey.example.com"), "{text}");
    assert!(
        text.contains(&format!("value: {}", k.txt_record())),
        "{text}"
    );
}

#[tokio::test]
async fn warn_mode_writes_an_spf_line_in_the_mail_log() {
    dns();
    let cfg = format!(
        "[server]\nlisten = [\"127.0.0.1:0\"]\n[spool]\ndir = \"{{dir}}/spool\"\n{}{}",
        spf_section("warn"),
        postfix("")
    );
    let relay = common::BinaryRelay::start(&cfg, &[]);
    let to = format!("{}@example.net", unique("spflog"));
    let (mut c, _) = Client::connect(relay.addr).await;
    let r = c
        .send(
            "<app@softfail.smarthost.test>",
            &[&format!("<{to}>")],
            &mail("app@softfail.smarthost.test", &to, "log"),
        )
        .await;
    assert!(r.starts_with("250"), "{r}");
    relay.wait_log("event=spf").await;
    let log = relay.log();
    let line = log.lines().find(|l| l.contains("event=spf")).unwrap();
    assert!(
        line.contains("result=softfail") && line.contains("domain=softfail.smarthost.test"),
        "{line}"
    );
    assert!(line.contains("add ip4:127.0.0.1"), "{line}");
}

#[tokio::test]
async fn warn_mode_relays_despite_a_dns_timeout_and_says_temperror() {
    dns();
    let relay = TestRelay::start(&format!("{}{}", spf_section("warn"), postfix("")), "").await;
    let got = relay_one(
        &relay,
        "app@timeout.smarthost.test",
        "app@timeout.smarthost.test",
    )
    .await;
    let h = header(&got.headers(), "X-Smarthost-SPF").expect("X-Smarthost-SPF header");
    assert!(
        h.starts_with("temperror domain=timeout.smarthost.test"),
        "{h}"
    );
}

#[tokio::test]
async fn the_cache_keeps_one_result_per_domain_and_upstream() {
    dns();
    let cfg = format!(
        "{}[[upstream]]\nname = \"o365\"\npreset = \"office365\"\nusername = \"a@b.test\"\npassword = \"x\"\ndefault = true\n\
         [[upstream]]\nname = \"gmail\"\npreset = \"gmail\"\nusername = \"a@b.test\"\npassword = \"x\"\n",
        spf_section("warn")
    );
    let check = SpfCheck::new(&config(&cfg));
    let sender = "app@o365-ok.smarthost.test";
    assert_eq!(
        check.check(sender, Some("o365")).await.unwrap().result,
        SpfResult::Pass
    );
    assert_eq!(
        check.check(sender, Some("gmail")).await.unwrap().result,
        SpfResult::Fail
    );
    assert_eq!(
        check.check(sender, Some("o365")).await.unwrap().result,
        SpfResult::Pass
    );
}
