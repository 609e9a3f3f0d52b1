//! The journal the console shows: the last mail-log events (a ring of the newest few
//! thousand), fed by a tracing layer on the `maillog` target, and the hourly counts of the last
//! 24 hours behind the overview's chart. Values are kept as the log wrote them (already escaped
//! of control characters); pages escape them again for HTML.

use std::collections::VecDeque;
use std::sync::{LazyLock, Mutex};

use tokio::sync::broadcast;
use tracing::field::{Field, Visit};
use tracing_subscriber::layer::Context;

const KEEP: usize = 5000;

/// One mail-log line.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Event {
    /// Unix ms.
    pub at: i64,
    pub event: String,
    pub fields: Vec<(String, String)>,
}

impl Event {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Whether any field holds `needle` (case-insensitive): a queue id, an address, an event.
    pub fn mentions(&self, needle: &str) -> bool {
        let n = needle.to_lowercase();
        self.event.to_lowercase().contains(&n)
            || self
                .fields
                .iter()
                .any(|(_, v)| v.to_lowercase().contains(&n))
    }
}

/// Outcomes per hour, as the chart draws them.
pub const CHARTED: [&str; 4] = ["delivered", "deferred", "bounced", "rejected"];

pub struct Journal {
    events: Mutex<VecDeque<Event>>,
    /// (hour since the epoch, counts in `CHARTED` order), oldest first, 24 at most.
    hours: Mutex<VecDeque<(i64, [u64; 4])>>,
    live: broadcast::Sender<Event>,
}

pub static JOURNAL: LazyLock<Journal> = LazyLock::new(|| Journal {
    events: Mutex::new(VecDeque::new()),
    hours: Mutex::new(VecDeque::new()),
    live: broadcast::channel(256).0,
});

impl Journal {
    pub fn push(&self, e: Event) {
        if let Some(i) = CHARTED.iter().position(|c| *c == e.event) {
            self.count(e.at, i);
        }
        let _ = self.live.send(e.clone());
        let mut events = lock(&self.events);
        if events.len() == KEEP {
            events.pop_front();
        }
        events.push_back(e);
    }

    fn count(&self, at: i64, which: usize) {
        let hour = at / 3_600_000;
        let mut hours = lock(&self.hours);
        match hours.back_mut() {
            Some((h, counts)) if *h == hour => counts[which] += 1,
            _ => {
                let mut counts = [0; 4];
                counts[which] = 1;
                hours.push_back((hour, counts));
            }
        }
        while hours.len() > 24 {
            hours.pop_front();
        }
    }

    /// The newest `limit` events matching `filter` (every one when empty), newest last.
    pub fn recent(&self, filter: &str, limit: usize) -> Vec<Event> {
        let events = lock(&self.events);
        let mut out: Vec<Event> = events
            .iter()
            .rev()
            .filter(|e| filter.is_empty() || e.mentions(filter))
            .take(limit)
            .cloned()
            .collect();
        out.reverse();
        out
    }

    /// The last 24 hours ending with the current one: (hour, counts), zeros where nothing
    /// happened.
    pub fn last_day(&self, now_ms: i64) -> Vec<(i64, [u64; 4])> {
        let now = now_ms / 3_600_000;
        let hours = lock(&self.hours);
        (now - 23..=now)
            .map(|h| {
                let counts = hours
                    .iter()
                    .find(|(x, _)| *x == h)
                    .map(|(_, c)| *c)
                    .unwrap_or([0; 4]);
                (h, counts)
            })
            .collect()
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.live.subscribe()
    }
}

/// The tracing layer that copies every `maillog` event into [`JOURNAL`].
pub struct Layer;

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Layer {
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        if event.metadata().target() != "maillog" {
            return;
        }
        let mut v = Fields::default();
        event.record(&mut v);
        let name =
            v.0.iter()
                .position(|(k, _)| k == "event")
                .map(|i| v.0.remove(i).1)
                .unwrap_or_default();
        JOURNAL.push(Event {
            at: crate::spool::now_ms(),
            event: name,
            fields: v.0,
        });
    }
}

#[derive(Default)]
struct Fields(Vec<(String, String)>);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let text = format!("{value:?}");
        let text = crate::maillog::escape_controls(&text).into_owned();
        self.0.push((field.name().to_string(), text));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        let text = crate::maillog::escape_controls(value).into_owned();
        self.0.push((field.name().to_string(), text));
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_counted_per_hour_for_the_chart() {
        let j = Journal {
            events: Mutex::new(VecDeque::new()),
            hours: Mutex::new(VecDeque::new()),
            live: broadcast::channel(4).0,
        };
        let at = 100 * 3_600_000 + 5;
        for event in ["delivered", "delivered", "rejected", "queued"] {
            j.push(Event {
                at,
                event: event.into(),
                fields: vec![("queue_id".into(), "Q1".into())],
            });
        }
        let day = j.last_day(at);
        assert_eq!(day.len(), 24);
        assert_eq!(day[23], (100, [2, 0, 0, 1]));
        assert_eq!(j.recent("q1", 10).len(), 4);
        assert!(j.recent("nothing-like-it", 10).is_empty());
    }
}
