//! The server list as the console shows and changes it: what one server looks like to the
//! pages and the API (never its password: a configured one reads "set"), the presets that fill
//! the form, and a typed check of what was typed, field by field, before anything reaches the
//! configuration (`server_edits` writes it). Messages come from the catalog in the caller's
//! language; the configuration's own check (as `check-config` says it) has the last word.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::edits::EditError;
use crate::catalog::{Lang, text};
use crate::config::presets::{self, PRESETS, Preset};
use crate::config::{AuthMode, Config, ConnMode, Secret, Transport};

/// What to do with one key of a server's table.
#[derive(Debug, Clone, PartialEq)]
pub enum Set<T> {
    /// Leave the file as it is.
    Keep,
    /// Remove the key: the preset's value, or the default, applies.
    Clear,
    To(T),
}

/// A server as typed in the form or sent to the API. An absent field is left as it is; an
/// empty one is removed. `password` is write-only, and empty keeps the password already set.
/// No `Debug`: it may hold a password.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ServerInput {
    pub name: Option<String>,
    pub preset: Option<String>,
    pub host: Option<String>,
    /// A number, or the number as text (a form field).
    pub port: Option<Value>,
    pub conn: Option<String>,
    pub auth: Option<String>,
    pub username: Option<String>,
    pub password: Option<String>,
    pub ca_file: Option<String>,
    /// Envelope senders routed to this server: a list, or one text separated by spaces or commas.
    pub senders: Option<Value>,
    pub default: Option<bool>,
}

/// What typed input asks for, each value checked.
pub struct Change {
    pub name: Set<String>,
    pub preset: Set<&'static Preset>,
    pub host: Set<String>,
    pub port: Set<u16>,
    pub conn: Set<ConnMode>,
    pub auth: Set<AuthMode>,
    pub username: Set<String>,
    /// A new password; `None` keeps the one set.
    pub password: Option<String>,
    pub ca_file: Set<String>,
    pub senders: Set<Vec<String>>,
    pub default: Option<bool>,
}

/// A problem with one field of the form (`field` empty: with the server as a whole).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("{}", .0.iter().map(|e| e.message.as_str()).collect::<Vec<_>>().join("; "))]
    Fields(Vec<FieldError>),
    #[error("{0}")]
    NotFound(String),
    /// Refused as a whole (deleting the default server, one that routes still name).
    #[error("{0}")]
    Refused(String),
    #[error("{0}")]
    Edit(#[from] EditError),
}

/// The fields of the form, as the configuration names them.
pub const FIELDS: [&str; 11] = [
    "name", "preset", "host", "port", "conn", "auth", "username", "password", "ca_file", "senders",
    "default",
];

impl ServerError {
    /// One error per field, for the form and for the API: the configuration's own errors
    /// (check-config's words) go to the field their key names.
    pub fn fields(&self) -> Vec<FieldError> {
        match self {
            ServerError::Fields(f) => f.clone(),
            ServerError::Edit(EditError::Config(errors)) => errors
                .0
                .iter()
                .map(|e| FieldError {
                    field: field_of(&e.key).to_string(),
                    message: e.message.clone(),
                })
                .collect(),
            other => vec![FieldError {
                field: String::new(),
                message: other.to_string(),
            }],
        }
    }
}

/// The form field a configuration key belongs to; `""` when none does.
fn field_of(key: &str) -> &'static str {
    let last = key.strip_prefix("upstream.").unwrap_or("");
    match last {
        "password_file" | "password_env" => "password",
        k => FIELDS.iter().find(|f| **f == k).copied().unwrap_or(""),
    }
}

pub fn field(field: &str, message: String) -> ServerError {
    ServerError::Fields(vec![FieldError {
        field: field.to_string(),
        message,
    }])
}

/// A server's name: it names its password file and appears in URLs, so only letters, digits,
/// `.`, `-` and `_`, starting with a letter or digit.
pub fn valid_name(n: &str) -> bool {
    (1..=64).contains(&n.len())
        && n.starts_with(|c: char| c.is_ascii_alphanumeric())
        && n.chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
}

