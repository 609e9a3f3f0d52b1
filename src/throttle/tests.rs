use std::time::Duration;

use super::*;
use crate::config::{AuthMode, Batch, ConnMode, Count, Quota, QuotaWindow, SmtpUpstream};

const HOUR: i64 = 3_600_000;

fn upstream() -> SmtpUpstream {
    SmtpUpstream {
        host: "127.0.0.1".into(),
        port: 25,
        conn: ConnMode::Plaintext,
        auth: AuthMode::None,
        credentials: None,
        ca_file: None,
        tls: Default::default(),
        helo_name: None,
        timeout: Duration::from_secs(5),
        batch: None,
        default_notify: None,
        max_connections: 3,
        max_recipients_per_message: None,
        rate: None,
        quota: None,
        preset: None,
        egress: crate::config::Egress::Host,
        oauth2: None,
    }
}

fn per_hour(limit: u32, count: Count) -> SmtpUpstream {
    SmtpUpstream {
        quota: Some(Quota {
            count,
            windows: vec![QuotaWindow {
                name: "per_hour",
                span: Duration::from_secs(3600),
                limit,
            }],
        }),
        ..upstream()
    }
}

async fn admit_times(t: &Throttle, n: usize) -> Vec<u128> {
    let start = tokio::time::Instant::now();
    let mut at = Vec::new();
    for _ in 0..n {
        drop(t.admit().await);
        at.push(start.elapsed().as_millis());
    }
    at
}

#[tokio::test(start_paused = true)]
async fn a_batch_of_n_goes_out_then_the_pause_then_the_next_n() {
    let t = batch_of(2, 15_500);
    assert_eq!(admit_times(&t, 5).await, vec![0, 0, 15_500, 15_500, 31_000]);
}

#[tokio::test(start_paused = true)]
async fn limite_12_wait_15_5_sends_the_13th_message_after_the_pause() {
    let t = batch_of(12, 15_500);
    let at = admit_times(&t, 25).await;
    assert!(at[..12].iter().all(|&ms| ms == 0), "{at:?}");
    assert!(at[12..24].iter().all(|&ms| ms == 15_500), "{at:?}");
    assert_eq!(at[24], 31_000);
}

fn batch_of(size: u32, wait_ms: u64) -> Throttle {
    let up = SmtpUpstream {
        batch: Some(Batch {
            size,
            wait: Duration::from_millis(wait_ms),
        }),
        ..upstream()
    };
    Throttle::new(&up.limits())
}

#[tokio::test(start_paused = true)]
async fn the_batch_rest_runs_from_the_end_of_its_last_transaction() {
    let t = batch_of(2, 10_000);
    let start = tokio::time::Instant::now();
    drop(t.admit().await);
    let slow = t.admit().await;
    tokio::spawn(async move {
        // The batch's second DATA takes 4 s at the provider.
        tokio::time::sleep(Duration::from_millis(4_000)).await;
        drop(slow);
    });
    drop(t.admit().await);
    assert_eq!(start.elapsed().as_millis(), 14_000);
}

#[tokio::test(start_paused = true)]
async fn a_quiet_spell_as_long_as_the_rest_starts_a_fresh_batch() {
    let t = batch_of(3, 10_000);
    drop(t.admit().await);
    drop(t.admit().await);
    tokio::time::sleep(Duration::from_millis(60_000)).await;
    assert_eq!(admit_times(&t, 4).await, vec![0, 0, 0, 10_000]);
}

#[tokio::test(start_paused = true)]
async fn a_full_batch_that_rested_long_ago_does_not_rest_again() {
    let t = batch_of(2, 10_000);
    assert_eq!(admit_times(&t, 2).await, vec![0, 0]);
    tokio::time::sleep(Duration::from_millis(60_000)).await;
    assert_eq!(admit_times(&t, 3).await, vec![0, 0, 10_000]);
}

#[test]
fn a_full_quota_holds_mail_until_its_window_frees_and_says_why() {
    let t = Throttle::new(&per_hour(5, Count::Messages).limits());
    for i in 0..5 {
        assert_eq!(t.take(i * 60_000, 1), Ok((1, 1)));
    }
    let hold = t.take(300_000, 1).unwrap_err();
    assert_eq!(
        hold.until, HOUR,
        "the first message leaves the window after an hour"
    );
    assert!(
        hold.reason
            .starts_with("per_hour limit reached (5 of 5 messages); next at "),
        "{}",
        hold.reason
    );
    assert_eq!(t.hold(300_000), Some(hold));
    assert_eq!(t.hold(HOUR), None);
}

