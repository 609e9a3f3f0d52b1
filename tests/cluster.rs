//! Two relays, one set of provider limits, against real parts: a real `redis-server` on
//! 127.0.0.1:6390 (tests/redis/test-redis.sh, started by tests/run.sh), two `smarthost run`
//! processes with their own spools and listeners, the Postfix upstream for quotas, and an
//! in-process SMTP upstream that counts connections and arrival times. Each test uses its own
//! provider account, so tests sharing the Redis server never share counters. The outage test
//! starts a private redis-server of its own, so stopping it disturbs no other test.

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{BinaryRelay, Client, Harness, unique};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

const REDIS: &str = "redis://127.0.0.1:6390";

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The shared test Redis must run (tests/run.sh starts it).
fn redis_ready() {
    let ok = Command::new(root().join("tests/redis/test-redis.sh"))
        .arg("start")
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "the test redis-server did not start (tests/redis/test-redis.sh)"
    );
}

/// A node: `smarthost run` on its own spool, sharing `account` through `redis`.
fn node(name: &str, redis: &str, upstream: &str, extra_cluster: &str) -> BinaryRelay {
    let cfg = format!(
        "[server]\nlisten = [\"127.0.0.1:0\"]\nhostname = \"{name}.test\"\n\
         [spool]\ndir = \"{{dir}}/spool\"\n[retry]\nschedule = [\"1s\"]\n\
         [cluster]\nredis = \"{redis}\"\nnode = \"{name}\"\n{extra_cluster}\n{upstream}"
    );
    BinaryRelay::start(&cfg, &[])
}

fn postfix(account: &str, limits: &str) -> String {
    format!(
        "[[upstream]]\nname = \"provider\"\naccount = \"{account}\"\nhost = \"127.0.0.1\"\nport = 2025\n\
         conn = \"plaintext\"\nauth = \"none\"\ntimeout = \"20s\"\n[upstream.limits]\n{limits}\n"
    )
}

async fn send(addr: SocketAddr, to: &str) -> String {
    let (mut c, _) = Client::connect(addr).await;
    let body =
        format!("From: <payroll@example.test>\r\nTo: <{to}>\r\nSubject: cluster\r\n\r\nhello\r\n");
    c.send(
        "<payroll@example.test>",
        &[&format!("<{to}>")],
        body.as_bytes(),
    )
    .await
}

/// How many of `rcpts` reached the Postfix sink.
fn at_sink(rcpts: &[String]) -> usize {
    rcpts
        .iter()
        .filter(|r| Harness::get().find(r).is_some())
        .count()
}

