//! Changes the console makes to the configuration: the file is edited with `toml_edit`, so its
//! comments and layout stay; the result is loaded and checked like `check-config` before
//! anything is written; the previous file is kept as `<file>.bak`; the new one is written to a
//! temporary name, fsynced and renamed; then the running relay reloads it. A change that does
//! not load is neither written nor applied, and its errors are returned. The embedded default
//! has no file: its changes live until the relay stops.

use std::io::Write;
use std::path::{Path, PathBuf};

use toml_edit::{DocumentMut, Item, value};

use super::Console;
use crate::config::{Config, EMBEDDED_DEFAULT};

#[derive(Debug, thiserror::Error)]
pub enum EditError {
    #[error("{0}")]
    Invalid(String),
    /// The changed file does not load: check-config's errors, with the key of each.
    #[error("{0}")]
    Config(crate::config::ConfigErrors),
    #[error("the configuration file cannot be read or written: {0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Reload(#[from] crate::live::ReloadError),
}

/// Test mode on or off, with its redirect address (global `[test_mode]`).
pub async fn test_mode(
    c: &Console,
    enabled: bool,
    redirect: &str,
) -> Result<Vec<String>, EditError> {
    let redirect = redirect.trim();
    if enabled && !plausible_address(redirect) {
        return Err(EditError::Invalid(format!(
            "`{}` is not an address to redirect to",
            redirect.escape_debug()
        )));
    }
    edit(c, |doc| {
        let t = table(doc, "test_mode");
        t["enabled"] = value(enabled);
        if !redirect.is_empty() {
            t["redirect_to"] = value(redirect);
        }
    })
    .await
}

/// The blacklist file, created (and named in `[blacklist] file`) when there is none yet.
pub async fn blacklist_file(c: &Console) -> Result<PathBuf, EditError> {
    let config = c.live.config();
    if let Some(f) = &config.policy.blacklist.file {
        return Ok(f.clone());
    }
    let path = config.spool.dir.join("blacklist.txt");
    if !path.exists() {
        let header = b"# liste noire: one entry a line (user@domain, @domain, *.domain)\n";
        write_atomically(path.clone(), header.to_vec(), false).await?;
    }
    let shown = path.display().to_string();
    edit(c, |doc| {
        table(doc, "blacklist")["file"] = value(shown.as_str());
    })
    .await?;
    Ok(path)
}

/// Adds or removes one blacklist entry, then applies it.
pub async fn blacklist(c: &Console, entry: &str, add: bool) -> Result<(), EditError> {
    let entry = entry.trim().to_lowercase();
    if !valid_entry(&entry) {
        return Err(EditError::Invalid(format!(
            "`{}` is not an address, @domain or *.domain",
            entry.escape_debug()
        )));
    }
    let path = blacklist_file(c).await?;
    let text = tokio::fs::read_to_string(&path).await.unwrap_or_default();
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let present = lines.iter().any(|l| l.trim().eq_ignore_ascii_case(&entry));
    match (add, present) {
        (true, false) => lines.push(entry),
        (false, true) => lines.retain(|l| !l.trim().eq_ignore_ascii_case(&entry)),
        _ => return Ok(()),
    }
    let mut out = lines.join("\n");
    out.push('\n');
    write_atomically(path, out.into_bytes(), false).await?;
    // The policy re-reads the file by itself; a reload makes it immediate.
    c.live.reload((*c.live.config()).clone()).await?;
    Ok(())
}

/// The entries of the blacklist file, comments left out.
pub async fn blacklist_entries(c: &Console) -> Vec<String> {
    let Some(f) = c.live.config().policy.blacklist.file.clone() else {
        return Vec::new();
    };
    tokio::fs::read_to_string(f)
        .await
        .unwrap_or_default()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect()
}

/// Edits the configuration: `change` on the document, then the check, the write and the reload.
pub(super) async fn edit(
    c: &Console,
    change: impl FnOnce(&mut DocumentMut),
) -> Result<Vec<String>, EditError> {
    edit_with(
        c,
        |doc| {
            change(doc);
            Ok::<_, EditError>(())
        },
        None,
    )
    .await
}

/// Writes a file the edit needs in place before the new configuration names it (a password
/// file). Blocking; run off the async workers.
pub(super) type Beside = Box<dyn FnOnce() -> std::io::Result<()> + Send>;