/// A host name (letters, digits, hyphens, dots) or an IP address.
pub fn valid_host(h: &str) -> bool {
    if h.parse::<std::net::IpAddr>().is_ok() {
        return true;
    }
    let h = h.strip_suffix('.').unwrap_or(h);
    (1..=253).contains(&h.len())
        && h.split('.').all(|label| {
            (1..=63).contains(&label.len())
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}

/// An address or a domain a sender may be routed by (`user@domain`, `domain`, `@domain`).
fn valid_sender(s: &str) -> bool {
    let (local, domain) = match s.rsplit_once('@') {
        Some((l, d)) => (l, d),
        None => ("", s),
    };
    !local.contains(|c: char| c.is_whitespace() || c.is_control() || "<>\"'@,;".contains(c))
        && domain.contains('.')
        && valid_host(domain)
}

fn plain_text(s: &str, max: usize) -> bool {
    s.len() <= max && !s.contains(|c: char| c.is_control())
}

impl ServerInput {
    /// Every field checked; all the problems at once, each in `lang` and naming its field.
    pub fn check(self, lang: Lang) -> Result<Change, ServerError> {
        let mut errors = Vec::new();
        let mut bad = |f: &str, id: &str| {
            errors.push(FieldError {
                field: f.to_string(),
                message: text(lang, id, &[]),
            })
        };
        let text_field = |v: Option<String>| match v.map(|s| s.trim().to_string()) {
            None => Set::Keep,
            Some(s) if s.is_empty() => Set::Clear,
            Some(s) => Set::To(s),
        };
        let name = text_field(self.name);
        if matches!(&name, Set::Clear) || matches!(&name, Set::To(n) if !valid_name(n)) {
            bad("name", "console-field-name");
        }
        let preset = parse_preset(text_field(self.preset)).unwrap_or_else(|| {
            bad("preset", "console-field-preset");
            Set::Keep
        });
        let host = text_field(self.host);
        if matches!(&host, Set::To(h) if !valid_host(h)) {
            bad("host", "console-field-host");
        }
        let port = parse_port(self.port).unwrap_or_else(|| {
            bad("port", "console-field-port");
            Set::Keep
        });
        let conn = mode(text_field(self.conn), || bad("conn", "console-field-conn"));
        let auth = mode(text_field(self.auth), || bad("auth", "console-field-auth"));
        let username = text_field(self.username);
        if matches!(&username, Set::To(u) if !plain_text(u, 256)) {
            bad("username", "console-field-username");
        }
        // Spaces are kept: a password is taken as typed; only line breaks and other control
        // characters cannot be stored in its file.
        let password = self.password.filter(|p| !p.is_empty());
        if password.as_deref().is_some_and(|p| !plain_text(p, 1024)) {
            bad("password", "console-field-password");
        }
        let ca_file = text_field(self.ca_file);
        if matches!(&ca_file, Set::To(f) if !plain_text(f, 4096) || !std::path::Path::new(f).is_file())
        {
            bad("ca_file", "console-field-ca-file");
        }
        let senders = parse_senders(self.senders).unwrap_or_else(|| {
            bad("senders", "console-field-senders");
            Set::Keep
        });
        if !errors.is_empty() {
            return Err(ServerError::Fields(errors));
        }
        Ok(Change {
            name,
            preset,
            host,
            port,
            conn,
            auth,
            username,
            password,
            ca_file,
            senders,
            default: self.default,
        })
    }
}

/// A preset's name: `None` when no SMTP preset has it.
fn parse_preset(v: Set<String>) -> Option<Set<&'static presets::Preset>> {
    Some(match v {
        Set::To(p) => Set::To(presets::find(&p).filter(|p| p.kind == "smtp")?),
        Set::Clear => Set::Clear,
        Set::Keep => Set::Keep,
    })
}

/// A port as a number or a string of one (forms send strings): `None` unless 1 to 65535.
fn parse_port(v: Option<Value>) -> Option<Set<u16>> {
    match v {
        None => Some(Set::Keep),
        Some(Value::String(s)) if s.trim().is_empty() => Some(Set::Clear),
        Some(v) => v
            .as_u64()
            .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
            .and_then(|n| u16::try_from(n).ok())
            .filter(|n| *n > 0)
            .map(Set::To),
    }
}

/// The senders routed to a server, as a JSON list or text separated by spaces, commas or
/// semicolons (a form's field): `None` when one of them is not an address or a domain.
fn parse_senders(v: Option<Value>) -> Option<Set<Vec<String>>> {
    let Some(v) = v else {
        return Some(Set::Keep);
    };
    let list: Vec<String> = match &v {
        Value::Array(a) => a
            .iter()
            .map(|s| s.as_str().map(str::to_string))
            .collect::<Option<_>>()?,
        Value::String(s) => s
            .split(|c: char| c.is_whitespace() || c == ',' || c == ';')
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect(),
        _ => return None,
    };
    if list.iter().any(|s| !valid_sender(s)) {
        return None;
    }
    Some(if list.is_empty() {
        Set::Clear
    } else {
        Set::To(list)
    })
}

fn mode<T: std::str::FromStr>(v: Set<String>, mut bad: impl FnMut()) -> Set<T> {
    match v {
        Set::To(s) => match s.parse() {
            Ok(m) => Set::To(m),
            Err(_) => {
                bad();
                Set::Keep
            }
        },
        Set::Clear => Set::Clear,
        Set::Keep => Set::Keep,
    }
}

/// One server as the pages and the API show it.
#[derive(Debug, Clone, Serialize)]
pub struct ServerView {
    pub name: String,
    /// `smtp`, `graph` or `file`: only SMTP servers are edited in the console.
    pub kind: &'static str,
    pub preset: Option<&'static str>,
    pub host: String,
    pub port: Option<u16>,
    pub conn: String,
    pub auth: String,
    pub username: String,
    /// `"set"` when a password (inline, a file or a variable) is configured, `"oauth2"` for a
    /// token; never the password itself.
    pub password: Option<&'static str>,
    pub ca_file: Option<String>,
    pub senders: Vec<String>,
    pub default: bool,
    pub limits: String,
}

pub fn views(config: &Config) -> Vec<ServerView> {
    let rows = crate::admin::rows(config);
    config
        .upstreams
        .iter()
        .zip(rows)
        .map(|(u, row)| {
            let (kind, port, credentials, ca_file) = match &u.transport {
                Transport::Smtp(s) => (
                    "smtp",
                    Some(s.port),
                    s.credentials.as_ref(),
                    s.ca_file.as_ref().map(|p| p.display().to_string()),
                ),
                Transport::Graph(_) => ("graph", None, None, None),
                Transport::File { .. } => ("file", None, None, None),
            };
            ServerView {
                name: u.name.clone(),
                kind,
                preset: u.transport.preset(),
                host: row.host,
                port,
                conn: row.security,
                auth: row.auth,
                username: row.user,
                password: credentials.map(|c| match c.secret {
                    Secret::OAuth2 => "oauth2",
                    _ => "set",
                }),
                ca_file,
                senders: u.senders.clone(),
                default: u.default,
                limits: row.limits,
            }
        })
        .collect()
}

/// The SMTP presets with the fields each fills, and what to type as the password, in `lang`.
pub fn presets_json(lang: Lang) -> Value {
    PRESETS
        .iter()
        .map(|p| {
            json!({
                "name": p.name,
                "kind": p.kind,
                "title": p.title,
                "host": p.host,
                "port": p.port,
                "conn": p.conn.to_string(),
                "auth": p.auth.to_string(),
                "advice": text(lang, &format!("preset-advice-{}", p.name), &[]),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(v: Value) -> ServerInput {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn names_hosts_and_ports_are_checked_field_by_field() {
        let e = input(json!({"name": "../etc", "host": "a b", "port": 70000}))
            .check(Lang::En)
            .err()
            .unwrap();
        let fields: Vec<String> = e.fields().into_iter().map(|f| f.field).collect();
        assert_eq!(fields, ["name", "host", "port"]);
        for bad in ["<b>x</b>", "a\u{7}b", ".x", "x/y", ""] {
            assert!(!valid_name(bad), "{bad:?}");
        }
        assert!(valid_name("office365-2"));
        for ok in ["smtp.office365.com", "127.0.0.1", "::1", "mail"] {
            assert!(valid_host(ok), "{ok}");
        }
        for bad in ["-x.com", "a..b", "x_y.com", "<x>"] {
            assert!(!valid_host(bad), "{bad}");
        }
    }

    #[test]
    fn a_port_is_a_number_or_its_text_and_an_empty_field_removes_the_key() {
        let c = input(json!({"port": "2587", "host": "", "senders": "acme.ch, boss@acme.ch"}))
            .check(Lang::En)
            .ok()
            .unwrap();
        assert_eq!(c.port, Set::To(2587));
        assert_eq!(c.host, Set::Clear);
        assert_eq!(
            c.senders,
            Set::To(vec!["acme.ch".into(), "boss@acme.ch".into()])
        );
        assert_eq!(c.name, Set::Keep);
    }

    #[test]
    fn the_errors_come_in_the_callers_language() {
        let e = input(json!({"port": "x"})).check(Lang::Fr).err().unwrap();
        assert_ne!(
            e.fields()[0].message,
            text(Lang::En, "console-field-port", &[])
        );
    }

    #[test]
    fn every_smtp_preset_has_advice_in_the_catalog() {
        let ids = crate::catalog::ids(Lang::En);
        for p in PRESETS {
            assert!(
                ids.contains(&format!("preset-advice-{}", p.name)),
                "{}",
                p.name
            );
        }
    }
}
