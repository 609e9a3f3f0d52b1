//! Creating, changing, deleting and choosing the default server from the console, as edits of
//! the `[[upstream]]` tables through `edits` (toml_edit: comments and layout stay; checked like
//! check-config before anything is written; the previous file kept; applied without a restart).
//!
//! A key is written only when it changes what the server does: a value equal to the one in the
//! file, or to the preset's when the file leaves it to the preset, leaves the file alone. A
//! password goes to its own private file (`secrets`), which the table names in `password_file`.

use std::path::PathBuf;
use std::str::FromStr;

use toml_edit::{ArrayOfTables, DocumentMut, Item, Table};

use super::Console;
use super::edits::{self, Beside};
use super::secrets;
use super::servers::{Change, ServerError, ServerInput, Set, field};
use crate::catalog::{Lang, text};
use crate::config::presets::{self, Preset};
use crate::config::{Config, Secret, Transport, Upstream};

/// Adds a server; the notes of the reload (what waits for a restart).
pub async fn create(
    c: &Console,
    input: ServerInput,
    lang: Lang,
) -> Result<Vec<String>, ServerError> {
    let config = c.live.config();
    let ch = input.check(lang)?;
    let Set::To(name) = ch.name.clone() else {
        return Err(field("name", text(lang, "console-field-name", &[])));
    };
    if config.upstream(&name).is_some() {
        return Err(exists(&name, lang));
    }
    let (path, beside) = password_file(c, &name, &ch, lang)?;
    edits::edit_with(
        c,
        |doc| {
            let list = upstreams(doc, lang)?;
            if ch.default == Some(true) {
                list.iter_mut().for_each(not_default);
            }
            let mut t = Table::new();
            apply(&mut t, &ch, path.as_deref());
            list.push(t);
            Ok(())
        },
        beside,
    )
    .await
}

/// Changes server `name` as `input` says.
pub async fn update(
    c: &Console,
    name: &str,
    input: ServerInput,
    lang: Lang,
) -> Result<Vec<String>, ServerError> {
    let config = c.live.config();
    let u = config.upstream(name).ok_or_else(|| unknown(name, lang))?;
    if !matches!(u.transport, Transport::Smtp(_)) {
        return Err(ServerError::Refused(text(
            lang,
            "console-server-not-smtp",
            &[("name", name)],
        )));
    }
    let ch = input.check(lang)?;
    let new_name = match &ch.name {
        Set::To(n) => n.clone(),
        _ => name.to_string(),
    };
    if new_name != name && config.upstream(&new_name).is_some() {
        return Err(exists(&new_name, lang));
    }
    let (path, beside) = password_file(c, &new_name, &ch, lang)?;
    // A renamed server's new password goes to a file of its new name: the old one goes.
    let replaced = own_file(&config, u).filter(|old| {
        path.as_deref()
            .is_some_and(|new| old.as_path() != std::path::Path::new(new))
    });
    let notes = edits::edit_with(
        c,
        |doc| {
            let list = upstreams(doc, lang)?;
            let i = position(list, name).ok_or_else(|| unknown(name, lang))?;
            if ch.default == Some(true) {
                list.iter_mut().for_each(not_default);
            }
            let t = list.get_mut(i).expect("a position just found");
            apply(t, &ch, path.as_deref());
            Ok::<_, ServerError>(())
        },
        beside,
    )
    .await?;
    if let Some(old) = replaced {
        let _ = tokio::fs::remove_file(old).await;
    }
    Ok(notes)
}

