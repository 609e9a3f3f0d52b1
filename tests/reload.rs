//! A running relay takes a new configuration without a restart (SIGHUP, the console): policy
//! for the next message, upstreams and limits for the next attempt; queued mail and quota
//! counters stay; a configuration that fails to load changes nothing. Against the real Postfix
//! upstream (tests/harness/).

mod common;

use std::path::Path;

use common::{Client, Harness, TestRelay, unique};
use smarthost::config::Config;

fn postfix(extra: &str) -> String {
    format!(
        "[[upstream]]\nname = \"harness\"\nhost = \"127.0.0.1\"\nport = 2025\nconn = \"plaintext\"\n\
         auth = \"none\"\ntimeout = \"20s\"\n{extra}"
    )
}

fn config_of(relay: &TestRelay, replace: impl Fn(&str) -> String) -> Config {
    let text = std::fs::read_to_string(relay.config_path()).unwrap();
    Config::load(&replace(&text), Path::new("test.toml")).unwrap()
}

async fn send(relay: &TestRelay, to: &str) -> String {
    let (mut c, _) = Client::connect(relay.addr()).await;
    let body =
        format!("From: <pay@example.test>\r\nTo: <{to}>\r\nSubject: reload\r\n\r\nhello\r\n");
    c.send("<pay@example.test>", &[&format!("<{to}>")], body.as_bytes())
        .await
}

#[tokio::test]
async fn turning_test_mode_on_by_reload_redirects_the_next_message() {
    Harness::get();
    let relay = TestRelay::start(&postfix(""), "").await;
    let before = format!("{}@example.net", unique("before"));
    send(&relay, &before).await;
    Harness::get().wait_for(&before).await;
    let tester = format!("{}@example.net", unique("tester"));
    let notes = relay
        .relay
        .reload(config_of(&relay, |t| {
            format!("[test_mode]\nenabled = true\nredirect_to = \"{tester}\"\n{t}")
        }))
        .await
        .unwrap();
    assert!(notes.is_empty(), "{notes:?}");
    let after = format!("{}@example.net", unique("after"));
    send(&relay, &after).await;
    let got = Harness::get().wait_for(&tester).await;
    assert!(got.headers().contains(&after) || got.json["rcpt_to"][0] == tester.as_str());
    assert!(
        Harness::get().find(&after).is_none(),
        "the original recipient got nothing"
    );
}

#[tokio::test]
async fn a_configuration_that_fails_to_load_is_not_applied_and_the_relay_goes_on() {
    Harness::get();
    let relay = TestRelay::start(&postfix(""), "").await;
    let bad = config_of(&relay, |t| {
        format!("[blacklist]\nfile = \"/nonexistent/blacklist.txt\"\n{t}")
    });
    assert!(relay.relay.reload(bad).await.is_err());
    let to = format!("{}@example.net", unique("still"));
    assert!(send(&relay, &to).await.starts_with("250"));
    Harness::get().wait_for(&to).await;
}

#[tokio::test]
async fn a_changed_upstream_is_used_by_the_next_attempt_and_quota_counters_survive() {
    Harness::get();
    let relay = TestRelay::start(&postfix("[upstream.limits]\nper_hour = 1\n"), "").await;
    let first = format!("{}@example.net", unique("first"));
    send(&relay, &first).await;
    Harness::get().wait_for(&first).await;
    // The same limit after a reload: the hour's one message is still counted.
    relay
        .relay
        .reload(config_of(&relay, |t| {
            t.replace("timeout = \"20s\"", "timeout = \"30s\"")
        }))
        .await
        .unwrap();
    let second = format!("{}@example.net", unique("second"));
    send(&relay, &second).await;
    relay
        .wait_queue("held by the quota", |q| {
            q.first().is_some_and(|e| e.limited_by.is_some())
        })
        .await;
    assert!(Harness::get().find(&second).is_none());
    // Raising the quota by reload lets it go at the next attempt (a reset releases it now).
    relay
        .relay
        .reload(config_of(&relay, |t| {
            t.replace("per_hour = 1", "per_hour = 5")
        }))
        .await
        .unwrap();
    let (code, out) = relay.cli(&["limits", "reset", "harness"]);
    assert_eq!(code, 0, "{out}");
    Harness::get().wait_for(&second).await;
}
