//! What keeps the relay from leaking what it carries: private spool and delivered files, a
//! warning for a world-readable config holding a password, and no password or token in the
//! logs of a full run with AUTH, even at debug level.

mod common;

use std::os::unix::fs::PermissionsExt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use common::{BinaryRelay, Client, Harness, message, unique};

fn mode(p: &std::path::Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[tokio::test]
async fn the_spool_and_delivered_files_are_readable_by_the_relay_user_only() {
    let relay = BinaryRelay::start(
        "[server]\nlisten = [\"127.0.0.1:0\"]\n[spool]\ndir = \"{dir}/spool\"\n\
         [[upstream]]\nname = \"outbox\"\nkind = \"file\"\ndir = \"{dir}/outbox\"\n",
        &[],
    );
    let (mut c, _) = Client::connect(relay.addr).await;
    let r = c
        .send(
            "<payroll@example.test>",
            &["<a@example.net>"],
            &message("payslip"),
        )
        .await;
    let id = common::queue_id(&r);
    let eml = relay.dir.path().join("outbox").join(format!("{id}.eml"));
    let deadline = std::time::Instant::now() + common::WAIT;
    while !eml.exists() {
        assert!(std::time::Instant::now() < deadline, "not delivered");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let spool = relay.dir.path().join("spool");
    assert_eq!(mode(&spool), 0o700);
    assert_eq!(mode(&spool.join("spool.db")), 0o600);
    assert_eq!(mode(&eml), 0o600);
}

#[test]
fn a_world_readable_config_holding_a_password_gets_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("smarthost.toml");
    std::fs::write(
        &conf,
        "[[upstream]]\nname = \"o365\"\npreset = \"office365\"\nusername = \"a@b.ch\"\npassword = \"hunter2\"\n",
    )
    .unwrap();
    let check = || {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_smarthost"))
            .args(["check-config", "--config"])
            .arg(&conf)
            .output()
            .unwrap();
        assert!(out.status.success());
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    std::fs::set_permissions(&conf, std::fs::Permissions::from_mode(0o644)).unwrap();
    let err = check();
    assert!(
        err.contains("is readable by every user") && err.contains("chmod 600"),
        "{err}"
    );
    assert!(!err.contains("hunter2"), "{err}");
    std::fs::set_permissions(&conf, std::fs::Permissions::from_mode(0o600)).unwrap();
    assert_eq!(check(), "");
}

fn postfix(password: &str, auth: &str) -> String {
    format!(
        "[server]\nlisten = [\"127.0.0.1:0\"]\n[spool]\ndir = \"{{dir}}/spool\"\n\
         [[upstream]]\nname = \"postfix\"\nhost = \"127.0.0.1\"\nport = 2587\nconn = \"starttls\"\nauth = \"{auth}\"\n\
         username = \"relay@example.test\"\npassword = \"{password}\"\nca_file = \"{}\"\n",
        Harness::get().ca()
    )
}

#[tokio::test]
async fn no_password_or_credential_encoding_appears_in_debug_logs() {
    let debug = [("SMARTHOST_LOG", "debug")];
    // A login that works, then one that fails (its reply is logged as a configuration problem).
    let good = BinaryRelay::start(&postfix("secret", "plain"), &debug);
    let rcpt = format!("{}@example.net", unique("nosecret"));
    let (mut c, _) = Client::connect(good.addr).await;
    c.send(
        "<payroll@example.test>",
        &[&format!("<{rcpt}>")],
        &message("creds"),
    )
    .await;
    Harness::get().wait_for(&rcpt).await;
    good.wait_log("delivered").await;

    let wrong = "Zq9-never-in-a-log";
    let bad = BinaryRelay::start(&postfix(wrong, "login"), &debug);
    let (mut c, _) = Client::connect(bad.addr).await;
    c.send(
        "<payroll@example.test>",
        &["<x@example.net>"],
        &message("creds"),
    )
    .await;
    bad.wait_log("configuration problem").await;

    let logs = good.log() + &bad.log();
    let forbidden = [
        wrong.to_string(),
        B64.encode(wrong),
        B64.encode("\0relay@example.test\0secret"),
        B64.encode("secret"),
        "password = ".to_string(),
    ];
    for f in &forbidden {
        assert!(
            !logs.contains(f.as_str()),
            "`{f}` found in the logs:\n{logs}"
        );
    }
}

#[tokio::test]
async fn client_passwords_and_hashes_never_appear_in_debug_logs() {
    let hash = smarthost::config::hash_password("Cl1ent-pw-never-logged");
    let relay = BinaryRelay::start(
        &format!(
            "[server]\nlisten = [\"127.0.0.1:0\"]\nallow_plain_auth_on_loopback = true\n[spool]\ndir = \"{{dir}}/spool\"\n\
             [[client]]\nname = \"payroll\"\npassword_hash = \"{hash}\"\n\
             [[upstream]]\nname = \"o\"\nkind = \"file\"\ndir = \"{{dir}}/o\"\n"
        ),
        &[("SMARTHOST_LOG", "debug")],
    );
    for password in ["Cl1ent-pw-never-logged", "Wr0ng-pw-never-logged"] {
        let (mut c, _) = Client::connect(relay.addr).await;
        c.cmd("EHLO legacy.lan").await;
        let auth = B64.encode(format!("\0payroll\0{password}"));
        c.cmd(&format!("AUTH PLAIN {auth}")).await;
    }
    relay.wait_log("failed login").await;
    let logs = relay.log();
    assert!(logs.contains("client logged in"), "{logs}");
    for f in [
        "Cl1ent-pw-never-logged".to_string(),
        "Wr0ng-pw-never-logged".to_string(),
        B64.encode("\0payroll\0Cl1ent-pw-never-logged"),
        "$argon2id$".to_string(),
    ] {
        assert!(!logs.contains(&f), "`{f}` found in the logs:\n{logs}");
    }
}
