//! Ground floor: the few file-system operations whose answer differs between Unix and Windows:
//! private files and directories, and making a rename durable. Imports nothing from the crate.
//!
//! | | Unix | Windows |
//! |---|---|---|
//! | private file | created with mode 0600 | inherits the directory's ACL (SYSTEM, Administrators) |
//! | private directory | mode 0700 | `icacls`: inheritance cut, SYSTEM and Administrators only |
//! | durable rename | `rename`, then fsync of the directory | `MoveFileExW(.., MOVEFILE_WRITE_THROUGH)` (a directory cannot be flushed there) |

use std::fs::OpenOptions;
use std::io;
use std::path::Path;

/// Options that create a file only its owner may read (Unix: 0600).
pub fn private_file(opts: &mut OpenOptions) -> &mut OpenOptions {
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600)
    }
    #[cfg(not(unix))]
    {
        opts
    }
}

/// Restricts `dir` to the relay's own account (Unix: 0700; Windows: SYSTEM and Administrators).
pub fn private_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
    }
    #[cfg(windows)]
    {
        // S-1-5-18 is SYSTEM, S-1-5-32-544 the Administrators group, whatever the language.
        let status = std::process::Command::new("icacls")
            .arg(dir)
            .args([
                "/inheritance:r",
                "/grant:r",
                "*S-1-5-18:(OI)(CI)F",
                "*S-1-5-32-544:(OI)(CI)F",
                "/Q",
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()?;
        if status.success() {
            Ok(())
        } else {
            Err(io::Error::other(format!(
                "icacls {}: {status}",
                dir.display()
            )))
        }
    }
}

/// Renames `from` to `to` (replacing it) so that the rename survives a crash once this returns.
/// The file's data must already be flushed (`sync_all`).
pub fn rename_durable(from: &Path, to: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        std::fs::rename(from, to)?;
        sync_dir(
            to.parent()
                .filter(|d| !d.as_os_str().is_empty())
                .unwrap_or(Path::new(".")),
        )
    }
    #[cfg(windows)]
    {
        use std::os::windows::ffi::OsStrExt;
        use windows_sys::Win32::Storage::FileSystem::{
            MOVEFILE_REPLACE_EXISTING, MOVEFILE_WRITE_THROUGH, MoveFileExW,
        };
        let wide = |p: &Path| -> Vec<u16> {
            p.as_os_str()
                .encode_wide()
                .chain(std::iter::once(0))
                .collect()
        };
        let (f, t) = (wide(from), wide(to));
        // SAFETY: both buffers are NUL-terminated UTF-16 strings that outlive the call.
        let ok = unsafe {
            MoveFileExW(
                f.as_ptr(),
                t.as_ptr(),
                MOVEFILE_REPLACE_EXISTING | MOVEFILE_WRITE_THROUGH,
            )
        };
        if ok == 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(())
        }
    }
}

/// Makes the entries of `dir` (new files, renames) durable. Windows has no directory flush:
/// there [`rename_durable`] writes through instead, and this returns at once.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        std::fs::File::open(dir)?.sync_all()
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}