/// Deletes server `name`, unless it is the default or something still names it (another
/// server's fallback, a profile): then it says so, and nothing changes.
pub async fn delete(c: &Console, name: &str, lang: Lang) -> Result<Vec<String>, ServerError> {
    let config = c.live.config();
    let u = config.upstream(name).ok_or_else(|| unknown(name, lang))?;
    if u.default && config.upstreams.len() > 1 {
        return Err(ServerError::Refused(text(
            lang,
            "console-server-delete-default",
            &[("name", name)],
        )));
    }
    let users: Vec<String> = config
        .upstreams
        .iter()
        .filter(|o| o.fallback.as_deref() == Some(name))
        .map(|o| format!("[[upstream]] {}", o.name))
        .chain(
            config
                .profiles
                .iter()
                .filter(|p| p.upstream.as_deref() == Some(name))
                .map(|p| format!("[[profile]] {}", p.name)),
        )
        .collect();
    if !users.is_empty() {
        let by = users.join(", ");
        return Err(ServerError::Refused(text(
            lang,
            "console-server-delete-used",
            &[("name", name), ("by", &by)],
        )));
    }
    let own_file = own_file(&config, u);
    let notes = edits::edit_with(
        c,
        |doc| {
            let list = upstreams(doc, lang)?;
            let i = position(list, name).ok_or_else(|| unknown(name, lang))?;
            list.remove(i);
            Ok::<_, ServerError>(())
        },
        None,
    )
    .await?;
    // The password goes with its server; the configuration no longer names the file.
    if let Some(p) = own_file {
        let _ = tokio::fs::remove_file(p).await;
    }
    Ok(notes)
}

/// Makes `name` the default server (the others lose the mark).
pub async fn make_default(c: &Console, name: &str, lang: Lang) -> Result<Vec<String>, ServerError> {
    c.live
        .config()
        .upstream(name)
        .ok_or_else(|| unknown(name, lang))?;
    edits::edit_with(
        c,
        |doc| {
            let list = upstreams(doc, lang)?;
            let i = position(list, name).ok_or_else(|| unknown(name, lang))?;
            list.iter_mut().for_each(not_default);
            put(list.get_mut(i).expect("just found"), "default", true);
            Ok::<_, ServerError>(())
        },
        None,
    )
    .await
}

/// The password file the console made for `u`, if its password is in one.
fn own_file(config: &Config, u: &Upstream) -> Option<PathBuf> {
    match &u.transport {
        Transport::Smtp(s) => s.credentials.as_ref().and_then(|c| match &c.secret {
            Secret::File(p) if secrets::is_ours(config, p) => Some(p.clone()),
            _ => None,
        }),
        _ => None,
    }
}

fn unknown(name: &str, lang: Lang) -> ServerError {
    ServerError::NotFound(text(lang, "console-server-unknown", &[("name", name)]))
}

fn exists(name: &str, lang: Lang) -> ServerError {
    field(
        "name",
        text(lang, "console-server-exists", &[("name", name)]),
    )
}

/// The password file a typed password goes to, and the write that puts it there.
fn password_file(
    c: &Console,
    name: &str,
    ch: &Change,
    lang: Lang,
) -> Result<(Option<String>, Option<Beside>), ServerError> {
    let Some(password) = ch.password.clone() else {
        return Ok((None, None));
    };
    let path = secrets::path_for(&c.live.config(), name)
        .ok_or_else(|| field("name", text(lang, "console-field-name", &[])))?;
    let shown = path.display().to_string();
    let write: Beside = Box::new(move || secrets::write(&path, &password));
    Ok((Some(shown), Some(write)))
}

/// The `[[upstream]]` tables of the file (made when there are none yet).
fn upstreams(doc: &mut DocumentMut, lang: Lang) -> Result<&mut ArrayOfTables, ServerError> {
    if !doc.contains_key("upstream") {
        doc["upstream"] = Item::ArrayOfTables(ArrayOfTables::new());
    }
    doc["upstream"]
        .as_array_of_tables_mut()
        .ok_or_else(|| ServerError::Refused(text(lang, "console-server-inline", &[])))
}

fn position(list: &ArrayOfTables, name: &str) -> Option<usize> {
    list.iter()
        .position(|t| t.get("name").and_then(Item::as_str) == Some(name))
}

fn not_default(t: &mut Table) {
    if t.get("default").and_then(Item::as_bool) == Some(true) {
        put(t, "default", false);
    }
}

/// Sets `key`, keeping the comment written after the old value.
fn put(t: &mut Table, key: &str, v: impl Into<toml_edit::Value>) {
    let mut new = v.into();
    if let Some(old) = t.get(key).and_then(Item::as_value) {
        *new.decor_mut() = old.decor().clone();
    }
    t[key] = Item::Value(new);
}

fn literal<'a>(t: &'a Table, key: &str) -> Option<&'a str> {
    t.get(key).and_then(Item::as_str)
}

