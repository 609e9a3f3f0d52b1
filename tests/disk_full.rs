//! A full spool disk: the client gets `452 4.3.1` instead of `250`, nothing acknowledged is lost,
//! and the relay recovers by itself once space is back. The spool lives on a 4 MiB tmpfs that
//! the test mounts (root is needed, as for the rest of the suite) and lazily unmounts.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{Client, message, queue_id, unique};
use smarthost::Relay;
use smarthost::config::Config;

struct Tmpfs(tempfile::TempDir);

impl Tmpfs {
    fn mount(size: &str) -> Tmpfs {
        let dir = tempfile::tempdir().unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .status()
            .unwrap()
            .success();
        assert!(
            ok,
            "mounting a tmpfs needs root (the test suite runs as root)"
        );
        Tmpfs(dir)
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(self.0.path()).status();
    }
}

#[tokio::test]
async fn a_full_spool_disk_gives_452_and_recovers_when_space_is_back() {
    let fs = Tmpfs::mount("4m");
    let out = tempfile::tempdir().unwrap();
    let text = format!(
        "[server]\nlisten = [\"127.0.0.1:0\"]\n[spool]\ndir = \"{}\"\n\n[[upstream]]\nname = \"out\"\nkind = \"file\"\ndir = \"{}\"\n",
        fs.0.path().join("spool").display(),
        out.path().display()
    );
    let relay = Relay::start(Config::load(&text, Path::new("t.toml")).unwrap())
        .await
        .unwrap();
    let addr = relay.local_addrs[0];
    // Leave about 300 KiB free (whatever the new spool took), then send 100 KiB messages until
    // the disk refuses one.
    let filler = fs.0.path().join("filler");
    let free = available_bytes(fs.0.path());
    std::fs::write(&filler, vec![0u8; free.saturating_sub(300 * 1024)]).unwrap();
    let mut acknowledged = Vec::new();
    let mut refused = None;
    for i in 0..20 {
        let mut body = message(&unique("full"));
        body.extend(std::iter::repeat_n(b'x', 100 * 1024).chain(*b"\r\n"));
        let (mut c, _) = Client::connect(addr).await;
        let r = c
            .send("<a@example.test>", &[&format!("<r{i}@example.net>")], &body)
            .await;
        if r.starts_with("250") {
            acknowledged.push(queue_id(&r));
        } else {
            refused = Some(r);
            break;
        }
    }
    let refused = refused.expect("the full disk must refuse a message");
    assert!(refused.starts_with("452 4.3.1"), "{refused}");

    std::fs::remove_file(&filler).unwrap();
    let (mut c, _) = Client::connect(addr).await;
    let r = c
        .send(
            "<a@example.test>",
            &["<after@example.net>"],
            &message("after"),
        )
        .await;
    assert!(r.starts_with("250"), "after freeing space: {r}");
    acknowledged.push(queue_id(&r));

    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let missing: Vec<&String> = acknowledged
            .iter()
            .filter(|id| !out.path().join(format!("{id}.eml")).exists())
            .collect();
        if missing.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "acknowledged but never delivered: {missing:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    relay.shutdown().await;
}

/// Bytes an unprivileged writer may still use on the file system holding `dir`.
fn available_bytes(dir: &Path) -> usize {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(dir.as_os_str().as_bytes()).unwrap();
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `path` is a NUL-terminated string and `st` a statvfs to fill.
    assert_eq!(unsafe { libc::statvfs(path.as_ptr(), &mut st) }, 0);
    (st.f_bavail as usize) * (st.f_frsize as usize)
}
