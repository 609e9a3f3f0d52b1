//! Passwords typed in the console: each goes into its own file, `<spool>/secrets/<server>.password`,
//! readable by the relay's account only (created with mode 0600 from the first byte, never
//! loosened afterwards), written to a temporary name, fsynced and renamed, so a crash leaves the
//! old password or the new one and never half of one. The configuration names the file
//! (`password_file`); the TOML never holds the password, and nothing here logs or returns it.
//!
//! Beside the spool because the relay always may write there (the configuration's directory
//! may be read-only for it) and the spool is already private to it.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::config::Config;

/// The directory of the console's password files, as an absolute path (the configuration
/// keeps relative paths relative to the working directory, which a service may not share).
pub fn dir(config: &Config) -> PathBuf {
    let spool = std::path::absolute(&config.spool.dir).unwrap_or_else(|_| config.spool.dir.clone());
    spool.join("secrets")
}

/// Where the password of server `name` goes; `None` for a name that could leave the directory
/// or hide the file (the console checks names before, this is the last line).
pub fn path_for(config: &Config, name: &str) -> Option<PathBuf> {
    let safe = !name.is_empty()
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
    safe.then(|| dir(config).join(format!("{name}.password")))
}

/// Whether `path` is one of the console's own password files (removed with its server).
pub fn is_ours(config: &Config, path: &Path) -> bool {
    path.parent() == Some(dir(config).as_path())
        && path.extension().is_some_and(|e| e == "password")
}

/// Writes `secret` to `path` atomically, private from creation. Blocking.
pub fn write(path: &Path, secret: &str) -> std::io::Result<()> {
    let dir = path
        .parent()
        .ok_or_else(|| std::io::Error::other("a password file needs a directory"))?;
    if !dir.exists() {
        std::fs::create_dir_all(dir)?;
        crate::fsutil::private_dir(dir)?;
    }
    let tmp = dir.join(format!(
        ".{}.tmp-{:08x}",
        path.file_name().unwrap_or_default().to_string_lossy(),
        rand::random::<u32>()
    ));
    let result = (|| {
        let mut f =
            crate::fsutil::private_file(std::fs::OpenOptions::new().write(true).create_new(true))
                .open(&tmp)?;
        f.write_all(secret.as_bytes())?;
        f.write_all(b"\n")?;
        f.sync_all()?;
        crate::fsutil::rename_durable(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_server_name_never_leads_out_of_the_secrets_directory() {
        let config = Config::embedded_default();
        for bad in ["../x", "..", ".hidden", "a/b", "a\\b", "", "a\nb", "é"] {
            assert_eq!(path_for(&config, bad), None, "{bad:?}");
        }
        let ok = path_for(&config, "office365-2").unwrap();
        assert_eq!(ok, dir(&config).join("office365-2.password"));
        assert!(is_ours(&config, &ok));
    }

    #[cfg(unix)]
    #[test]
    fn a_password_file_is_private_from_its_creation_and_replaced_whole() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secrets").join("o365.password");
        write(&path, "first").unwrap();
        write(&path, "second").unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let dir_mode = std::fs::metadata(path.parent().unwrap())
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(dir_mode, 0o700);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "second\n");
        let left: Vec<_> = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(left.len(), 1, "no temporary file left: {left:?}");
    }
}
