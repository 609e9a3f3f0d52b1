//! The Windows service (`smarthost service install|uninstall|start|stop|status`, and the hidden
//! `service run` the service control manager starts): registration with automatic start and
//! restart on failure, the data directory %ProgramData%\smarthost (configuration, spool, log),
//! the stop request from the service control manager, and the Event Log entries for start, stop
//! and fatal errors (the log file has the rest). The relay itself is `serve`.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use windows_service::service::{
    ServiceAccess, ServiceAction, ServiceActionType, ServiceControl, ServiceControlAccept,
    ServiceErrorControl, ServiceExitCode, ServiceFailureActions, ServiceFailureResetPeriod,
    ServiceInfo, ServiceStartType, ServiceState, ServiceStatus, ServiceType,
};
use windows_service::service_control_handler::{self, ServiceControlHandlerResult};
use windows_service::service_manager::{ServiceManager, ServiceManagerAccess};
use windows_service::{define_windows_service, service_dispatcher};

use crate::cli::{LogFormat, ServiceAction as Action};

const NAME: &str = "smarthost";
/// The reference configuration, written on install when there is none (never overwritten).
const REFERENCE_CONFIG: &str = include_str!("../conf/smarthost.toml");
/// The log file is moved to `smarthost.log.1` at start once it is past this size.
const LOG_ROTATE_BYTES: u64 = 10 * 1024 * 1024;

/// %ProgramData%\smarthost: smarthost.toml, spool\, outbox\, smarthost.log.
pub fn data_dir() -> PathBuf {
    let base = std::env::var_os("ProgramData").unwrap_or_else(|| OsString::from(r"C:\ProgramData"));
    PathBuf::from(base).join(NAME)
}

pub fn config_file() -> PathBuf {
    data_dir().join("smarthost.toml")
}

/// Creates the data directory (SYSTEM and Administrators only) and the reference configuration.
fn prepare_data_dir() -> anyhow::Result<()> {
    let dir = data_dir();
    std::fs::create_dir_all(dir.join("spool")).with_context(|| dir.display().to_string())?;
    if let Err(e) = smarthost::fsutil::private_dir(&dir) {
        eprintln!(
            "warning: could not restrict {} to SYSTEM and Administrators: {e}",
            dir.display()
        );
    }
    let config = config_file();
    if !config.exists() {
        std::fs::write(&config, REFERENCE_CONFIG).with_context(|| config.display().to_string())?;
        println!("wrote the reference configuration {}", config.display());
    }
    Ok(())
}

pub fn command(action: Action) -> anyhow::Result<()> {
    let access = match action {
        Action::Install => ServiceManagerAccess::CONNECT | ServiceManagerAccess::CREATE_SERVICE,
        _ => ServiceManagerAccess::CONNECT,
    };
    let manager = ServiceManager::local_computer(None::<&str>, access)
        .context("service control manager (run as Administrator)")?;
    match action {
        Action::Install => {
            prepare_data_dir()?;
            let info = ServiceInfo {
                name: NAME.into(),
                display_name: "smarthost SMTP relay".into(),
                service_type: ServiceType::OWN_PROCESS,
                start_type: ServiceStartType::AutoStart,
                error_control: ServiceErrorControl::Normal,
                executable_path: std::env::current_exe().context("path of smarthost.exe")?,
                launch_arguments: vec!["service".into(), "run".into()],
                dependencies: vec![],
                account_name: None, // LocalSystem
                account_password: None,
            };
            let service = manager
                .create_service(&info, ServiceAccess::CHANGE_CONFIG | ServiceAccess::START)
                .context("creating the service")?;
            service.set_description(
                "Relays mail from local programs (localhost:2525) to the configured provider",
            )?;
            set_recovery(&service)?;
            println!(
                "service {NAME} installed (automatic start); configuration {}",
                config_file().display()
            );
        }
        Action::Uninstall => {
            let service = manager.open_service(
                NAME,
                ServiceAccess::QUERY_STATUS | ServiceAccess::STOP | ServiceAccess::DELETE,
            )?;
            if service.query_status()?.current_state != ServiceState::Stopped {
                let _ = service.stop();
            }
            service.delete()?;
            println!("service {NAME} removed; {} stays", data_dir().display());
        }
        Action::Start => {
            manager
                .open_service(NAME, ServiceAccess::START)?
                .start::<&str>(&[])?;
            println!("service {NAME} starting");
        }
        Action::Stop => {
            manager.open_service(NAME, ServiceAccess::STOP)?.stop()?;
            println!("service {NAME} stopping (sessions and deliveries in flight may finish)");
        }
        Action::Status => {
            let status = manager
                .open_service(NAME, ServiceAccess::QUERY_STATUS)?
                .query_status()?;
            println!("service {NAME}: {:?}", status.current_state);
        }
        Action::Run => unreachable!("handled before logging starts"),
    }
    Ok(())
}

/// Restart 10 s after a failure (also an exit with an error), the count reset after a day.
fn set_recovery(service: &windows_service::service::Service) -> windows_service::Result<()> {
    let restart = ServiceAction {
        action_type: ServiceActionType::Restart,
        delay: Duration::from_secs(10),
    };
    service.update_failure_actions(ServiceFailureActions {
        reset_period: ServiceFailureResetPeriod::After(Duration::from_secs(86_400)),
        reboot_msg: None,
        command: None,
        actions: Some(vec![restart.clone(), restart.clone(), restart]),
    })?;
    service.set_failure_actions_on_non_crash_failures(true)
}

