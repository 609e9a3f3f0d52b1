//! Micro-benchmarks of the per-message hot paths: command parsing and DATA dot-unstuffing in the
//! session machine, dot-stuffing for the upstream, header rewriting, DKIM signing (the cost
//! behind the DKIM bound of bench/compare.sh) and a durable spool write.

use std::path::Path;
use std::sync::Arc;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use smarthost::config::Config;
use smarthost::envelope::{Envelope, Recipient};
use smarthost::policy::Policy;
use smarthost::session::machine::{Action, Limits, Machine};
use smarthost::spool::{NewMessage, Spool};

fn limits() -> Limits {
    Limits {
        hostname: "bench.test".into(),
        max_message_size: 50_000_000,
        max_errors: 10,
        max_recipients: 1000,
        tls_available: false,
    }
}

fn body(size: usize) -> Vec<u8> {
    let mut b =
        b"From: Payroll <payroll@example.test>\r\nTo: a@example.net\r\nSubject: payslip\r\n\r\n"
            .to_vec();
    let line =
        b"Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor.\r\n";
    while b.len() < size {
        b.extend_from_slice(line);
        b.extend_from_slice(b".a line that needs dot-stuffing\r\n");
    }
    b
}

fn session(c: &mut Criterion) {
    let data = smarthost::upstream::dot_stuff(&body(10 * 1024));
    let mut input = b"EHLO client.test\r\nMAIL FROM:<a@example.test> SIZE=10240 BODY=8BITMIME\r\n\
        RCPT TO:<b@example.net> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;b@example.net\r\nDATA\r\n"
        .to_vec();
    input.extend_from_slice(&data);
    input.extend_from_slice(b"QUIT\r\n");
    let mut g = c.benchmark_group("session");
    g.throughput(Throughput::Bytes(input.len() as u64));
    g.bench_function("transaction of 10 KiB, parse and unstuff", |b| {
        b.iter(|| {
            let mut m = Machine::new(limits(), false);
            let mut out = Vec::new();
            let mut rest = &input[..];
            while !rest.is_empty() {
                let used = m.receive(rest, &mut out);
                rest = &rest[used..];
                if out.iter().any(|a| matches!(a, Action::Deliver(_))) {
                    m.delivered(Ok("Q".into()));
                }
                if out.iter().any(|a| matches!(a, Action::Close)) {
                    break;
                }
                out.clear();
            }
        })
    });
    g.finish();
}

fn upstream(c: &mut Criterion) {
    let b10 = body(10 * 1024);
    let mut g = c.benchmark_group("upstream");
    g.throughput(Throughput::Bytes(b10.len() as u64));
    g.bench_function("dot-stuff 10 KiB", |b| {
        b.iter(|| smarthost::upstream::dot_stuff(&b10))
    });
    g.finish();
}

fn envelope() -> Envelope {
    Envelope {
        mail_from: "payroll@example.test".into(),
        body: Default::default(),
        smtputf8: false,
        ret: None,
        envid: None,
        recipients: vec![Recipient {
            address: "a@example.net".into(),
            orcpt: None,
            notify: None,
        }],
        upstream: None,
        client: None,
    }
}

fn policy(c: &mut Criterion) {
    let text = "[rewrite]\nfrom = \"noreply@company.test\"\nbcc = [\"archive@company.test\"]\n\n\
        [[upstream]]\nname = \"o\"\nkind = \"file\"\ndir = \"o\"\n";
    let rewrite = Policy::new(&Config::load(text, Path::new("b.toml")).unwrap()).unwrap();
    let none = Policy::new(&Config::embedded_default()).unwrap();
    let b10 = body(10 * 1024);
    let mut g = c.benchmark_group("policy");
    g.bench_function("rewrite From/Reply-To + BCC, 10 KiB", |b| {
        b.iter_batched(
            || (envelope(), b10.clone()),
            |(e, m)| rewrite.apply(e, m),
            BatchSize::SmallInput,
        )
    });
    g.bench_function("no policy configured, 10 KiB", |b| {
        b.iter_batched(
            || (envelope(), b10.clone()),
            |(e, m)| none.apply(e, m),
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

fn spool(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (spool, mut fresh) = rt.block_on(async { Spool::open(&dir.path().join("spool")).unwrap() });
    // Drain the "new message" stream so it does not grow.
    rt.spawn(async move { while fresh.recv().await.is_some() {} });
    let b10 = Arc::new(body(10 * 1024));
    let mut g = c.benchmark_group("spool");
    g.sample_size(20);
    for concurrent in [1usize, 32] {
        g.throughput(Throughput::Elements(concurrent as u64));
        g.bench_function(
            format!("durable put of 10 KiB, {concurrent} at once (group commit)"),
            |b| {
                b.iter(|| {
                    rt.block_on(async {
                        let puts = (0..concurrent).map(|_| {
                            let spool = spool.clone();
                            let body = b10.clone();
                            tokio::spawn(async move {
                                let msg = NewMessage {
                                    id: smarthost::spool::new_queue_id(),
                                    envelope: envelope(),
                                    body: (*body).clone(),
                                };
                                spool.put(msg).await.unwrap()
                            })
                        });
                        for p in puts.collect::<Vec<_>>() {
                            p.await.unwrap();
                        }
                    })
                })
            },
        );
    }
    g.finish();
}

fn dkim(c: &mut Criterion) {
    use smarthost::dkim::{Key, Signer};
    let keys = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/dns/keys");
    let rsa = Signer::new(
        "example.test",
        "s",
        Key::load(&keys.join("rsa.pem")).unwrap(),
    )
    .unwrap();
    let ed = Signer::new(
        "example.test",
        "s",
        Key::load(&keys.join("ed25519.pem")).unwrap(),
    )
    .unwrap();
    // smtp-source's body (lines of 80 X), and prose.
    let mut xs = b"From: <bench@example.test>\r\nSubject: s\r\n\r\n".to_vec();
    while xs.len() < 10 * 1024 {
        xs.extend_from_slice(&[b'X'; 78]);
        xs.extend_from_slice(b"\r\n");
    }
    let prose = body(10 * 1024);
    let mut g = c.benchmark_group("dkim");
    for (what, m) in [("smtp-source body", &xs), ("prose", &prose)] {
        g.bench_function(format!("RSA-2048, 10 KiB {what}"), |b| {
            b.iter(|| rsa.signature(m).unwrap())
        });
        g.bench_function(format!("Ed25519, 10 KiB {what}"), |b| {
            b.iter(|| ed.signature(m).unwrap())
        });
    }
    g.finish();
}

criterion_group!(benches, session, upstream, policy, dkim, spool);
criterion_main!(benches);