/// Writes what `ch` changes into one server's table.
fn apply(t: &mut Table, ch: &Change, password_file: Option<&str>) {
    let preset: Option<&Preset> = match &ch.preset {
        Set::To(p) => Some(*p),
        Set::Clear => None,
        Set::Keep => literal(t, "preset").and_then(presets::find),
    };
    text_key(t, "name", &ch.name, None);
    match &ch.preset {
        Set::To(p) if !literal(t, "preset").is_some_and(|l| l.eq_ignore_ascii_case(p.name)) => {
            put(t, "preset", p.name)
        }
        Set::Clear => drop(t.remove("preset")),
        _ => {}
    }
    text_key(t, "host", &ch.host, preset.map(|p| p.host));
    port_key(t, &ch.port, preset.map(|p| p.port));
    let (conn, auth) = (preset.map(|p| p.conn), preset.map(|p| p.auth));
    mode_key(t, "conn", "CONN", &ch.conn, conn.unwrap_or_default());
    mode_key(t, "auth", "AUTH", &ch.auth, auth.unwrap_or_default());
    text_key(t, "username", &ch.username, None);
    if let Some(path) = password_file {
        // One password source only: the typed one replaces any other.
        t.remove("password");
        t.remove("password_env");
        if literal(t, "password_file") != Some(path) {
            put(t, "password_file", path);
        }
    }
    text_key(t, "ca_file", &ch.ca_file, None);
    match &ch.senders {
        Set::To(list) => {
            let norm = |s: &str| s.trim_start_matches('@').to_lowercase();
            let now: Option<Vec<String>> = t.get("senders").and_then(Item::as_array).map(|a| {
                a.iter()
                    .map(|v| norm(v.as_str().unwrap_or_default()))
                    .collect()
            });
            if now != Some(list.iter().map(|s| norm(s)).collect()) {
                put(t, "senders", toml_edit::Array::from_iter(list.iter()));
            }
        }
        Set::Clear => drop(t.remove("senders")),
        Set::Keep => {}
    }
    match ch.default {
        Some(true) if t.get("default").and_then(Item::as_bool) != Some(true) => {
            put(t, "default", true)
        }
        Some(false) => not_default(t),
        _ => {}
    }
}

/// A text key; `implied` is what applies when the key is absent (the preset's value).
fn text_key(t: &mut Table, key: &str, set: &Set<String>, implied: Option<&str>) {
    match set {
        Set::To(v) if literal(t, key) == Some(v.as_str()) => {}
        Set::To(v) if !t.contains_key(key) && implied == Some(v.as_str()) => {}
        Set::To(v) => put(t, key, v.as_str()),
        Set::Clear => drop(t.remove(key)),
        Set::Keep => {}
    }
}

/// The port key, a number or the Cresus-style string (`"587 AUTH:LOGIN CONN:STARTTLS"`),
/// whose other words are kept when only the number changes.
fn port_key(t: &mut Table, set: &Set<u16>, implied: Option<u16>) {
    let item = t.get("port").and_then(Item::as_value).cloned();
    let words = item.as_ref().and_then(|v| v.as_str()).map(|s| {
        s.split_whitespace()
            .filter(|w| w.parse::<u16>().is_err())
            .map(str::to_string)
            .collect::<Vec<_>>()
    });
    let now = match &item {
        Some(v) => v
            .as_integer()
            .and_then(|n| u16::try_from(n).ok())
            .or_else(|| {
                v.as_str()
                    .and_then(|s| crate::config::PortSpec::from_str(s).ok()?.port)
            }),
        None => implied,
    };
    match (set, words) {
        (Set::To(p), _) if now == Some(*p) => {}
        (Set::To(p), Some(rest)) => {
            let s = std::iter::once(p.to_string())
                .chain(rest)
                .collect::<Vec<_>>();
            put(t, "port", s.join(" "))
        }
        (Set::To(p), None) => put(t, "port", i64::from(*p)),
        (Set::Clear, Some(rest)) if !rest.is_empty() => put(t, "port", rest.join(" ")),
        (Set::Clear, _) => drop(t.remove("port")),
        (Set::Keep, _) => {}
    }
}

