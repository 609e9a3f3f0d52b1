//! Replies in which a provider says "slow down" rather than "no": Office 365's concurrency and
//! submission-quota replies, Gmail's daily quota, `421 4.7.x` throttling. Such a reply never
//! fails a recipient, even when its code is 5xx; the upstream backs off and the mail waits.
//! Pure text classification.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// Too many connections at once (`432 4.3.2`): use fewer.
    Concurrency,
    /// The account's sending quota is used up (`554 5.2.0 ...SubmissionQuotaExceeded`,
    /// `550 5.4.5 Daily user sending quota exceeded`): pause until the window frees.
    QuotaExceeded,
    /// Throttling or a temporary block (`421 4.7.0 Try again later`, Exchange's
    /// `5.2.251`-`5.2.255 Sender throttled`): pause a while.
    Throttled,
    /// The provider said how long to rest (an HTTP `Retry-After`): pause exactly that long.
    RestFor(std::time::Duration),
}

/// Reads a reply such as `554 5.2.0 STOREDRV.Submission.Exception:SubmissionQuotaExceeded...`.
pub fn classify(reply: &str) -> Option<Signal> {
    let reply = reply.trim_start();
    let code = reply.get(..3).and_then(|c| c.parse::<u16>().ok())?;
    let rest = reply.get(4..).unwrap_or("");
    let status = rest
        .split_whitespace()
        .next()
        .filter(|s| s.split('.').count() == 3 && s.split('.').all(|p| p.parse::<u16>().is_ok()))
        .unwrap_or("");
    let text = reply.to_ascii_lowercase();
    if code == 432 || (status == "4.3.2" && text.contains("limit")) {
        return Some(Signal::Concurrency);
    }
    if text.contains("quotaexceeded")
        || status == "5.4.5"
        || text.contains("sending quota exceeded")
        || text.contains("sending limit exceeded")
        || text.contains("smtp relay limit exceeded")
    {
        return Some(Signal::QuotaExceeded);
    }
    if (code == 421 && status.starts_with("4.7."))
        || status == "4.7.28"
        || text.contains("throttled")
        || text.contains("rate limit")
    {
        return Some(Signal::Throttled);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_replies_map_to_their_back_off() {
        let cases = [
            (
                "432 4.3.2 STOREDRV.ClientSubmit; sender thread limit exceeded [Hostname=x]",
                Some(Signal::Concurrency),
            ),
            (
                "432 4.3.2 Concurrent connections limit exceeded. Visit https://aka.ms/concurrent_sending",
                Some(Signal::Concurrency),
            ),
            (
                "554 5.2.0 STOREDRV.Submission.Exception:SubmissionQuotaExceededException; Failed to process message",
                Some(Signal::QuotaExceeded),
            ),
            (
                "550 5.4.5 Daily user sending quota exceeded. x - gsmtp",
                Some(Signal::QuotaExceeded),
            ),
            (
                "550-5.4.5 Daily user sending limit exceeded. / 550 5.4.5 https://support.google.com/a/answer/166852",
                Some(Signal::QuotaExceeded),
            ),
            (
                "421 4.7.0 Try again later, closing connection. (EHLO) x - gsmtp",
                Some(Signal::Throttled),
            ),
            (
                "550 5.2.252 SendAsDenied; Sender throttled due to continuous send as denied errors",
                Some(Signal::Throttled),
            ),
        ];
        for (reply, want) in cases {
            assert_eq!(classify(reply), want, "{reply}");
        }
    }

    #[test]
    fn google_smtp_relay_limits_pause_the_upstream() {
        for reply in [
            "550 5.4.5 Daily SMTP relay limit exceeded for user.",
            "550 5.7.1 Daily SMTP relay limit exceeded for customer.",
            "450 4.2.1 Peak SMTP relay limit exceeded for customer.",
        ] {
            assert_eq!(classify(reply), Some(Signal::QuotaExceeded), "{reply}");
        }
    }

    #[test]
    fn ordinary_refusals_and_delays_are_not_back_off_signals() {
        for reply in [
            "550 5.1.1 harness: recipient rejected",
            "451 4.3.0 harness: temporary failure",
            "421 4.3.2 Service shutting down",
            "554 5.7.1 Relay access denied",
            "535 5.7.8 Authentication credentials invalid",
            "421 4.4.2 timeout",
        ] {
            assert_eq!(classify(reply), None, "{reply}");
        }
    }
}
