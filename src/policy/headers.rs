//! Editing the header block of a raw message without re-encoding it: find a field (folded lines
//! included), replace it, remove it, or add one. Every byte outside the edited fields stays as
//! it was, so MIME structure, encodings and signatures of untouched headers survive.

/// One header field as it appears in the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    /// Name as written (case preserved).
    pub name: String,
    /// Raw value after the colon, unfolded (CRLF + WSP become a single space), trimmed.
    pub value: String,
    /// Byte range of the whole field, folding lines and final CRLF included.
    pub span: std::ops::Range<usize>,
}

/// End of the header block: the offset just past the empty line, or the length when the message
/// has no body separator.
pub fn header_end(msg: &[u8]) -> usize {
    if msg.starts_with(b"\r\n") {
        return 2;
    }
    if msg.starts_with(b"\n") {
        return 1;
    }
    // The first line feed followed by an empty line (CRLF or bare LF) ends the header block.
    for nl in memchr::memchr_iter(b'\n', msg) {
        match &msg[nl + 1..] {
            [b'\r', b'\n', ..] => return nl + 3,
            [b'\n', ..] => return nl + 2,
            _ => {}
        }
    }
    msg.len()
}

/// The position of the empty line that ends the header block (where new fields are inserted).
fn insert_at(msg: &[u8]) -> usize {
    let end = header_end(msg);
    if end == msg.len() && !msg.ends_with(b"\n\n") && !msg.ends_with(b"\r\n\r\n") {
        return end;
    }
    if msg[..end].ends_with(b"\r\n\r\n") || end == 2 && msg.starts_with(b"\r\n") {
        end - 2
    } else {
        end - 1
    }
}

pub fn fields(msg: &[u8]) -> Vec<Field> {
    let end = insert_at(msg);
    let block = &msg[..end];
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < block.len() {
        let start = pos;
        // A field runs until a line that does not start with white space.
        loop {
            let nl = block[pos..]
                .iter()
                .position(|b| *b == b'\n')
                .map(|i| pos + i + 1)
                .unwrap_or(block.len());
            pos = nl;
            if pos >= block.len() || !matches!(block[pos], b' ' | b'\t') {
                break;
            }
        }
        let raw = String::from_utf8_lossy(&block[start..pos]);
        if let Some((name, value)) = raw.split_once(':') {
            let value = value.replace("\r\n", "").replace('\n', "");
            out.push(Field {
                name: name.trim().to_string(),
                value: value.trim().to_string(),
                span: start..pos,
            });
        }
    }
    out
}

pub fn get<'a>(fields: &'a [Field], name: &str) -> Option<&'a Field> {
    fields.iter().find(|f| f.name.eq_ignore_ascii_case(name))
}

/// Uses the message's own line ending for new fields.
fn eol(msg: &[u8]) -> &'static str {
    let end = header_end(msg);
    if msg[..end].windows(2).any(|w| w == b"\r\n") || end == msg.len() {
        "\r\n"
    } else {
        "\n"
    }
}

/// Edits applied in one pass; offsets refer to the original message.
#[derive(Debug, Default)]
pub struct Edits {
    remove: Vec<String>,
    set: Vec<(String, String)>,
    add: Vec<(String, String)>,
}

impl Edits {
    /// Removes every field called `name`.
    pub fn remove(&mut self, name: &str) -> &mut Self {
        self.remove.push(name.to_string());
        self
    }
    /// Replaces the first field called `name` in place (or adds it), removing any others.
    pub fn set(&mut self, name: &str, value: impl Into<String>) -> &mut Self {
        self.set.push((name.to_string(), value.into()));
        self
    }
    /// Adds a field at the end of the header block.
    pub fn add(&mut self, name: &str, value: impl Into<String>) -> &mut Self {
        self.add.push((name.to_string(), value.into()));
        self
    }

    pub fn is_empty(&self) -> bool {
        self.remove.is_empty() && self.set.is_empty() && self.add.is_empty()
    }

    pub fn apply(&self, msg: &[u8]) -> Vec<u8> {
        if self.is_empty() {
            return msg.to_vec();
        }
        let (mut out, at) = self.head(msg);
        out.extend_from_slice(&msg[at..]);
        out
    }