/// `smarthost ARGS --config` of a node; stdout+stderr.
fn cli(node: &BinaryRelay, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_smarthost"))
        .args(args)
        .arg("--config")
        .arg(node.dir.path().join("smarthost.toml"))
        .output()
        .unwrap();
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Messages in a node's queue held by a limit.
fn held(node: &BinaryRelay) -> usize {
    cli(node, &["queue", "list"])
        .lines()
        .filter(|l| l.contains("(limit)"))
        .count()
}

async fn wait_until(what: &str, secs: u64, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !f() {
        assert!(Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn two_nodes_spend_one_hourly_quota_of_ten_and_a_reset_on_one_releases_the_others_mail() {
    redis_ready();
    let account = unique("acct-quota");
    let up = postfix(&account, "per_hour = 10");
    let (a, b) = (
        node("node-a", REDIS, &up, ""),
        node("node-b", REDIS, &up, ""),
    );
    let tag = unique("q");
    let rcpts: Vec<String> = (0..30).map(|i| format!("{tag}-{i}@example.net")).collect();
    for (i, r) in rcpts.iter().enumerate() {
        let via = if i % 2 == 0 { a.addr } else { b.addr };
        assert!(send(via, r).await.starts_with("250"));
    }
    wait_until("10 at the sink", 60, || at_sink(&rcpts) >= 10).await;
    wait_until("20 held across both nodes", 30, || {
        held(&a) + held(&b) == 20
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(at_sink(&rcpts), 10, "never more than the account's quota");
    for n in [&a, &b] {
        let show = cli(n, &["limits", "show"]);
        assert!(show.contains("10 of 10 messages used"), "{show}");
    }
    let reset = cli(&a, &["limits", "reset"]);
    assert!(reset.contains("shared limits reset"), "{reset}");
    // Node B follows A's reset: its held mail goes out too (10 more fit the fresh quota).
    wait_until("10 more after the reset", 60, || at_sink(&rcpts) >= 20).await;
    let from_b = rcpts
        .iter()
        .enumerate()
        .filter(|(i, r)| i % 2 == 1 && Harness::get().find(r).is_some())
        .count();
    assert!(from_b > 0, "node B released mail after node A's reset");
}

/// An SMTP upstream in the test process that counts connections open at once and when each
/// message arrived; it holds every DATA for `hold`.
struct Counting {
    port: u16,
    open: Arc<AtomicUsize>,
    max_open: Arc<AtomicUsize>,
    arrivals: Arc<Mutex<Vec<Instant>>>,
}

async fn counting_upstream(hold: Duration) -> Counting {
    counting_upstream_replying(hold, None).await
}

/// As [`counting_upstream`]; the first message's end of data gets `first` instead of 250.
async fn counting_upstream_replying(hold: Duration, first: Option<&'static str>) -> Counting {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    let open = Arc::new(AtomicUsize::new(0));
    let max_open = Arc::new(AtomicUsize::new(0));
    let arrivals = Arc::new(Mutex::new(Vec::new()));
    let (o, m, a) = (open.clone(), max_open.clone(), arrivals.clone());
    let answered = Arc::new(std::sync::atomic::AtomicBool::new(first.is_none()));
    tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            let now_open = o.fetch_add(1, Ordering::SeqCst) + 1;
            m.fetch_max(now_open, Ordering::SeqCst);
            let (o, a, answered) = (o.clone(), a.clone(), answered.clone());
            tokio::spawn(async move {
                let _ = smtp_session(s, hold, &a, first, &answered).await;
                o.fetch_sub(1, Ordering::SeqCst);
            });
        }
    });
    Counting {
        port,
        open,
        max_open,
        arrivals,
    }
}

async fn smtp_session(
    s: tokio::net::TcpStream,
    hold: Duration,
    arrivals: &Mutex<Vec<Instant>>,
    first: Option<&'static str>,
    answered: &std::sync::atomic::AtomicBool,
) -> std::io::Result<()> {
    let (r, mut w) = s.into_split();
    let mut r = BufReader::new(r);
    w.write_all(b"220 counting ESMTP\r\n").await?;
    let mut line = String::new();
    loop {
        line.clear();
        if r.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let cmd = line.to_ascii_uppercase();
        let reply: &[u8] = if cmd.starts_with("EHLO") {
            b"250-counting\r\n250 PIPELINING\r\n"
        } else if cmd.starts_with("DATA") {
            w.write_all(b"354 go\r\n").await?;
            loop {
                line.clear();
                if r.read_line(&mut line).await? == 0 || line == ".\r\n" {
                    break;
                }
            }
            tokio::time::sleep(hold).await;
            if let Some(reply) = first.filter(|_| !answered.swap(true, Ordering::SeqCst)) {
                w.write_all(format!("{reply}\r\n").as_bytes()).await?;
                continue;
            }
            arrivals.lock().unwrap().push(Instant::now());
            b"250 ok\r\n"
        } else if cmd.starts_with("QUIT") {
            w.write_all(b"221 bye\r\n").await?;
            return Ok(());
        } else {
            b"250 ok\r\n"
        };
        w.write_all(reply).await?;
    }
}

fn scripted(account: &str, port: u16, limits: &str) -> String {
    format!(
        "[[upstream]]\nname = \"provider\"\naccount = \"{account}\"\nhost = \"127.0.0.1\"\nport = {port}\n\
         conn = \"plaintext\"\nauth = \"none\"\ntimeout = \"60s\"\n[upstream.limits]\n{limits}\n"
    )
}

#[tokio::test]
async fn a_rate_of_60_a_minute_holds_across_two_nodes_within_one_token() {
    redis_ready();
    let up = counting_upstream(Duration::ZERO).await;
    let cfg = scripted(&unique("acct-rate"), up.port, "rate = \"60/min\"");
    let (a, b) = (
        node("rate-a", REDIS, &cfg, ""),
        node("rate-b", REDIS, &cfg, ""),
    );
    let start = Instant::now();
    for i in 0..8 {
        let via = if i % 2 == 0 { a.addr } else { b.addr };
        send(via, &format!("r{i}@example.net")).await;
    }
    let arrivals = up.arrivals.clone();
    wait_until("8 arrivals", 60, || arrivals.lock().unwrap().len() == 8).await;
    // One message a second, shared: at any moment no more arrived than the seconds elapsed
    // since the first, plus the one token of the bucket.
    let times = up.arrivals.lock().unwrap().clone();
    let first = times.iter().min().copied().unwrap();
    for t in &times {
        let allowed = t.duration_since(first).as_secs_f64() + 1.0 + 0.25;
        let by_then = times.iter().filter(|x| **x <= *t).count() as f64;
        assert!(
            by_then <= allowed,
            "{by_then} messages within {:?}",
            t.duration_since(first)
        );
    }
    assert!(
        start.elapsed() >= Duration::from_secs(6),
        "8 messages at 1/s take 7 s"
    );
}

#[tokio::test]
async fn three_connections_allowed_means_never_a_fourth_across_two_nodes() {
    redis_ready();
    let up = counting_upstream(Duration::from_millis(600)).await;
    let cfg = scripted(&unique("acct-conn"), up.port, "max_connections = 3");
    let (a, b) = (
        node("conn-a", REDIS, &cfg, ""),
        node("conn-b", REDIS, &cfg, ""),
    );
    let sends: Vec<_> = (0..12)
        .map(|i| {
            let via = if i % 2 == 0 { a.addr } else { b.addr };
            tokio::spawn(async move { send(via, &format!("c{i}@example.net")).await })
        })
        .collect();
    for s in sends {
        assert!(s.await.unwrap().starts_with("250"));
    }
    let arrivals = up.arrivals.clone();
    wait_until("12 arrivals", 60, || arrivals.lock().unwrap().len() == 12).await;
    let max = up.max_open.load(Ordering::SeqCst);
    assert!(max <= 3, "{max} connections at once");
    assert_eq!(max, 3, "the test must reach the limit to show anything");
    drop(up.open);
}

#[tokio::test]
async fn leases_of_a_killed_node_expire_and_the_other_node_uses_them() {
    redis_ready();
    // Node A's transactions hang on this upstream, holding both leases.
    let slow = counting_upstream(Duration::from_secs(600)).await;
    let fast = counting_upstream(Duration::ZERO).await;
    let account = unique("acct-lease");
    let mut a = node(
        "lease-a",
        REDIS,
        &scripted(&account, slow.port, "max_connections = 2"),
        "",
    );
    let b = node(
        "lease-b",
        REDIS,
        &scripted(&account, fast.port, "max_connections = 2"),
        "",
    );
    send(a.addr, "x1@example.net").await;
    send(a.addr, "x2@example.net").await;
    let open = slow.open.clone();
    wait_until("node A holds two connections", 30, || {
        open.load(Ordering::SeqCst) == 2
    })
    .await;
    // SAFETY: signals only the child this test started.
    unsafe { libc::kill(a.child.id() as i32, libc::SIGKILL) };
    let _ = a.child.wait();
    let killed = Instant::now();
    send(b.addr, "y1@example.net").await;
    let arrivals = fast.arrivals.clone();
    wait_until("node B delivers once the leases expired", 30, || {
        !arrivals.lock().unwrap().is_empty()
    })
    .await;
    let took = fast.arrivals.lock().unwrap()[0].duration_since(killed);
    assert!(
        took >= Duration::from_secs(5),
        "B waited for the leases ({took:?})"
    );
}

/// A private redis-server, stopped and started by this test alone (by PID).
struct OwnRedis {
    port: u16,
    /// More redis-server arguments (TLS, a password).
    args: Vec<String>,
    child: Option<Child>,
}

impl OwnRedis {
    fn start(port: u16) -> OwnRedis {
        Self::start_with(port, &["--port", &port.to_string()])
    }

    fn start_with(port: u16, args: &[&str]) -> OwnRedis {
        let args = args.iter().map(|a| a.to_string()).collect();
        let mut r = OwnRedis {
            port,
            args,
            child: None,
        };
        r.up();
        r
    }

    fn up(&mut self) {
        let child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1"])
            .args(&self.args)
            .args(["--save", "", "--appendonly", "no"])
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("redis-server (tests/redis/test-redis.sh installs it)");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "private redis did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn down(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        self.down();
    }
}

#[tokio::test]
async fn without_redis_each_node_keeps_to_half_and_the_units_are_counted_when_it_returns() {
    redis_ready();
    let mut redis = OwnRedis::start(6391);
    let url = format!("redis://127.0.0.1:{}", redis.port);
    let up = counting_upstream(Duration::ZERO).await;
    let cfg = scripted(&unique("acct-outage"), up.port, "per_hour = 10");
    let admin = "[admin]\nlisten = \"127.0.0.1:0\"\n";
    let a = node(
        "out-a",
        &url,
        &format!("{admin}{cfg}"),
        "expected_nodes = 2",
    );
    let b = node("out-b", &url, &cfg, "expected_nodes = 2");
    redis.down();
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Both keep accepting; each sends its half (5) and holds the rest, nothing lost.
    for i in 0..8 {
        assert!(
            send(a.addr, &format!("a{i}@example.net"))
                .await
                .starts_with("250")
        );
        assert!(
            send(b.addr, &format!("b{i}@example.net"))
                .await
                .starts_with("250")
        );
    }
    let arrivals = up.arrivals.clone();
    wait_until("10 arrivals", 60, || arrivals.lock().unwrap().len() == 10).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        up.arrivals.lock().unwrap().len(),
        10,
        "each node at most its half"
    );
    assert_eq!(held(&a) + held(&b), 6);
    a.wait_log("cannot be reached").await;
    let status = http_get(&a, "/status").await;
    assert!(
        status.replace(' ', "").contains("\"shared\":false"),
        "{status}"
    );
    let metrics = http_get(&a, "/metrics").await;
    assert!(metrics.contains("smarthost_cluster_shared 0"), "{metrics}");
    redis.up();
    // Back: each node writes back what it spent alone (at its next heartbeat), so the account
    // is seen as full, and shared counting holds the next message.
    let counted = || cli(&a, &["limits", "show"]).contains("10 of 10 messages used");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !counted() {
        assert!(
            Instant::now() < deadline,
            "the units spent alone were not counted:\n{}",
            cli(&a, &["limits", "show"])
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert!(send(b.addr, "after@example.net").await.starts_with("250"));
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(up.arrivals.lock().unwrap().len(), 10);
}

/// `rediss://` with the password in a file and the office's own CA in `ca_file`: both nodes
/// reach Redis over TLS (both are listed by `cluster status`) and share one quota.
#[tokio::test]
async fn over_rediss_with_a_password_file_two_nodes_share_one_quota() {
    redis_ready();
    let certs = tempfile::tempdir().unwrap();
    let pem = common::certs::issued_by_unknown_ca(certs.path());
    let secret = certs.path().join("redis.secret");
    std::fs::write(&secret, "Redis-Tls-Secret-9\n").unwrap();
    let (cert, key) = (
        pem.cert.display().to_string(),
        pem.key.display().to_string(),
    );
    let _redis = OwnRedis::start_with(
        6392,
        &[
            "--port",
            "0",
            "--tls-port",
            "6392",
            "--tls-cert-file",
            &cert,
            "--tls-key-file",
            &key,
            "--tls-auth-clients",
            "no",
            "--requirepass",
            "Redis-Tls-Secret-9",
        ],
    );
    let up = postfix(&unique("acct-tls"), "per_hour = 4");
    let extra = format!(
        "password_file = \"{}\"\nca_file = \"{}\"",
        secret.display(),
        certs.path().join("ca.pem").display()
    );
    let url = "rediss://127.0.0.1:6392";
    let (a, b) = (
        node("tls-a", url, &up, &extra),
        node("tls-b", url, &up, &extra),
    );
    wait_until("both nodes heartbeat over TLS", 20, || {
        let s = cli(&a, &["cluster", "status"]);
        s.contains("tls-a") && s.contains("tls-b")
    })
    .await;
    let tag = unique("tls");
    let rcpts: Vec<String> = (0..8).map(|i| format!("{tag}-{i}@example.net")).collect();
    for (i, r) in rcpts.iter().enumerate() {
        let via = if i % 2 == 0 { a.addr } else { b.addr };
        assert!(send(via, r).await.starts_with("250"));
    }
    wait_until("4 at the sink", 60, || at_sink(&rcpts) >= 4).await;
    wait_until("4 held across both nodes", 30, || held(&a) + held(&b) == 4).await;
    assert_eq!(at_sink(&rcpts), 4, "never more than the account's quota");
}

#[tokio::test]
async fn cluster_status_lists_both_nodes_with_their_queues() {
    redis_ready();
    let up = counting_upstream(Duration::ZERO).await;
    let cfg = scripted(&unique("acct-status"), up.port, "per_day = 100");
    let (a, b) = (
        node("status-a", REDIS, &cfg, ""),
        node("status-b", REDIS, &cfg, ""),
    );
    let status = || cli(&a, &["cluster", "status"]);
    wait_until("both nodes heartbeat", 20, || {
        let s = status();
        s.contains("status-a") && s.contains("status-b")
    })
    .await;
    let s = status();
    assert!(s.contains("status-a") && s.contains("(this node)"), "{s}");
    assert!(s.contains("account"), "{s}");
    drop(b);
}

#[tokio::test]
async fn two_nodes_refresh_one_rotating_oauth2_grant_once_per_expiry() {
    use common::token_server::{SECRET, TokenServer, USER};
    redis_ready();
    let harness = Harness::get();
    let id = unique("cluster-grant");
    let lifetime = Duration::from_secs(3);
    TokenServer::get().register(&id, lifetime, Some("rt-0"));
    let account = unique("acct-oauth");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("secret.txt"), SECRET).unwrap();
    let upstream = |node: &str| {
        // Each node has its own copy of the grant, as pasted on two machines.
        let grant = dir.path().join(format!("grant-{node}.json"));
        std::fs::write(&grant, "rt-0\n").unwrap();
        format!(
            "[[upstream]]\nname = \"oauth\"\naccount = \"{account}\"\nhost = \"127.0.0.1\"\nport = 2589\n\
             conn = \"starttls\"\nca_file = \"{ca}\"\nusername = \"{USER}\"\ntimeout = \"20s\"\n\
             [upstream.oauth2]\nflow = \"refresh_token\"\ntoken_url = \"{token}\"\nclient_id = \"{id}\"\n\
             client_secret_file = \"{secret}\"\nscope = \"smtp\"\nrefresh_token_file = \"{grant}\"\n",
            ca = harness.ca(),
            token = TokenServer::url("/token"),
            secret = dir.path().join("secret.txt").display(),
            grant = grant.display(),
        )
    };
    let a = node("grant-a", REDIS, &upstream("a"), "");
    let b = node("grant-b", REDIS, &upstream("b"), "");
    let tag = unique("g");
    let mut rcpts = Vec::new();
    let start = Instant::now();
    for i in 0..10 {
        let to = format!("{tag}-{i}@example.net");
        let via = if i % 2 == 0 { a.addr } else { b.addr };
        assert!(send(via, &to).await.starts_with("250"));
        rcpts.push(to);
        tokio::time::sleep(Duration::from_millis(900)).await;
    }
    wait_until("all ten delivered", 60, || at_sink(&rcpts) == 10).await;
    let c = TokenServer::get().client(&id);
    let expiries = start.elapsed().as_secs_f64() / lifetime.as_secs_f64();
    assert_eq!(
        c.token_requests, c.refreshes,
        "no node ever presented a refresh token another had already rotated"
    );
    assert!(
        (c.refreshes as f64) <= expiries + 2.0,
        "{} refreshes for about {expiries:.1} expiries: one per expiry, not one per node",
        c.refreshes
    );
}

/// A GET on the node's `[admin]` listener (its address is in the log).
async fn http_get(node: &BinaryRelay, path: &str) -> String {
    node.wait_log("metrics and status on http://").await;
    let log = node.log();
    let addr = log
        .split("metrics and status on http://")
        .nth(1)
        .and_then(|r| r.split('/').next())
        .unwrap()
        .to_string();
    let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut out = String::new();
    tokio::io::AsyncReadExt::read_to_string(&mut s, &mut out)
        .await
        .unwrap();
    out
}

/// The cost of shared limits, one run: 300 messages through one node to an upstream with a
/// quota, alone and with `[cluster]` (every transaction asks Redis). A figure for the notes,
/// not an assertion: `cargo test --release --test cluster -- --ignored --nocapture shared_limits_cost`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn shared_limits_cost() {
    redis_ready();
    let up = counting_upstream(Duration::ZERO).await;
    let limits = "per_day = 100000\nmax_connections = 10";
    for cluster in [false, true] {
        let before = up.arrivals.lock().unwrap().len();
        let cfg = scripted(&unique("acct-cost"), up.port, limits);
        let node = if cluster {
            node("cost", REDIS, &cfg, "")
        } else {
            BinaryRelay::start(
                &format!(
                    "[server]\nlisten = [\"127.0.0.1:0\"]\n[spool]\ndir = \"{{dir}}/spool\"\n{cfg}"
                ),
                &[],
            )
        };
        let n = 300;
        let start = Instant::now();
        let addr = node.addr;
        let tasks: Vec<_> = (0..10)
            .map(|c| {
                tokio::spawn(async move {
                    for i in 0..n / 10 {
                        send(addr, &format!("c{c}-{i}@example.net")).await;
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        let arrivals = up.arrivals.clone();
        wait_until("all delivered", 120, || {
            arrivals.lock().unwrap().len() >= before + n
        })
        .await;
        let secs = start.elapsed().as_secs_f64();
        println!(
            "{}: {n} messages in {secs:.2} s = {:.0} msg/s",
            if cluster { "with [cluster]" } else { "alone" },
            n as f64 / secs
        );
    }
}

#[tokio::test]
async fn a_provider_pause_seen_by_one_node_holds_the_accounts_mail_on_the_other() {
    redis_ready();
    let up = counting_upstream_replying(
        Duration::ZERO,
        Some("421 4.7.0 Try again later, closing connection"),
    )
    .await;
    let cfg = scripted(&unique("acct-pause"), up.port, "max_connections = 2");
    let (a, b) = (
        node("pause-a", REDIS, &cfg, ""),
        node("pause-b", REDIS, &cfg, ""),
    );
    send(a.addr, "p1@example.net").await;
    wait_until("node A paused", 30, || held(&a) == 1).await;
    send(b.addr, "p2@example.net").await;
    wait_until("node B holds without trying", 30, || held(&b) == 1).await;
    assert!(
        up.arrivals.lock().unwrap().is_empty(),
        "nothing went during the pause"
    );
    let show = cli(&b, &["limits", "show"]);
    assert!(show.contains("paused until"), "{show}");
}

#[tokio::test]
async fn a_batch_of_two_spans_both_nodes_then_rests() {
    redis_ready();
    let up = counting_upstream(Duration::ZERO).await;
    let cfg = scripted(
        &unique("acct-batch"),
        up.port,
        "batch = 2\nbatch_wait = \"3s\"",
    );
    let (a, b) = (
        node("batch-a", REDIS, &cfg, ""),
        node("batch-b", REDIS, &cfg, ""),
    );
    for i in 0..4 {
        let via = if i % 2 == 0 { a.addr } else { b.addr };
        send(via, &format!("b{i}@example.net")).await;
    }
    let arrivals = up.arrivals.clone();
    wait_until("four arrivals", 60, || arrivals.lock().unwrap().len() == 4).await;
    let mut t = up.arrivals.lock().unwrap().clone();
    t.sort();
    // Two go, the account rests 3 s (wherever the next two were accepted), two more go.
    assert!(t[1].duration_since(t[0]) < Duration::from_secs(2), "{t:?}");
    assert!(
        t[2].duration_since(t[1]) >= Duration::from_millis(2900),
        "{t:?}"
    );
}