#[test]
fn a_recipient_quota_lets_part_of_a_transaction_through() {
    let t = Throttle::new(&per_hour(10, Count::Recipients).limits());
    assert_eq!(t.take(0, 7), Ok((7, 7)));
    assert_eq!(t.take(1, 7), Ok((3, 3)));
    assert!(t.take(2, 1).is_err());
}

#[test]
fn an_upstream_without_quota_never_holds() {
    let t = Throttle::new(&upstream().limits());
    assert_eq!(t.take(0, 1000), Ok((1000, 0)));
    assert_eq!(t.hold(0), None);
}

#[tokio::test]
async fn quota_exceeded_at_the_provider_pauses_until_the_oldest_counted_unit_leaves() {
    let t = Throttle::new(&per_hour(100, Count::Messages).limits());
    t.take(1000, 1).unwrap();
    t.take(2000, 1).unwrap();
    let permit = t.connection().await;
    let reply = "554 5.2.0 STOREDRV.Submission.Exception:SubmissionQuotaExceededException";
    let (hold, pause) = t.back_off(Signal::QuotaExceeded, reply, 3000, permit);
    assert_eq!(hold.until, 1000 + HOUR);
    assert_eq!(pause.as_ref().map(|p| p.until), Some(1000 + HOUR));
    assert!(hold.reason.contains(reply));
    assert_eq!(
        t.hold(3000).map(|h| h.until),
        Some(1000 + HOUR),
        "room left here, but paused"
    );
    assert!(t.take(3000, 1).is_err());
}

#[tokio::test]
async fn quota_exceeded_without_a_quota_here_pauses_an_hour() {
    let t = Throttle::new(&upstream().limits());
    let permit = t.connection().await;
    let (hold, _) = t.back_off(
        Signal::QuotaExceeded,
        "550 5.4.5 Daily user sending quota exceeded",
        0,
        permit,
    );
    assert_eq!(hold.until, QUOTA_PAUSE_DEFAULT.as_millis() as i64);
}

#[tokio::test]
async fn throttling_reply_pauses_the_upstream_for_a_while() {
    let t = Throttle::new(&upstream().limits());
    let permit = t.connection().await;
    let (hold, pause) = t.back_off(Signal::Throttled, "421 4.7.0 Try again later", 0, permit);
    assert_eq!(hold.until, THROTTLED_PAUSE.as_millis() as i64);
    assert!(pause.is_some());
}

#[tokio::test]
async fn a_concurrency_reply_gives_up_one_connection_but_never_the_last() {
    let t = Throttle::new(&upstream().limits());
    assert_eq!(t.connection_limit(), 3);
    for want in [2, 1, 1] {
        let permit = t.connection().await;
        let (hold, pause) = t.back_off(
            Signal::Concurrency,
            "432 4.3.2 Concurrent connections limit exceeded",
            0,
            permit,
        );
        assert_eq!(t.connection_limit(), want);
        assert_eq!(hold.until, CONCURRENCY_RETRY.as_millis() as i64);
        assert!(
            pause.is_none(),
            "no pause: the mail goes on over fewer connections"
        );
    }
    assert_eq!(t.connections.available_permits(), 1);
}

#[tokio::test]
async fn loading_after_a_manual_reset_clears_use_pause_and_lost_connections() {
    let t = Throttle::new(&per_hour(1, Count::Messages).limits());
    t.take(0, 1).unwrap();
    let permit = t.connection().await;
    t.back_off(Signal::Concurrency, "432 4.3.2 limit", 0, permit);
    let permit = t.connection().await;
    t.back_off(Signal::Throttled, "421 4.7.0 later", 0, permit);
    assert!(t.hold(1).is_some());
    t.load(Vec::new(), None);
    assert_eq!(t.hold(1), None);
    assert_eq!(t.connection_limit(), 3);
    assert_eq!(t.connections.available_permits(), 3);
}

#[test]
fn usage_kept_by_the_spool_counts_after_a_restart() {
    let t = Throttle::new(&per_hour(5, Count::Messages).limits());
    t.load(vec![(0, 1), (10, 1), (20, 1), (30, 1), (40, 1)], None);
    assert_eq!(t.take(50, 1).unwrap_err().until, HOUR);
}
