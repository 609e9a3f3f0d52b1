//! `[upstream.limits]` (and the port string's `LIMITE:`/`WAIT:`): what the provider allows, with
//! the preset's figures for what the upstream leaves unset. Checked once here; the pacing is
//! `crate::throttle`'s.

use std::time::Duration;

use serde::Deserialize;

use super::error::{KeyProblem, problem};
use super::presets::Preset;
use super::values::{Batch, Count, DurationValue, PortSpec, Rate};

/// `[upstream.limits]`: what the provider allows on one connection and at once.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawLimits {
    /// Concurrent connections to this upstream (Office 365 allows 3 per mailbox).
    pub max_connections: Option<usize>,
    /// Recipients per upstream transaction; more are sent as several transactions.
    pub max_recipients_per_message: Option<usize>,
    /// Token bucket pacing, e.g. "30/min".
    pub rate: Option<Rate>,
    /// Messages per batch, then `batch_wait` (Cresus' LIMITE/WAIT).
    pub batch: Option<u32>,
    pub batch_wait: Option<DurationValue>,
    /// Quotas over rolling windows (PC CADDIE's "Pro Stunde / Pro Tag / Pro Woche").
    pub per_hour: Option<u32>,
    pub per_day: Option<u32>,
    pub per_week: Option<u32>,
    /// What the quotas count: messages (the default) or recipients.
    pub count: Option<Count>,
}

/// Quotas over rolling windows, all counting the same thing.
#[derive(Debug, Clone, PartialEq)]
pub struct Quota {
    pub count: Count,
    pub windows: Vec<QuotaWindow>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QuotaWindow {
    /// The config key: `per_hour`, `per_day` or `per_week`.
    pub name: &'static str,
    pub span: Duration,
    pub limit: u32,
}

/// Connections per upstream when `[upstream.limits] max_connections` is not set.
pub const DEFAULT_MAX_CONNECTIONS: usize = 10;

/// The limits of one upstream, resolved and checked: what the throttle paces by.
#[derive(Debug, Clone, PartialEq)]
pub struct ProviderLimits {
    pub max_connections: usize,
    pub max_recipients_per_message: Option<usize>,
    pub rate: Option<Rate>,
    pub batch: Option<Batch>,
    pub quota: Option<Quota>,
}

/// `raw` over the preset's figures, with the port string's batch.
pub(crate) fn resolve(
    raw: Option<RawLimits>,
    preset: Option<&Preset>,
    spec: &PortSpec,
) -> Result<ProviderLimits, KeyProblem> {
    let lim = with_preset(raw.unwrap_or_default(), preset);
    let batch = batch(spec, &lim)?;
    if lim.max_connections == Some(0) {
        return Err(problem(
            "max_connections",
            "max_connections must be at least 1",
        ));
    }
    if lim.max_recipients_per_message == Some(0) {
        return Err(problem(
            "max_recipients_per_message",
            "max_recipients_per_message must be at least 1",
        ));
    }
    let quota = quota(&lim)?;
    Ok(ProviderLimits {
        max_connections: lim.max_connections.unwrap_or(DEFAULT_MAX_CONNECTIONS),
        max_recipients_per_message: lim.max_recipients_per_message,
        rate: lim.rate,
        batch,
        quota,
    })
}

/// Batches come from the port string (LIMITE:/WAIT:) or from [upstream.limits]; not both.
fn batch(spec: &PortSpec, lim: &RawLimits) -> Result<Option<Batch>, KeyProblem> {
    let (size, wait) = match (spec.batch_size, lim.batch) {
        (Some(_), Some(_)) => {
            return Err(problem(
                "batch",
                "batch is set both in [upstream.limits] and as LIMITE: in the port string",
            ));
        }
        (Some(n), None) => (Some(n), spec.batch_wait),
        (None, n) => (n, lim.batch_wait.map(|d| d.0).or(spec.batch_wait)),
    };
    Ok(match (size, wait) {
        (Some(0), _) => return Err(problem("batch", "a batch holds at least 1 message")),
        (Some(size), wait) => Some(Batch {
            size,
            wait: wait.unwrap_or(Duration::ZERO),
        }),
        (None, Some(_)) => {
            return Err(problem(
                "batch_wait",
                "a batch pause (WAIT: or batch_wait) needs a batch size (LIMITE: or batch)",
            ));
        }
        (None, None) => None,
    })
}

/// Limits the upstream leaves unset come from its preset.
fn with_preset(mut l: RawLimits, preset: Option<&Preset>) -> RawLimits {
    let Some(p) = preset.map(|p| p.limits) else {
        return l;
    };
    l.rate = l.rate.or(p.rate);
    l.max_connections = l.max_connections.or(p.max_connections);
    l.max_recipients_per_message = l
        .max_recipients_per_message
        .or(p.max_recipients_per_message);
    // A quota set by hand replaces the preset's windows, so per_hour = 100 alone does not
    // silently keep the preset's per_day on top of it.
    if l.per_hour.is_none() && l.per_day.is_none() && l.per_week.is_none() {
        l.per_hour = p.per_hour;
        l.per_day = p.per_day;
        l.per_week = p.per_week;
    }
    l.count = l.count.or(p.count);
    l
}

fn quota(l: &RawLimits) -> Result<Option<Quota>, KeyProblem> {
    let hour = Duration::from_secs(3600);
    let mut windows = Vec::new();
    for (name, limit, span) in [
        ("per_hour", l.per_hour, hour),
        ("per_day", l.per_day, hour * 24),
        ("per_week", l.per_week, hour * 24 * 7),
    ] {
        match limit {
            Some(0) => {
                return Err(problem(
                    name,
                    format!("{name} must be at least 1 (leave it out for no limit)"),
                ));
            }
            Some(limit) => windows.push(QuotaWindow { name, span, limit }),
            None => {}
        }
    }
    if windows.is_empty() {
        if l.count.is_some() {
            return Err(problem(
                "count",
                "count needs a quota to apply to (per_hour, per_day or per_week)",
            ));
        }
        return Ok(None);
    }
    Ok(Some(Quota {
        count: l.count.unwrap_or_default(),
        windows,
    }))
}
