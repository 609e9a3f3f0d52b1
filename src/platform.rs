//! What `smarthost run` asks of the operating system, Unix and Windows side by side: the
//! process set-up (umask, descriptor limit), the stop and reload requests, and telling the
//! service manager (systemd's `sd_notify`; the Windows service control manager is in
//! `winservice.rs`). Owns no relay logic.

use anyhow::Context;

/// Process-wide set-up before the relay starts.
pub fn prepare_process() {
    #[cfg(unix)]
    {
        // Queued mail and delivered files hold payslips and invoices: nobody else may read them.
        // SAFETY: umask only changes this process's file creation mask.
        unsafe {
            libc::umask(0o077);
        }
        raise_fd_limit();
    }
    // Windows: files take the ACL of their directory (the spool's is set when it is opened),
    // and there is no descriptor limit to raise.
}

/// Many concurrent sessions need many descriptors; the soft limit is often 1024.
#[cfg(unix)]
fn raise_fd_limit() {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct we pass.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

/// Installs the stop handlers now (Unix: SIGTERM and SIGINT; Windows console: Ctrl-C,
/// Ctrl-Break, closing the console, log-off and shut-down); the future completes on the first.
pub fn stop_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate()).context("SIGTERM handler")?;
        let mut int = signal(SignalKind::interrupt()).context("SIGINT handler")?;
        Ok(async move {
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
        })
    }
    #[cfg(windows)]
    {
        use tokio::signal::windows;
        let mut c = windows::ctrl_c().context("Ctrl-C handler")?;
        let mut brk = windows::ctrl_break().context("Ctrl-Break handler")?;
        let mut close = windows::ctrl_close().context("console close handler")?;
        let mut shutdown = windows::ctrl_shutdown().context("shut-down handler")?;
        Ok(async move {
            tokio::select! {
                _ = c.recv() => {}
                _ = brk.recv() => {}
                _ = close.recv() => {}
                _ = shutdown.recv() => {}
            }
        })
    }
}

/// Requests to reload the TLS certificate: SIGHUP on Unix (systemd's `ExecReload`). A Windows
/// console has no such signal: there the service is restarted instead.
pub struct Reload {
    #[cfg(unix)]
    hangup: tokio::signal::unix::Signal,
}

impl Reload {
    pub fn install() -> anyhow::Result<Reload> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(Reload {
                hangup: signal(SignalKind::hangup()).context("SIGHUP handler")?,
            })
        }
        #[cfg(not(unix))]
        {
            Ok(Reload {})
        }
    }

    pub async fn recv(&mut self) {
        #[cfg(unix)]
        {
            self.hangup.recv().await;
        }
        #[cfg(not(unix))]
        {
            std::future::pending::<()>().await
        }
    }
}

/// What the relay tells the service manager.
#[derive(Debug, Clone, Copy)]
pub enum State {
    /// The listeners are bound and the spool is open.
    Ready,
    Reloading,
    Stopping,
}

/// Tells systemd (`Type=notify`; nothing happens without `NOTIFY_SOCKET`).
pub fn notify(state: State) {
    #[cfg(unix)]
    {
        use sd_notify::NotifyState;
        let states: &[NotifyState] = match state {
            State::Ready => &[NotifyState::Ready],
            State::Reloading => &[NotifyState::Reloading],
            State::Stopping => &[NotifyState::Stopping],
        };
        if let Err(e) = sd_notify::notify(false, states) {
            tracing::warn!("sd_notify {state:?}: {e}");
        }
    }
    #[cfg(not(unix))]
    let _ = state;
}

/// Whether standard error goes to the systemd journal (it adds its own timestamps).
pub fn logs_to_journal() -> bool {
    std::env::var_os("JOURNAL_STREAM").is_some_and(|v| !v.is_empty())
}
