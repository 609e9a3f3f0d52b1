//! The `[admin]` HTTP listener scraped during a run through the real Postfix upstream: the
//! counters match what the sink received, and `/status` reports the upstream's health.

mod common;

use common::{Client, Harness, TestRelay, message, unique};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const UPSTREAM: &str = "[admin]\nlisten = \"127.0.0.1:0\"\n\n[[upstream]]\nname = \"postfix\"\nhost = \"127.0.0.1\"\nport = 2025\nconn = \"plaintext\"\nauth = \"none\"\n\n[upstream.limits]\nper_day = 100\n";

async fn get(addr: std::net::SocketAddr, path: &str) -> String {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: relay\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    out.split_once("\r\n\r\n").unwrap().1.to_string()
}

/// The value of the sample line starting with `name` (labels included).
fn sample(metrics: &str, name: &str) -> f64 {
    metrics
        .lines()
        .find(|l| l.starts_with(name))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in\n{metrics}"))
}

#[tokio::test]
async fn metrics_counters_match_the_sink_and_status_reports_health() {
    let h = Harness::get();
    let relay = TestRelay::start(UPSTREAM, "").await;
    let admin = relay.relay.admin_addr.expect("admin listener");
    let ok: Vec<String> = (0..3)
        .map(|i| format!("{}@example.net", unique(&format!("metrics{i}"))))
        .collect();
    for r in &ok {
        let (mut c, _) = Client::connect(relay.addr()).await;
        let reply = c
            .send("<payroll@example.test>", &[&format!("<{r}>")], &message(r))
            .await;
        assert!(reply.starts_with("250"), "{reply}");
    }
    let bad = format!("reject-{}@example.net", unique("metrics"));
    let (mut c, _) = Client::connect(relay.addr()).await;
    c.send(
        "<payroll@example.test>",
        &[&format!("<{bad}>")],
        &message("bounce me"),
    )
    .await;
    assert!(c.cmd("RCPT TO:<x@example.net>").await.starts_with("503"));
    for r in &ok {
        h.wait_for(r).await;
    }
    relay
        .wait_queue("everything done, the bounce too", |q| q.is_empty())
        .await;

    let m = get(admin, "/metrics").await;
    let delivered = sample(
        &m,
        "smarthost_messages_total{outcome=\"delivered\",upstream=\"postfix\"}",
    );
    assert_eq!(
        delivered, 4.0,
        "3 messages and the bounce, as the sink got them"
    );
    assert_eq!(
        sample(
            &m,
            "smarthost_messages_total{outcome=\"bounced\",upstream=\"postfix\"}"
        ),
        1.0
    );
    assert_eq!(
        sample(
            &m,
            "smarthost_messages_total{outcome=\"queued\",upstream=\"\"}"
        ),
        4.0
    );
    assert_eq!(
        sample(
            &m,
            "smarthost_messages_total{outcome=\"received\",upstream=\"\"}"
        ),
        4.0
    );
    assert_eq!(
        sample(
            &m,
            "smarthost_messages_total{outcome=\"rejected\",upstream=\"\"}"
        ),
        1.0
    );
    assert_eq!(
        sample(
            &m,
            "smarthost_delivery_latency_seconds_count{upstream=\"postfix\"}"
        ),
        4.0
    );
    assert_eq!(sample(&m, "smarthost_queue_messages "), 0.0);
    assert_eq!(
        sample(
            &m,
            "smarthost_limit_used{upstream=\"postfix\",window=\"per_day\"}"
        ),
        5.0
    );
    assert_eq!(
        sample(
            &m,
            "smarthost_limit{upstream=\"postfix\",window=\"per_day\"}"
        ),
        100.0
    );

    let status: serde_json::Value = serde_json::from_str(&get(admin, "/status").await).unwrap();
    assert_eq!(status["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(status["test_mode"], false);
    assert_eq!(status["queue"]["messages"], 0);
    let up = &status["upstreams"][0];
    assert_eq!(up["name"], "postfix");
    assert_eq!(up["health"]["state"], "ok");
    assert_eq!(up["quota"][0]["remaining"], 95);
}

#[tokio::test]
async fn a_failing_upstream_shows_in_status_and_in_the_failure_counter() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let up = format!(
        "[admin]\nlisten = \"127.0.0.1:0\"\n\n[[upstream]]\nname = \"down\"\nhost = \"127.0.0.1\"\nport = {port}\nconn = \"plaintext\"\n"
    );
    let relay = TestRelay::start(&up, "").await;
    let (mut c, _) = Client::connect(relay.addr()).await;
    c.send("<a@example.test>", &["<b@example.net>"], &message("down"))
        .await;
    relay.first_deferral().await;
    let admin = relay.relay.admin_addr.unwrap();
    let m = get(admin, "/metrics").await;
    assert_eq!(
        sample(
            &m,
            "smarthost_upstream_failures_total{upstream=\"down\",kind=\"connect\"}"
        ),
        1.0
    );
    assert_eq!(sample(&m, "smarthost_queue_messages "), 1.0);
    let status: serde_json::Value = serde_json::from_str(&get(admin, "/status").await).unwrap();
    assert_eq!(status["upstreams"][0]["health"]["state"], "failing");
    assert!(
        status["upstreams"][0]["health"]["last_error"]
            .as_str()
            .unwrap()
            .contains("cannot connect")
    );
}
