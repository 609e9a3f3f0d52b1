//! The command line of the real binary: `check-config`, `--version`, and `run` failing cleanly
//! on a bad TLS file. Every child is waited for with a deadline and killed through its handle
//! if it overstays.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const DEADLINE: Duration = Duration::from_secs(30);

struct Output {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// Runs `smarthost ARGS` in `cwd` to its end (killed after [`DEADLINE`]).
fn smarthost(args: &[&str], cwd: &Path) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_smarthost"))
        .args(args)
        .current_dir(cwd)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start smarthost");
    let drain = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut s = Vec::new();
            let _ = r.read_to_end(&mut s);
            String::from_utf8_lossy(&s).into_owned()
        })
    };
    let out = drain(Box::new(child.stdout.take().unwrap()));
    let err = drain(Box::new(child.stderr.take().unwrap()));
    let deadline = Instant::now() + DEADLINE;
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "smarthost {args:?} still running after {DEADLINE:?}; stderr:\n{}",
                err.join().unwrap()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Output {
        code: status.code(),
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
    }
}

fn tempdir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("smarthost-cli-")
        .tempdir()
        .unwrap()
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn manifest_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The 1-based line of `text` that contains `needle`.
fn line_of(text: &str, needle: &str) -> usize {
    text.lines().position(|l| l.contains(needle)).unwrap() + 1
}

