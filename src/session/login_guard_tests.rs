use super::*;

const LIMIT: u32 = 5;
const BAN: Duration = Duration::from_secs(60);

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn outside(s: &str) -> Source {
    Source::Outside(ip(s))
}

fn trusted(s: &str) -> Source {
    Source::Trusted(ip(s))
}

/// One whole failed attempt for `name` (a configured account when `account`).
fn fail_as(b: &Bans, from: Source, name: &str, account: bool) -> Option<Lock> {
    let account = account.then_some(name);
    assert!(
        b.begin(from, name, account, LIMIT, BAN).is_ok(),
        "attempt refused"
    );
    b.failed(from, name, account, LIMIT, BAN)
}

fn fail(b: &Bans, from: &str, account: Option<&str>) -> bool {
    let name = account.unwrap_or("nobody");
    matches!(
        fail_as(b, outside(from), name, account.is_some()),
        Some(Lock::Address(_))
    )
}

fn begins(b: &Bans, from: Source, name: &str) -> bool {
    b.begin(from, name, Some(name), LIMIT, BAN).is_ok()
}

#[test]
fn a_good_login_for_another_account_does_not_clear_an_address_failures() {
    let b = Bans::default();
    for _ in 0..4 {
        assert!(!fail(&b, "127.0.0.2", Some("boss")));
    }
    assert!(begins(&b, outside("127.0.0.2"), "payroll"));
    b.succeeded(outside("127.0.0.2"), "payroll", Some("payroll"));
    assert!(fail(&b, "127.0.0.2", Some("boss")), "the 5th failure bans");
    assert!(b.is_banned(ip("127.0.0.2")));
    assert!(!b.is_banned(ip("127.0.0.3")));
}

#[test]
fn concurrent_attempts_count_as_they_start() {
    let b = Bans::default();
    let started = (0..20)
        .filter(|_| begins(&b, outside("127.0.0.2"), "boss"))
        .count();
    assert_eq!(started, LIMIT as usize);
}

#[test]
fn a_banned_address_gets_no_attempt_even_with_the_right_password() {
    let b = Bans::default();
    for _ in 0..LIMIT {
        fail(&b, "127.0.0.2", None);
    }
    assert!(matches!(
        b.begin(outside("127.0.0.2"), "payroll", Some("payroll"), LIMIT, BAN),
        Err(Lock::Address(_))
    ));
}

#[test]
fn guessing_one_account_from_many_addresses_bans_the_account() {
    let b = Bans::default();
    for i in 0..(LIMIT * ACCOUNT_FACTOR) {
        fail(&b, &format!("10.0.{}.1", i / 4), Some("boss"));
    }
    assert!(!begins(&b, outside("10.9.9.9"), "boss"));
    assert!(begins(&b, outside("10.9.9.9"), "payroll"));
}

#[test]
fn a_trusted_address_is_never_banned_as_a_whole() {
    let b = Bans::default();
    for _ in 0..LIMIT {
        fail_as(&b, trusted("127.0.0.1"), "payroll", true);
    }
    assert!(!b.is_banned(ip("127.0.0.1")));
    assert!(begins(&b, trusted("127.0.0.1"), "invoicing"));
}

#[test]
fn a_trusted_address_pauses_only_the_failing_name() {
    let b = Bans::default();
    let mut locks = (0..LIMIT).map(|_| fail_as(&b, trusted("127.0.0.1"), "payroll", true));
    assert!(locks.by_ref().take(LIMIT as usize - 1).all(|l| l.is_none()));
    assert!(matches!(locks.next().flatten(), Some(Lock::Name(_))));
    assert!(matches!(
        b.begin(trusted("127.0.0.1"), "payroll", Some("payroll"), LIMIT, BAN),
        Err(Lock::Name(_))
    ));
    // The same name from another machine of the office is not paused.
    assert!(begins(&b, trusted("127.0.0.2"), "payroll"));
}

#[test]
fn unknown_names_from_a_trusted_address_share_one_count() {
    let b = Bans::default();
    for i in 0..LIMIT {
        fail_as(&b, trusted("127.0.0.1"), &format!("guess{i}"), false);
    }
    let next = b.begin(trusted("127.0.0.1"), "another", None, LIMIT, BAN);
    assert!(matches!(next, Err(Lock::Name(_))));
    assert!(begins(&b, trusted("127.0.0.1"), "payroll"));
    assert_eq!(b.lock().names.len(), 2);
}

#[test]
fn the_time_to_try_again_is_never_before_the_ban_ends() {
    let until = Instant::now() + Duration::from_secs(15 * 60);
    let said = wall_clock(until);
    let end = chrono::Local::now() + chrono::Duration::minutes(15);
    assert!(
        said >= end.format("%H:%M").to_string() || said.starts_with("00"),
        "{said}"
    );
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
