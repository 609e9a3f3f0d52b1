//! `[retry]`: when a deferred message is tried again, when it gives up, when the sender is told
//! of the delay. Plain data: the jittered delay itself is computed by `crate::outcome`.

use std::time::Duration;

use serde::Deserialize;

use super::values::DurationValue;

/// When to try again and when to give up.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// Delay before the 2nd, 3rd... attempt; the last step repeats.
    pub schedule: Vec<Duration>,
    /// A recipient still pending this long after acceptance fails (and bounces).
    pub max_age: Duration,
    /// After this long still pending, the sender gets one delay notice; `None`: never.
    pub delay_warning: Option<Duration>,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        let m = |n: u64| Duration::from_secs(60 * n);
        RetryPolicy {
            schedule: vec![m(1), m(5), m(15), m(60), m(240)],
            max_age: Duration::from_secs(5 * 86400),
            delay_warning: Some(Duration::from_secs(4 * 3600)),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRetry {
    #[serde(default = "default_schedule")]
    pub schedule: Vec<DurationValue>,
    #[serde(default = "default_max_age")]
    pub max_age: DurationValue,
    #[serde(default = "default_delay_warning")]
    pub delay_warning: DurationValue,
}

impl Default for RawRetry {
    fn default() -> Self {
        RawRetry {
            schedule: default_schedule(),
            max_age: default_max_age(),
            delay_warning: default_delay_warning(),
        }
    }
}

impl RawRetry {
    /// A zero `delay_warning` turns the notice off.
    pub fn policy(self) -> RetryPolicy {
        RetryPolicy {
            schedule: self.schedule.into_iter().map(|d| d.0).collect(),
            max_age: self.max_age.0,
            delay_warning: Some(self.delay_warning.0).filter(|d| !d.is_zero()),
        }
    }
}

fn default_schedule() -> Vec<DurationValue> {
    RetryPolicy::default()
        .schedule
        .into_iter()
        .map(DurationValue)
        .collect()
}

fn default_max_age() -> DurationValue {
    DurationValue(RetryPolicy::default().max_age)
}

fn default_delay_warning() -> DurationValue {
    DurationValue(RetryPolicy::default().delay_warning.unwrap_or_default())
}