/// Two edits at once would each read the file before the other wrote it, and one change would
/// be lost: they take turns, from reading the file to the reload.
static EDITING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// As [`edit`], with a `change` that may refuse (then nothing is written). `beside` is written
/// only once the new configuration is known to load, and before the file is, so the file never
/// names a password file that is not there.
pub(super) async fn edit_with<E: From<EditError>>(
    c: &Console,
    change: impl FnOnce(&mut DocumentMut) -> Result<(), E>,
    beside: Option<Beside>,
) -> Result<Vec<String>, E> {
    let _turn = EDITING.lock().await;
    edit_locked(c, change, beside).await?
}

async fn edit_locked<E>(
    c: &Console,
    change: impl FnOnce(&mut DocumentMut) -> Result<(), E>,
    beside: Option<Beside>,
) -> Result<Result<Vec<String>, E>, EditError> {
    let config = c.live.config();
    let path = config.source.clone();
    let embedded = path == Path::new("<embedded default>");
    let text = if embedded {
        c.embedded_text()
    } else {
        tokio::fs::read_to_string(&path).await?
    };
    let mut doc: DocumentMut = text
        .parse()
        .map_err(|e: toml_edit::TomlError| EditError::Invalid(e.to_string()))?;
    if let Err(e) = change(&mut doc) {
        return Ok(Err(e));
    }
    let new_text = doc.to_string();
    let new = Config::load(&new_text, &path).map_err(EditError::Config)?;
    if let Some(b) = beside {
        tokio::task::spawn_blocking(b)
            .await
            .map_err(std::io::Error::other)??;
    }
    if embedded {
        c.set_embedded_text(new_text);
    } else {
        write_atomically(path.clone(), new_text.into_bytes(), true).await?;
    }
    Ok(Ok(c.live.reload(new).await?))
}

pub(super) fn table<'a>(doc: &'a mut DocumentMut, name: &str) -> &'a mut toml_edit::Table {
    if !doc.contains_table(name) {
        doc[name] = Item::Table(toml_edit::Table::new());
    }
    doc[name].as_table_mut().expect("a table was just made")
}

fn backup(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".bak");
    PathBuf::from(s)
}

/// Writes `bytes` to `path` (keeping the old file as `.bak` when asked) with its fsyncs off the
/// async workers.
async fn write_atomically(path: PathBuf, bytes: Vec<u8>, keep_backup: bool) -> std::io::Result<()> {
    tokio::task::spawn_blocking(move || {
        if keep_backup {
            std::fs::copy(&path, backup(&path))?;
        }
        write_blocking(&path, &bytes)
    })
    .await
    .map_err(std::io::Error::other)?
}

fn write_blocking(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp-console");
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

fn plausible_address(a: &str) -> bool {
    a.split_once('@')
        .is_some_and(|(l, d)| !l.is_empty() && d.contains('.'))
        && !a.contains(|c: char| c.is_whitespace() || c.is_control() || "<>\"".contains(c))
}

fn valid_entry(e: &str) -> bool {
    let domain_ok = |d: &str| {
        d.contains('.')
            && !d.is_empty()
            && d.chars().all(|c| c.is_alphanumeric() || ".-".contains(c))
    };
    if let Some(d) = e.strip_prefix('@').or_else(|| e.strip_prefix("*.")) {
        return domain_ok(d);
    }
    plausible_address(e)
}

impl Console {
    /// The text the embedded default runs on now (it has no file to edit).
    fn embedded_text(&self) -> String {
        self.embedded
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .unwrap_or_else(|| EMBEDDED_DEFAULT.to_string())
    }

    fn set_embedded_text(&self, text: String) {
        *self.embedded.lock().unwrap_or_else(|p| p.into_inner()) = Some(text);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blacklist_entries_are_addresses_or_domains_and_nothing_else() {
        for ok in ["boss@example.com", "@example.com", "*.example.com"] {
            assert!(valid_entry(ok), "{ok}");
        }
        for bad in [
            "",
            "x",
            "@",
            "*.",
            "a b@c.d",
            "a@b.c\n",
            "<a@b.c>",
            "@exa mple.com",
        ] {
            assert!(!valid_entry(bad), "{bad:?}");
        }
    }

    #[test]
    fn an_edit_keeps_the_comments_of_the_file() {
        let mut doc: DocumentMut =
            "# our relay\n[server]\n# loopback only\nlisten = [\"127.0.0.1:2525\"]\n"
                .parse()
                .unwrap();
        table(&mut doc, "test_mode")["enabled"] = value(true);
        let text = doc.to_string();
        assert!(
            text.contains("# our relay") && text.contains("# loopback only"),
            "{text}"
        );
        assert!(text.contains("[test_mode]\nenabled = true"), "{text}");
    }
}
