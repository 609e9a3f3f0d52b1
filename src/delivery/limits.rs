//! The provider limits' memory across restarts: quota usage and pauses are written to the
//! spool as they happen and loaded into each upstream's throttle at start and after
//! `smarthost limits reset`. A spool that cannot take them never stops mail: counting is a
//! courtesy to the provider, the queue is not at risk. Names no other part of delivery but the pacer it fills.

use super::pacer::Pacer;
use crate::spool::{LIMITS_KEPT_MS, LimitOp, Spool, now_ms};
use crate::throttle;

#[derive(Clone)]
pub struct LimitBook {
    spool: Spool,
}

impl LimitBook {
    pub fn new(spool: Spool) -> LimitBook {
        LimitBook { spool }
    }

    /// `units` of `upstream`'s quota were spent now.
    pub async fn spent(&self, upstream: &str, units: u32) {
        self.write(LimitOp::Usage {
            upstream: upstream.to_string(),
            at: now_ms(),
            units,
        })
        .await;
    }

    /// The provider asked `upstream` to rest.
    pub async fn paused(&self, upstream: &str, pause: Option<throttle::Pause>) {
        if let Some(p) = pause {
            tracing::warn!(%upstream, "{}; mail waits in the queue", p.reason);
            self.write(LimitOp::Pause {
                upstream: upstream.to_string(),
                until: p.until,
                reason: p.reason,
            })
            .await;
        }
    }

    async fn write(&self, op: LimitOp) {
        if let Err(e) = self.spool.limit(op).await {
            tracing::error!("cannot record limit usage: {e}");
        }
    }

    /// Loads `upstream`'s usage and pause from the spool into its pacer.
    pub async fn load(&self, upstream: &str, pacer: &Pacer) {
        let now = now_ms();
        match self
            .spool
            .limit_state(upstream, now - LIMITS_KEPT_MS, now)
            .await
        {
            Ok(state) => pacer.load(
                state.usage,
                state
                    .pause
                    .map(|(until, reason)| throttle::Pause { until, reason }),
            ),
            Err(e) => tracing::error!(%upstream, "cannot read limit usage: {e}"),
        }
    }

    /// Old usage rows are forgotten at start.
    pub async fn prune(&self) {
        if let Err(e) = self.spool.prune_limits().await {
            tracing::error!("cannot prune old limit usage: {e}");
        }
    }

    /// The mark `smarthost limits reset` leaves in the spool.
    pub async fn reset_mark(&self) -> Option<i64> {
        match self.spool.limit_reset_mark().await {
            Ok(mark) => Some(mark),
            Err(e) => {
                tracing::error!("cannot read the spool: {e}");
                None
            }
        }
    }
}