    /// [`Edits::apply`] without copying the body: only the header block is rebuilt, in place.
    /// A 30 MB message is not duplicated for a changed `From:`.
    pub fn apply_owned(&self, mut msg: Vec<u8>) -> Vec<u8> {
        if self.is_empty() {
            return msg;
        }
        let (head, at) = self.head(&msg);
        msg.splice(..at, head);
        msg
    }

    /// The edited header block, and where the unchanged rest of `msg` starts.
    fn head(&self, msg: &[u8]) -> (Vec<u8>, usize) {
        let eol = eol(msg);
        let fs = fields(msg);
        let mut out = Vec::with_capacity(insert_at(msg) + 256);
        let mut pos = 0;
        let mut done_set: Vec<bool> = vec![false; self.set.len()];
        for f in &fs {
            out.extend_from_slice(&msg[pos..f.span.start]);
            pos = f.span.end;
            if let Some(i) = self
                .set
                .iter()
                .position(|(n, _)| n.eq_ignore_ascii_case(&f.name))
            {
                if !done_set[i] {
                    done_set[i] = true;
                    out.extend_from_slice(
                        format!("{}: {}{eol}", self.set[i].0, self.set[i].1).as_bytes(),
                    );
                }
                continue;
            }
            if self.remove.iter().any(|n| n.eq_ignore_ascii_case(&f.name)) {
                continue;
            }
            out.extend_from_slice(&msg[f.span.clone()]);
        }
        let at = insert_at(msg);
        out.extend_from_slice(&msg[pos..at]);
        for (i, (n, v)) in self.set.iter().enumerate() {
            if !done_set[i] {
                out.extend_from_slice(format!("{n}: {v}{eol}").as_bytes());
            }
        }
        for (n, v) in &self.add {
            out.extend_from_slice(format!("{n}: {v}{eol}").as_bytes());
        }
        (out, at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSG: &[u8] = b"Received: from a\r\n\tby b; date\r\nFrom: Ann <ann@x.test>\r\nSubject: =?UTF-8?Q?Gr=C3=BC=C3=9Fe?=\r\nTo: bob@y.test\r\n\r\nbody\r\n.line\r\n";

    #[test]
    fn fields_are_found_with_their_folded_lines() {
        let f = fields(MSG);
        assert_eq!(f.len(), 4);
        assert_eq!(f[0].value, "from a\tby b; date");
        assert_eq!(
            &MSG[f[0].span.clone()],
            b"Received: from a\r\n\tby b; date\r\n"
        );
        assert_eq!(
            get(&f, "subject").unwrap().value,
            "=?UTF-8?Q?Gr=C3=BC=C3=9Fe?="
        );
    }

    #[test]
    fn untouched_fields_and_the_body_stay_byte_identical() {
        let mut e = Edits::default();
        e.set("From", "Payroll <pay@x.test>")
            .remove("To")
            .add("Reply-To", "Ann <ann@x.test>");
        let out = e.apply(MSG);
        assert_eq!(
            out,
            b"Received: from a\r\n\tby b; date\r\nFrom: Payroll <pay@x.test>\r\nSubject: =?UTF-8?Q?Gr=C3=BC=C3=9Fe?=\r\nReply-To: Ann <ann@x.test>\r\n\r\nbody\r\n.line\r\n"
        );
    }

    #[test]
    fn set_adds_a_missing_field() {
        let mut e = Edits::default();
        e.set("Importance", "high");
        let out = e.apply(b"Subject: x\r\n\r\nb\r\n");
        assert_eq!(out, b"Subject: x\r\nImportance: high\r\n\r\nb\r\n");
    }

    #[test]
    fn lf_only_messages_get_lf_fields() {
        let mut e = Edits::default();
        e.add("X-A", "1");
        assert_eq!(e.apply(b"Subject: x\n\nb\n"), b"Subject: x\nX-A: 1\n\nb\n");
    }

    #[test]
    fn header_only_message_gets_fields_appended() {
        let mut e = Edits::default();
        e.add("X-A", "1");
        assert_eq!(e.apply(b"Subject: x\r\n"), b"Subject: x\r\nX-A: 1\r\n");
    }
}
