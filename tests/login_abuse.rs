//! Password guessing over real sockets from 127.0.0.2 and 127.0.0.3 (issue 18, findings 6 and
//! 7): a good login for one account never clears the failures of an address, and parallel
//! sessions get no more guesses than the limit; another address is not affected.

mod common;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use common::{TestRelay, read_reply, say};
use tokio::io::BufReader;
use tokio::net::TcpStream;

/// auth_fail_limit = 3; 127.0.0.2 and .3 are outside allowed_networks but may log in, in plain
/// text since they are loopback addresses.
async fn relay() -> TestRelay {
    let out = tempfile::tempdir().unwrap();
    let accounts = format!(
        "[[client]]\nname = \"boss\"\npassword_hash = \"{}\"\n\n\
         [[client]]\nname = \"payroll\"\npassword_hash = \"{}\"\n\n\
         [[upstream]]\nname = \"outbox\"\nkind = \"file\"\ndir = \"{}\"\n",
        smarthost::config::hash_password("boss-password"),
        smarthost::config::hash_password("payroll-password"),
        out.path().join("outbox").display()
    );
    let server = "allowed_networks = [\"127.0.0.1/32\"]\nauth_from_anywhere = true\n\
                  allow_plain_auth_on_loopback = true\nauth_fail_limit = 3\n";
    TestRelay::start(&accounts, server).await
}

/// A session from `ip`, past its greeting and EHLO.
async fn session(relay: &TestRelay, ip: &str) -> BufReader<TcpStream> {
    let sock = tokio::net::TcpSocket::new_v4().unwrap();
    sock.bind(format!("{ip}:0").parse().unwrap()).unwrap();
    let mut r = BufReader::new(sock.connect(relay.addr()).await.unwrap());
    let greeting = read_reply(&mut r).await;
    assert!(greeting.starts_with("220"), "{greeting}");
    assert!(say(&mut r, "EHLO c").await.contains("AUTH"));
    r
}

fn plain(user: &str, password: &str) -> String {
    format!("AUTH PLAIN {}", B64.encode(format!("\0{user}\0{password}")))
}

async fn refused_at_connect(relay: &TestRelay, ip: &str) -> bool {
    let sock = tokio::net::TcpSocket::new_v4().unwrap();
    sock.bind(format!("{ip}:0").parse().unwrap()).unwrap();
    let mut r = BufReader::new(sock.connect(relay.addr()).await.unwrap());
    read_reply(&mut r).await.starts_with(&format!(
        "421 4.7.0 Too many failed logins from {ip}; try again after "
    ))
}

#[tokio::test]
async fn a_good_login_as_another_account_does_not_reset_the_address_failure_count() {
    let relay = relay().await;
    let mut a = session(&relay, "127.0.0.2").await;
    for _ in 0..2 {
        assert!(
            say(&mut a, &plain("boss", "guess"))
                .await
                .starts_with("535")
        );
    }
    let mut b = session(&relay, "127.0.0.2").await;
    let good = say(&mut b, &plain("payroll", "payroll-password")).await;
    assert!(good.starts_with("235"), "{good}");
    let mut c = session(&relay, "127.0.0.2").await;
    let third = say(&mut c, &plain("boss", "guess")).await;
    assert!(third.starts_with("535"), "{third}");
    let closing = tokio::time::timeout(std::time::Duration::from_secs(10), read_reply(&mut c))
        .await
        .expect("no 421 after the third failure: the address was not banned");
    assert!(
        closing.starts_with("421 4.7.0"),
        "the 3rd failure bans: {closing}"
    );
    assert!(refused_at_connect(&relay, "127.0.0.2").await);
    let mut other = session(&relay, "127.0.0.3").await;
    let ok = say(&mut other, &plain("payroll", "payroll-password")).await;
    assert!(ok.starts_with("235"), "{ok}");
}

#[tokio::test]
async fn parallel_sessions_get_no_more_password_checks_than_the_limit() {
    let relay = relay().await;
    let mut sessions = Vec::new();
    for _ in 0..20 {
        sessions.push(session(&relay, "127.0.0.2").await);
    }
    let attempts = sessions
        .into_iter()
        .map(|mut s| tokio::spawn(async move { say(&mut s, &plain("boss", "guess")).await }));
    let mut checked = 0;
    for a in attempts {
        let reply = a.await.unwrap();
        if reply.starts_with("535") {
            checked += 1;
        } else {
            assert!(reply.starts_with("421 4.7.0"), "{reply}");
        }
    }
    assert!(checked <= 3, "{checked} passwords checked for a limit of 3");
    assert!(refused_at_connect(&relay, "127.0.0.2").await);
    let mut other = session(&relay, "127.0.0.3").await;
    let ok = say(&mut other, &plain("payroll", "payroll-password")).await;
    assert!(ok.starts_with("235"), "{ok}");
}
