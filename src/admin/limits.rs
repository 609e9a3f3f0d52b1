//! `smarthost limits show|reset [UPSTREAM]`: quota use per upstream and window, provider pauses,
//! mail waiting for them, and the manual reset (PC CADDIE's "Réinitialisation manuelle de la
//! limite"). Reads and writes the spool beside a running relay, which reloads its counters
//! within a second of a reset.

use std::fmt::Write;

use crate::config::{Config, ProviderLimits};
use crate::spool::{Admin, LIMITS_KEPT_MS, now_ms};
use crate::throttle::local;
use crate::throttle::quota::Usage;

use super::{AdminError, NOT_RUNNING};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LimitsCommand {
    Show(Option<String>),
    Reset(Option<String>),
}

pub fn limits(config: &Config, cmd: &LimitsCommand) -> Result<String, AdminError> {
    let (LimitsCommand::Show(name) | LimitsCommand::Reset(name)) = cmd;
    let limited = config.limited_upstreams(name.as_deref()).map_err(|known| {
        AdminError::NoUpstream(name.clone().unwrap_or_else(|| "(any)".into()), known)
    })?;
    let mut admin = Admin::open(&config.spool.dir)?;
    let mut out = String::new();
    match cmd {
        LimitsCommand::Show(_) => {
            for (name, s, preset) in limited {
                show(&admin, name, &s, preset, &mut out)?;
            }
        }
        LimitsCommand::Reset(name) => {
            let released = admin.reset_limits(name.as_deref())?;
            let which = name.as_deref().unwrap_or("every upstream");
            let _ = writeln!(
                out,
                "limits of {which} reset; {released} held message(s) released to go out now"
            );
        }
    }
    if !admin.relay_running() {
        out.push_str(NOT_RUNNING);
    }
    Ok(out)
}

fn show(
    admin: &Admin,
    name: &str,
    s: &ProviderLimits,
    preset: Option<&str>,
    out: &mut String,
) -> Result<(), AdminError> {
    let now = now_ms();
    let state = admin.limit_state(name, now - LIMITS_KEPT_MS, now)?;
    let preset = preset.map(|p| format!(" (preset {p})")).unwrap_or_default();
    let _ = writeln!(out, "{name}{preset}");
    let mut pacing = vec![format!("at most {} connection(s)", s.max_connections)];
    if let Some(r) = s.rate {
        pacing.push(format!("rate {} per {}s", r.count, r.per.as_secs()));
    }
    if let Some(b) = s.batch {
        pacing.push(format!(
            "batches of {} then a {}s pause",
            b.size,
            b.wait.as_secs_f64()
        ));
    }
    if let Some(n) = s.max_recipients_per_message {
        pacing.push(format!("{n} recipients per transaction"));
    }
    let _ = writeln!(out, "  {}", pacing.join(", "));
    match &s.quota {
        None => {
            let _ = writeln!(out, "  no quota");
        }
        Some(q) => {
            let mut usage = Usage::new(q.clone());
            usage.load(state.usage);
            for w in usage.windows(now) {
                let left = u64::from(w.limit).saturating_sub(w.used);
                let _ = write!(
                    out,
                    "  {:<9} {} of {} {} used, {left} left",
                    w.window,
                    w.used,
                    w.limit,
                    usage.count()
                );
                match w.free_at {
                    Some(at) => {
                        let _ = writeln!(out, "; next at {} ({})", local(at), wait(at - now));
                    }
                    None => out.push('\n'),
                }
            }
        }
    }
    if let Some((until, reason)) = &state.pause {
        // The reason quotes an upstream's reply: escaped for the terminal.
        let _ = writeln!(
            out,
            "  paused until {} ({}): {}",
            local(*until),
            wait(until - now),
            crate::maillog::escape_controls(reason)
        );
    }
    if state.waiting > 0 {
        let _ = writeln!(
            out,
            "  {} message(s) waiting for these limits",
            state.waiting
        );
    }
    Ok(())
}

fn wait(ms: i64) -> String {
    let s = (ms.max(0) + 999) / 1000;
    match s {
        s if s < 120 => format!("in {s}s"),
        s if s < 7200 => format!("in {}m", (s + 59) / 60),
        s => format!("in {}h{:02}m", s / 3600, (s % 3600) / 60),
    }
}