const BAD_PORT: &str = "\
[server]
listen = [\"127.0.0.1:0\"]

[[upstream]]
name = \"office365\"
host = \"smtp.example.com\"
port = \"587 AUTH:LOGIN TURBO\"
username = \"payroll@example.com\"
password_env = \"SMARTHOST_TEST_PASSWORD\"
";

#[test]
fn check_config_accepts_the_reference_configuration() {
    let conf = manifest_dir().join("conf/smarthost.toml");
    let out = smarthost(
        &["check-config", "--config", conf.to_str().unwrap()],
        manifest_dir(),
    );
    assert_eq!(out.code, Some(0), "stderr:\n{}", out.stderr);
    assert_eq!(out.stdout.trim(), "configuration OK");
}

#[test]
fn check_config_without_config_accepts_the_embedded_default() {
    let dir = tempdir();
    let out = smarthost(&["check-config"], dir.path());
    assert_eq!(out.code, Some(0), "stderr:\n{}", out.stderr);
    assert_eq!(out.stdout.trim(), "configuration OK");
}

#[test]
fn check_config_names_file_line_and_key_of_a_bad_port_string() {
    let dir = tempdir();
    let path = write(dir.path(), "bad.toml", BAD_PORT);
    let out = smarthost(
        &["check-config", "--config", path.to_str().unwrap()],
        dir.path(),
    );
    assert_eq!(out.code, Some(1), "stdout:\n{}", out.stdout);
    assert!(!out.stdout.contains("configuration OK"));
    let line = line_of(BAD_PORT, "TURBO");
    let located = format!("{}:{line}: key `upstream.port`", path.display());
    assert!(
        out.stderr
            .lines()
            .any(|l| l.starts_with(&located) && l.contains("TURBO")),
        "expected a line starting with {located:?} and naming TURBO; stderr:\n{}",
        out.stderr
    );
}

/// The help promises "every error with file, line and key": a bad port string in an upstream
/// and an unknown key in [server] must both be reported by one run.
#[test]
fn check_config_reports_every_error_not_only_the_first() {
    let dir = tempdir();
    let text = BAD_PORT.replace(
        "listen = [\"127.0.0.1:0\"]\n",
        "listen = [\"127.0.0.1:0\"]\nmax_mesage_size = \"10MB\"\n",
    );
    let path = write(dir.path(), "two-errors.toml", &text);
    let out = smarthost(
        &["check-config", "--config", path.to_str().unwrap()],
        dir.path(),
    );
    assert_eq!(out.code, Some(1), "stdout:\n{}", out.stdout);
    let port = format!(
        "{}:{}: key `upstream.port`",
        path.display(),
        line_of(&text, "TURBO")
    );
    let unknown = format!(
        "{}:{}: key `server.max_mesage_size`",
        path.display(),
        line_of(&text, "max_mesage_size")
    );
    for expected in [&port, &unknown] {
        assert!(
            out.stderr.lines().any(|l| l.starts_with(expected.as_str())),
            "expected a line starting with {expected:?}; stderr:\n{}",
            out.stderr
        );
    }
    assert!(out.stderr.contains("TURBO"), "stderr:\n{}", out.stderr);
}

#[test]
fn check_config_on_a_missing_file_fails_naming_the_path() {
    let dir = tempdir();
    let path = dir.path().join("no-such.toml");
    let out = smarthost(
        &["check-config", "--config", path.to_str().unwrap()],
        dir.path(),
    );
    assert_eq!(out.code, Some(1), "stdout:\n{}", out.stdout);
    assert!(
        out.stderr.contains(path.to_str().unwrap()),
        "stderr does not name {}:\n{}",
        path.display(),
        out.stderr
    );
}

#[test]
fn version_prints_the_package_version() {
    let dir = tempdir();
    let out = smarthost(&["--version"], dir.path());
    assert_eq!(out.code, Some(0), "stderr:\n{}", out.stderr);
    assert_eq!(
        out.stdout.trim(),
        format!("smarthost {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn run_with_a_missing_tls_certificate_fails_naming_the_file() {
    let dir = tempdir();
    let cert = dir.path().join("missing-server.crt");
    let key = dir.path().join("missing-server.key");
    let path = write(
        dir.path(),
        "tls.toml",
        &format!(
            "[server]\nlisten = [\"127.0.0.1:0\"]\ntls_cert = \"{}\"\ntls_key = \"{}\"\n\n\
             [spool]\ndir = \"{}\"\n\n\
             [[upstream]]\nname = \"outbox\"\nkind = \"file\"\ndir = \"{}\"\n",
            cert.display(),
            key.display(),
            dir.path().join("spool").display(),
            dir.path().join("outbox").display()
        ),
    );
    let out = smarthost(&["run", "--config", path.to_str().unwrap()], dir.path());
    assert_ne!(out.code, Some(0), "stderr:\n{}", out.stderr);
    assert!(
        out.code.is_some(),
        "killed by a signal instead of exiting; stderr:\n{}",
        out.stderr
    );
    assert!(
        out.stderr.contains(cert.to_str().unwrap()),
        "stderr does not name {}:\n{}",
        cert.display(),
        out.stderr
    );
    assert!(!out.stderr.contains("panicked"), "stderr:\n{}", out.stderr);
}

/// `smarthost run` on a file-upstream config in `dir` (with `extra` TOML sections), started and
/// read until it logs `listening on`. Returns the child, the rest of its stderr, and the lines
/// seen so far.
fn start_relay(
    dir: &Path,
    extra: &str,
) -> (
    std::process::Child,
    std::io::Lines<std::io::BufReader<std::process::ChildStderr>>,
    String,
) {
    use std::io::BufRead;
    let conf = write(
        dir,
        "smarthost.toml",
        &format!(
            "[server]\nlisten = [\"127.0.0.1:0\"]\n\n[spool]\ndir = \"{d}/spool\"\n\n{extra}\n\
             [[upstream]]\nname = \"outbox\"\nkind = \"file\"\ndir = \"{d}/outbox\"\n",
            d = dir.display()
        ),
    );
    let mut child = Command::new(env!("CARGO_BIN_EXE_smarthost"))
        .args(["run", "--config"])
        .arg(&conf)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stderr.take().unwrap()).lines();
    let mut seen = String::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        seen.push_str(&line);
        seen.push('\n');
        if line.contains("listening on") {
            break;
        }
    }
    (child, lines, seen)
}

#[test]
fn run_in_test_mode_says_so_in_the_startup_banner() {
    let dir = tempdir();
    let (mut child, _, seen) = start_relay(
        dir.path(),
        "[test_mode]\nenabled = true\nredirect_to = \"tester@example.test\"\n",
    );
    let _ = child.kill();
    let _ = child.wait();
    assert!(seen.contains("TEST MODE ON"), "{seen}");
}

#[test]
fn sigterm_stops_the_relay_cleanly_with_exit_code_0() {
    let dir = tempdir();
    let (mut child, lines, _) = start_relay(dir.path(), "");
    // SAFETY: signalling the child we started, by its PID.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    let deadline = Instant::now() + DEADLINE;
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("smarthost did not stop on SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    assert!(status.success(), "exit status {status:?}; stderr: {rest:?}");
    assert!(rest.iter().any(|l| l.contains("shutting down")), "{rest:?}");
}
