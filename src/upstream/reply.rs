//! One reply from an upstream server, as the client reads it: the value every other part of
//! the SMTP client (errors, the trace, the diagnosis) talks about. Imports nothing.

/// One reply from the upstream, kept exactly as sent (lines joined by `\n`, without CRLF) so it
/// can be quoted in logs and bounces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpReply {
    pub code: u16,
    pub text: String,
}

impl UpReply {
    pub fn is_positive(&self) -> bool {
        (200..400).contains(&self.code)
    }
    pub fn is_permanent(&self) -> bool {
        self.code >= 500
    }
    /// The text after the code on each line, joined: what a SASL challenge carries.
    pub fn payload(&self) -> String {
        self.text
            .lines()
            .map(|l| l.get(4..).unwrap_or(""))
            .collect::<Vec<_>>()
            .join("")
    }
}

impl std::fmt::Display for UpReply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text.replace('\n', " / "))
    }
}