/// One entry in the Application event log, source "smarthost".
fn event_log(error: bool, text: &str) {
    use windows_sys::Win32::System::EventLog::{
        DeregisterEventSource, EVENTLOG_ERROR_TYPE, EVENTLOG_INFORMATION_TYPE,
        RegisterEventSourceW, ReportEventW,
    };
    let wide = |s: &str| -> Vec<u16> { s.encode_utf16().chain(std::iter::once(0)).collect() };
    let (source, text) = (wide(NAME), wide(text));
    // SAFETY: NUL-terminated UTF-16 strings that outlive the calls; the handle is closed here.
    unsafe {
        let handle = RegisterEventSourceW(std::ptr::null(), source.as_ptr());
        if handle.is_null() {
            return;
        }
        let strings = [text.as_ptr()];
        let kind = if error {
            EVENTLOG_ERROR_TYPE
        } else {
            EVENTLOG_INFORMATION_TYPE
        };
        ReportEventW(
            handle,
            kind,
            0,
            if error { 2 } else { 1 },
            std::ptr::null_mut(),
            1,
            0,
            strings.as_ptr(),
            std::ptr::null(),
        );
        DeregisterEventSource(handle);
    }
}

define_windows_service!(ffi_service_main, service_main);

/// `smarthost service run`: hands the process to the service control manager.
pub fn run_service(format: LogFormat) -> ExitCode {
    let dir = data_dir();
    let _ = std::fs::create_dir_all(&dir);
    let log = dir.join("smarthost.log");
    if std::fs::metadata(&log).is_ok_and(|m| m.len() > LOG_ROTATE_BYTES) {
        let _ = std::fs::rename(&log, dir.join("smarthost.log.1"));
    }
    match std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log)
    {
        Ok(file) => crate::init_logs(format, true, std::sync::Mutex::new(file)),
        Err(_) => crate::init_logs(format, true, std::io::sink),
    }
    match service_dispatcher::start(NAME, ffi_service_main) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("not started by the service control manager: {e}");
            ExitCode::FAILURE
        }
    }
}

fn service_main(_arguments: Vec<OsString>) {
    match service_body() {
        Ok(()) => event_log(false, "smarthost stopped"),
        Err(e) => {
            tracing::error!("service stopped: {e:#}");
            event_log(true, &format!("smarthost stopped: {e:#}"));
        }
    }
}

fn status(state: ServiceState, exit: u32) -> ServiceStatus {
    ServiceStatus {
        service_type: ServiceType::OWN_PROCESS,
        current_state: state,
        controls_accepted: if state == ServiceState::Running {
            ServiceControlAccept::STOP | ServiceControlAccept::SHUTDOWN
        } else {
            ServiceControlAccept::empty()
        },
        exit_code: ServiceExitCode::Win32(exit),
        checkpoint: 0,
        // The relay drains for at most SHUTDOWN_GRACE twice (sessions, then deliveries).
        wait_hint: smarthost::SHUTDOWN_GRACE * 2 + Duration::from_secs(5),
        process_id: None,
    }
}

fn service_body() -> anyhow::Result<()> {
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let stop_tx = std::sync::Mutex::new(Some(stop_tx));
    let handle = service_control_handler::register(NAME, move |control| match control {
        ServiceControl::Stop | ServiceControl::Shutdown => {
            if let Some(tx) = stop_tx.lock().ok().and_then(|mut t| t.take()) {
                let _ = tx.send(());
            }
            ServiceControlHandlerResult::NoError
        }
        ServiceControl::Interrogate => ServiceControlHandlerResult::NoError,
        _ => ServiceControlHandlerResult::NotImplemented,
    })?;
    handle.set_service_status(status(ServiceState::StartPending, 0))?;
    // Installed by the MSI (ServiceInstall has no failure actions) or by `service install`:
    // either way the service restarts after a failure.
    if let Ok(manager) = ServiceManager::local_computer(None::<&str>, ServiceManagerAccess::CONNECT)
        && let Ok(me) = manager.open_service(NAME, ServiceAccess::CHANGE_CONFIG)
        && let Err(e) = set_recovery(&me)
    {
        tracing::warn!("could not set the restart-on-failure actions: {e}");
    }
    // Relative paths in the configuration (spool, outbox) are inside the data directory.
    let result = (|| -> anyhow::Result<()> {
        prepare_data_dir()?;
        std::env::set_current_dir(data_dir())?;
        let config = smarthost::config::Config::load_file(&config_file())
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .context("tokio runtime")?;
        runtime.block_on(async {
            let stop = async {
                let _ = stop_rx.await;
                let _ = handle.set_service_status(status(ServiceState::StopPending, 0));
            };
            let ready = || {
                let _ = handle.set_service_status(status(ServiceState::Running, 0));
                tracing::info!("service started with {}", config_file().display());
                event_log(false, "smarthost started");
            };
            crate::serve(config, Some(&config_file()), stop, ready).await
        })
    })();
    let code = if result.is_ok() { 0 } else { 1 };
    handle.set_service_status(status(ServiceState::Stopped, code))?;
    result
}