/// The `conn` or `auth` key; the same mode may be a word of the port string (`CONN:SSL`),
/// which is dropped when the key takes over, so the two never contradict each other.
fn mode_key<T>(t: &mut Table, key: &str, word: &str, set: &Set<T>, implied: T)
where
    T: FromStr + PartialEq + std::fmt::Display + Copy,
{
    let prefix = format!("{word}:");
    let port_text = literal(t, "port").map(str::to_string);
    let in_port = port_text.as_deref().and_then(|s| {
        s.split_whitespace()
            .find_map(|w| {
                w.to_ascii_uppercase()
                    .strip_prefix(&prefix)
                    .map(str::to_string)
            })
            .and_then(|m| m.parse::<T>().ok())
    });
    let now = literal(t, key)
        .and_then(|s| s.parse::<T>().ok())
        .or(in_port)
        .unwrap_or(implied);
    let drop_word = |t: &mut Table| {
        if let Some(s) = &port_text {
            let kept: Vec<&str> = s
                .split_whitespace()
                .filter(|w| !w.to_ascii_uppercase().starts_with(&prefix))
                .collect();
            match kept.as_slice() {
                [] => drop(t.remove("port")),
                [only] if only.parse::<u16>().is_ok() => {
                    put(t, "port", only.parse::<i64>().unwrap_or_default())
                }
                rest => put(t, "port", rest.join(" ")),
            }
        }
    };
    match set {
        Set::To(m) if *m == now => {}
        Set::To(m) => {
            if in_port.is_some() {
                drop_word(t);
            }
            put(t, key, m.to_string());
        }
        Set::Clear => {
            t.remove(key);
            if in_port.is_some() {
                drop_word(t);
            }
        }
        Set::Keep => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(v: serde_json::Value) -> Change {
        serde_json::from_value::<ServerInput>(v)
            .unwrap()
            .check(Lang::En)
            .ok()
            .unwrap()
    }

    fn edited(toml: &str, v: serde_json::Value) -> String {
        let mut doc: DocumentMut = toml.parse().unwrap();
        let list = doc["upstream"].as_array_of_tables_mut().unwrap();
        apply(list.get_mut(0).unwrap(), &change(v), None);
        doc.to_string()
    }

    #[test]
    fn values_equal_to_the_file_or_the_preset_leave_the_file_alone() {
        let toml =
            "[[upstream]]\nname = \"g\" # ours\npreset = \"gmail\"\nport = 587 # submission\n";
        let same = edited(
            toml,
            serde_json::json!({"name": "g", "host": "smtp.gmail.com", "port": "587", "conn": "starttls", "auth": "plain"}),
        );
        assert_eq!(same, toml);
        let moved = edited(toml, serde_json::json!({"port": 2587}));
        assert!(moved.contains("port = 2587 # submission"), "{moved}");
    }

    #[test]
    fn the_port_string_keeps_its_other_words_and_never_contradicts_a_mode() {
        let toml = "[[upstream]]\nname = \"c\"\nhost = \"mail.x.ch\"\nport = \"587 AUTH:LOGIN CONN:STARTTLS LIMITE:12\"\n";
        let out = edited(toml, serde_json::json!({"port": 2525, "conn": "ssl_tls"}));
        assert!(
            out.contains("port = \"2525 AUTH:LOGIN LIMITE:12\""),
            "{out}"
        );
        assert!(out.contains("conn = \"ssl_tls\""), "{out}");
        let same = edited(
            toml,
            serde_json::json!({"auth": "login", "conn": "starttls"}),
        );
        assert_eq!(same, toml);
    }

    #[test]
    fn a_typed_password_replaces_every_other_source_with_the_file() {
        let mut doc: DocumentMut =
            "[[upstream]]\nname = \"o\"\nusername = \"u@x.ch\"\npassword = \"old\"\n"
                .parse()
                .unwrap();
        let t = doc["upstream"]
            .as_array_of_tables_mut()
            .unwrap()
            .get_mut(0)
            .unwrap();
        apply(
            t,
            &change(serde_json::json!({"password": "new"})),
            Some("/s/o.password"),
        );
        let out = doc.to_string();
        assert!(!out.contains("old") && !out.contains("new"), "{out}");
        assert!(out.contains("password_file = \"/s/o.password\""), "{out}");
    }
}
