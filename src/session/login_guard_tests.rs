use super::*;

const LIMIT: u32 = 5;
const BAN: Duration = Duration::from_secs(60);

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// One whole failed attempt.
fn fail(b: &Bans, from: &str, account: Option<&str>) -> bool {
    assert!(b.begin(ip(from), account, LIMIT, BAN), "attempt refused");
    b.failed(ip(from), account, LIMIT, BAN)
}

#[test]
fn a_good_login_for_another_account_does_not_clear_an_address_failures() {
    let b = Bans::default();
    for _ in 0..4 {
        assert!(!fail(&b, "127.0.0.2", Some("boss")));
    }
    assert!(b.begin(ip("127.0.0.2"), Some("payroll"), LIMIT, BAN));
    b.succeeded(ip("127.0.0.2"), Some("payroll"));
    assert!(fail(&b, "127.0.0.2", Some("boss")), "the 5th failure bans");
    assert!(b.is_banned(ip("127.0.0.2")));
    assert!(!b.is_banned(ip("127.0.0.3")));
}

#[test]
fn concurrent_attempts_count_as_they_start() {
    let b = Bans::default();
    let started = (0..20)
        .filter(|_| b.begin(ip("127.0.0.2"), Some("boss"), LIMIT, BAN))
        .count();
    assert_eq!(started, LIMIT as usize);
}

#[test]
fn a_banned_address_gets_no_attempt_even_with_the_right_password() {
    let b = Bans::default();
    for _ in 0..LIMIT {
        fail(&b, "127.0.0.2", None);
    }
    assert!(!b.begin(ip("127.0.0.2"), Some("payroll"), LIMIT, BAN));
}

#[test]
fn guessing_one_account_from_many_addresses_bans_the_account() {
    let b = Bans::default();
    for i in 0..(LIMIT * ACCOUNT_FACTOR) {
        fail(&b, &format!("10.0.{}.1", i / 4), Some("boss"));
    }
    assert!(!b.begin(ip("10.9.9.9"), Some("boss"), LIMIT, BAN));
    assert!(b.begin(ip("10.9.9.9"), Some("payroll"), LIMIT, BAN));
}

fn accounts() -> Arc<Vec<ClientAccount>> {
    let text = format!(
        "[[client]]\nname = \"payroll\"\npassword_hash = \"{}\"\n\
         [[upstream]]\nname = \"o\"\nkind = \"file\"\ndir = \"o\"\n",
        crate::config::hash_password("right")
    );
    let c = crate::config::Config::load(&text, std::path::Path::new("t.toml")).unwrap();
    Arc::new(c.clients)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_parallel_verifications_run_at_most_the_cap_at_once() {
    let v = Arc::new(Verifier::new(2));
    let clients = accounts();
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let (v, clients) = (v.clone(), clients.clone());
            let name = if i % 2 == 0 { "payroll" } else { "nobody" };
            tokio::spawn(async move { v.verify(clients, name.into(), "wrong".into()).await })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap(), None);
    }
    assert!(v.peak() <= 2, "peak {}", v.peak());
    assert_eq!(
        v.verify(clients, "payroll".into(), "right".into()).await,
        Some("payroll".into())
    );
}

#[tokio::test]
async fn an_unknown_account_name_costs_as_much_as_a_known_one() {
    let v = Verifier::new(1);
    let clients = accounts();
    // Warm the dummy hash, which is made once.
    v.verify(clients.clone(), "nobody".into(), "x".into()).await;
    let time = |name: &'static str| {
        let clients = clients.clone();
        let v = &v;
        async move {
            let start = Instant::now();
            v.verify(clients, name.into(), "wrong".into()).await;
            start.elapsed()
        }
    };
    let known = time("payroll").await;
    let unknown = time("nobody").await;
    assert!(unknown * 2 >= known, "unknown {unknown:?}, known {known:?}");
}
