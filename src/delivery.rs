//! Delivery: from the spool to the upstream and back. Takes each message as it becomes durable
//! (or when its retry time comes), routes it, paces it by the provider's limits, sends it
//! through its upstream's transport and records the outcome. Never accepts mail and never
//! deletes a message itself (the spool does, once every recipient has an end).
//!
//! | file | owns |
//! |---|---|
//! | [`dispatch`] | the loop: scan, the in-flight set, the stale-copy guard; status, drain, close |
//! | `attempt` | one attempt of one message: route, fallback, outcome, notices, record |
//! | `transactions` | one message through one upstream: pool, throttle, split, back-off |
//! | `notices` | bounce, delay warning, "relayed" (RFC 3464), queued before the outcome |
//! | `limits` | quota use and pauses kept in the spool across restarts |
//! | `pacer` | one upstream's pace: its throttle, or the account's limits shared in a cluster |
//! | `target` | one upstream at run time: transport, throttle, pool |
//! | `pool` | idle sessions per upstream, closed after a few seconds |
//! | [`transport`] | the seam every way out implements: SMTP, file (Graph next) |

mod attempt;
pub mod dispatch;
mod limits;
mod notices;
mod pacer;
mod pool;
mod target;
mod transactions;
pub mod transport;

pub use dispatch::{ClusterState, Delivery};
pub use target::UpstreamLimits;
