//! Every file and folder breachbook writes, made and opened one way, and every file it reads
//! from a path someone else may have chosen, read one way.
//!
//! - Inside the state folder nothing is followed: files are opened with `O_NOFOLLOW` and
//!   checked on the opened handle (a regular file, ours), so a planted symbolic link is refused,
//!   never followed. Folders are checked the same way (a folder, ours, nobody else may write
//!   it); files are created 0600 and folders 0700, and a wider mode of our own is narrowed.
//! - Reads are bounded and never block: files are opened with `O_NONBLOCK` (a FIFO does not
//!   hang the open) and anything but a regular file (FIFO, device, folder, socket) is refused
//!   before a byte is read; at most `max` bytes are read (`/dev/zero` is not a file).
//!
//! Used by the journal, the lock, the report, the fingerprint key, the drill world, the log
//! file and the runbook and script loaders. Depends on std and rustix (flags, the effective
//! user id) only, so every layer may use it.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use rustix::fs::OFlags;

/// Mode of every file breachbook creates.
pub const FILE_MODE: u32 = 0o600;
/// Mode of every folder breachbook creates.
pub const DIR_MODE: u32 = 0o700;

/// Why a file or folder was refused or could not be used. Each says what to do.
#[derive(Debug, thiserror::Error)]
pub enum FsError {
    #[error(
        "{} is a symbolic link: breachbook never follows links inside its state folder (someone may have planted it); look at where it points (`ls -l`), remove it, and run the command again",
        path.display()
    )]
    Link { path: PathBuf },
    #[error(
        "{} is {kind}, not a regular file: breachbook reads and writes only regular files here; point it at a file, or remove what is there",
        path.display()
    )]
    NotRegular { path: PathBuf, kind: &'static str },
    #[error(
        "{} is not a folder ({kind}): remove it or pass another --state-dir",
        path.display()
    )]
    NotDir { path: PathBuf, kind: &'static str },
    #[error(
        "{} can be written by other users (mode {mode:o}), so they could plant or swap the files breachbook trusts: run `chmod go-w {}` (breachbook makes its folders 0700), or pass another --state-dir",
        path.display(),
        path.display()
    )]
    OthersCanWrite { path: PathBuf, mode: u32 },
    #[error(
        "{} belongs to another user (uid {owner}; you are uid {me}), who could change what breachbook reads there: use a state folder of your own (--state-dir), or have its owner hand it over (`chown`)",
        path.display()
    )]
    Foreign { path: PathBuf, owner: u32, me: u32 },
    #[error(
        "{} is larger than breachbook reads ({} bytes, the limit is {max}): check that it is the right file",
        path.display(),
        len.map(|l| l.to_string()).unwrap_or_else(|| format!("over {max}"))
    )]
    TooBig {
        path: PathBuf,
        len: Option<u64>,
        max: u64,
    },
    #[error(
        "could not read or write {}: {source}; check that the folder is yours and the disk is not full, or pass another --state-dir",
        path.display()
    )]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl FsError {
    /// The path the error is about.
    pub fn path(&self) -> &Path {
        match self {
            FsError::Link { path }
            | FsError::NotRegular { path, .. }
            | FsError::NotDir { path, .. }
            | FsError::OthersCanWrite { path, .. }
            | FsError::Foreign { path, .. }
            | FsError::TooBig { path, .. }
            | FsError::Io { path, .. } => path,
        }
    }

    /// True when the file or folder does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, FsError::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound)
    }

    /// True when the file exists already (a create that must be new).
    pub fn is_already_exists(&self) -> bool {
        matches!(self, FsError::Io { source, .. } if source.kind() == std::io::ErrorKind::AlreadyExists)
    }
}

/// The effective user id of this process: the owner every state file must have.
pub fn me() -> u32 {
    rustix::process::geteuid().as_raw()
}

fn kind_of(ft: std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if ft.is_dir() {
        "a folder"
    } else if ft.is_fifo() {
        "a FIFO (named pipe)"
    } else if ft.is_char_device() {
        "a character device"
    } else if ft.is_block_device() {
        "a block device"
    } else if ft.is_socket() {
        "a socket"
    } else if ft.is_symlink() {
        "a symbolic link"
    } else if ft.is_file() {
        "a regular file"
    } else {
        "something other than a file"
    }
}

/// Maps an `open` failure: `ELOOP` under `O_NOFOLLOW` means the last component is a link.
fn open_error(path: &Path, e: std::io::Error) -> FsError {
    if e.raw_os_error() == Some(rustix::io::Errno::LOOP.raw_os_error()) {
        FsError::Link {
            path: path.to_path_buf(),
        }
    } else if e.raw_os_error() == Some(rustix::io::Errno::NOTDIR.raw_os_error()) {
        FsError::NotDir {
            path: path.to_path_buf(),
            kind: "a file",
        }
    } else {
        io_error(path, e)
    }
}

fn io_error(path: &Path, source: std::io::Error) -> FsError {
    FsError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn flags(f: OFlags) -> i32 {
    // Flag values fit an int on every platform (`open(2)` takes one).
    f.bits() as i32
}

/// Refuses a file handle that is not a regular file of ours; narrows its mode to 0600.
fn check_own_file(path: &Path, file: &File) -> Result<(), FsError> {
    let meta = file.metadata().map_err(|e| io_error(path, e))?;
    if !meta.file_type().is_file() {
        return Err(FsError::NotRegular {
            path: path.to_path_buf(),
            kind: kind_of(meta.file_type()),
        });
    }
    if meta.uid() != me() {
        return Err(FsError::Foreign {
            path: path.to_path_buf(),
            owner: meta.uid(),
            me: me(),
        });
    }
    if meta.mode() & 0o777 & !FILE_MODE != 0 {
        // On the handle (fchmod): the file checked is the file narrowed.
        file.set_permissions(std::fs::Permissions::from_mode(FILE_MODE))
            .map_err(|e| io_error(path, e))?;
    }
    Ok(())
}

/// Checks an opened folder: a folder, ours, nobody else may write it; narrows it to 0700.
fn check_own_dir(path: &Path, dir: &File) -> Result<(), FsError> {
    let meta = dir.metadata().map_err(|e| io_error(path, e))?;
    if !meta.is_dir() {
        return Err(FsError::NotDir {
            path: path.to_path_buf(),
            kind: kind_of(meta.file_type()),
        });
    }
    if meta.uid() != me() {
        return Err(FsError::Foreign {
            path: path.to_path_buf(),
            owner: meta.uid(),
            me: me(),
        });
    }
    let mode = meta.mode() & 0o7777;
    if mode & 0o022 != 0 {
        return Err(FsError::OthersCanWrite {
            path: path.to_path_buf(),
            mode,
        });
    }
    if mode & 0o777 & !DIR_MODE != 0 {
        dir.set_permissions(std::fs::Permissions::from_mode(DIR_MODE))
            .map_err(|e| io_error(path, e))?;
    }
    Ok(())
}

/// Opens a folder for checking; `follow` only for the state folder itself (the user's path).
fn open_dir(path: &Path, follow: bool) -> Result<File, FsError> {
    let mut f = OFlags::DIRECTORY | OFlags::CLOEXEC;
    if !follow {
        f |= OFlags::NOFOLLOW;
    }
    OpenOptions::new()
        .read(true)
        .custom_flags(flags(f))
        .open(path)
        .map_err(|e| open_error(path, e))
}

/// The state folder itself (`--state-dir`, or the platform's): created with its missing
/// parents (each 0700) when `create`, then refused if it is not a folder of ours that only we
/// may write. The path the user gave may be a link; nothing below it is followed.
pub fn state_dir(path: &Path, create: bool) -> Result<(), FsError> {
    if create {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(DIR_MODE)
            .create(path)
            .map_err(|e| io_error(path, e))?;
    }
    let dir = open_dir(path, true)?;
    check_own_dir(path, &dir)
}

/// A folder inside the state folder: created 0700 when missing and `create`, then refused if it
/// is a link, not a folder, another user's, or writable by others. Returns whether it was
/// created now.
pub fn private_dir(path: &Path, create: bool) -> Result<bool, FsError> {
    let mut created = false;
    if create {
        match std::fs::DirBuilder::new().mode(DIR_MODE).create(path) {
            Ok(()) => created = true,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(io_error(path, e)),
        }
    }
    let dir = open_dir(path, false)?;
    check_own_dir(path, &dir)?;
    Ok(created)
}

/// Creates a new file (0600) for appending; fails if anything (a file, a link) is there.
pub fn create_new(path: &Path) -> Result<File, FsError> {
    let file = OpenOptions::new()
        .append(true)
        .create_new(true)
        .mode(FILE_MODE)
        .custom_flags(flags(OFlags::NOFOLLOW | OFlags::CLOEXEC))
        .open(path)
        .map_err(|e| open_error(path, e))?;
    check_own_file(path, &file)?;
    Ok(file)
}

/// How an existing state file is opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Read and append (the journal).
    Append,
    /// Read and write anywhere, created (0600) when missing (the lock).
    ReadWriteCreate,
    /// Append, created (0600) when missing (the log file).
    AppendCreate,
}

/// Opens a state file without following a link and without blocking, and checks the handle:
/// a regular file of ours (its mode narrowed to 0600).
pub fn open_state_file(path: &Path, access: Access) -> Result<File, FsError> {
    let mut o = OpenOptions::new();
    o.read(true)
        .custom_flags(flags(OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC));
    match access {
        Access::Append => {
            o.append(true);
        }
        Access::ReadWriteCreate => {
            o.write(true).create(true).truncate(false).mode(FILE_MODE);
        }
        Access::AppendCreate => {
            o.append(true).create(true).mode(FILE_MODE);
        }
    }
    let file = o.open(path).map_err(|e| open_error(path, e))?;
    check_own_file(path, &file)?;
    Ok(file)
}

/// Reads at most `max` bytes of an opened file from its start; more is `TooBig`. Refuses
/// anything but a regular file.
pub fn read_opened(path: &Path, file: &File, max: u64) -> Result<Vec<u8>, FsError> {
    let meta = file.metadata().map_err(|e| io_error(path, e))?;
    if !meta.file_type().is_file() {
        return Err(FsError::NotRegular {
            path: path.to_path_buf(),
            kind: kind_of(meta.file_type()),
        });
    }
    if meta.len() > max {
        return Err(FsError::TooBig {
            path: path.to_path_buf(),
            len: Some(meta.len()),
            max,
        });
    }
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    // A file still growing (or lying about its size) stops at the limit all the same.
    let mut from_start = file;
    std::io::Seek::seek(&mut from_start, std::io::SeekFrom::Start(0))
        .map_err(|e| io_error(path, e))?;
    from_start
        .take(max.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|e| io_error(path, e))?;
    if bytes.len() as u64 > max {
        return Err(FsError::TooBig {
            path: path.to_path_buf(),
            len: None,
            max,
        });
    }
    Ok(bytes)
}

/// Opens a state file for reading only (another process's journal or lock): never through a
/// link, never blocking, only a regular file.
pub fn open_state_read(path: &Path) -> Result<File, FsError> {
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(flags(OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC))
        .open(path)
        .map_err(|e| open_error(path, e))?;
    let meta = file.metadata().map_err(|e| io_error(path, e))?;
    if !meta.file_type().is_file() {
        return Err(FsError::NotRegular {
            path: path.to_path_buf(),
            kind: kind_of(meta.file_type()),
        });
    }
    Ok(file)
}

/// Reads a file inside the state folder: never through a link, only a regular file, at most
/// `max` bytes, without blocking on a FIFO.
pub fn read_state_file(path: &Path, max: u64) -> Result<Vec<u8>, FsError> {
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(flags(OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC))
        .open(path)
        .map_err(|e| open_error(path, e))?;
    read_opened(path, &file, max)
}

/// Reads a file the user named (a runbook, a script): links are followed (the user chose
/// the path), but only a regular file is read, at most `max` bytes, without blocking.
pub fn read_user_file(path: &Path, max: u64) -> Result<Vec<u8>, FsError> {
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(flags(OFlags::NONBLOCK | OFlags::CLOEXEC))
        .open(path)
        .map_err(|e| io_error(path, e))?;
    read_opened(path, &file, max)
}

/// What is at `path`, without following a link: `None` when nothing is.
pub fn what_is(path: &Path) -> Option<&'static str> {
    std::fs::symlink_metadata(path)
        .ok()
        .map(|m| kind_of(m.file_type()))
}

/// Writes a whole file readable by its owner only, atomically: a new private file beside it
/// (never an existing one, never through a link), fsynced, renamed over `path` (which replaces
/// a link or a file there rather than writing through it), then the folder fsynced.
pub fn write_private(path: &Path, bytes: &[u8]) -> Result<(), FsError> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "file".into());
    let mut last = None;
    for attempt in 0..16u32 {
        let tmp = dir.join(format!(".{name}.{}.{attempt}.tmp", std::process::id()));
        match create_new(&tmp) {
            Ok(mut f) => {
                let written = f
                    .write_all(bytes)
                    .and_then(|()| f.sync_all())
                    .map_err(|e| io_error(&tmp, e))
                    .and_then(|()| std::fs::rename(&tmp, path).map_err(|e| io_error(path, e)));
                if let Err(e) = written {
                    let _ = std::fs::remove_file(&tmp);
                    return Err(e);
                }
                sync_dir(&dir);
                return Ok(());
            }
            // Left by a crash (or planted): take another name, never write through it.
            Err(e) if e.is_already_exists() || matches!(e, FsError::Link { .. }) => {
                last = Some(e);
            }
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| io_error(path, std::io::Error::other("no free temporary name"))))
}

/// Makes a new directory entry durable. Best effort: some filesystems refuse to fsync a
/// folder, and the files' own fsyncs still hold.
pub fn sync_dir(path: &Path) {
    if let Ok(d) = open_dir(path, false) {
        let _ = d.sync_all();
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn a_planted_link_is_refused_everywhere() {
        let tmp = tempfile::tempdir().unwrap();
        let target = tmp.path().join("target");
        std::fs::write(&target, b"precious").unwrap();
        let link = tmp.path().join("link");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        assert!(matches!(
            create_new(&link),
            Err(FsError::Io { .. }) | Err(FsError::Link { .. })
        ));
        for access in [
            Access::Append,
            Access::ReadWriteCreate,
            Access::AppendCreate,
        ] {
            assert!(
                matches!(open_state_file(&link, access), Err(FsError::Link { .. })),
                "{access:?}"
            );
        }
        assert!(matches!(
            read_state_file(&link, 100),
            Err(FsError::Link { .. })
        ));
        assert!(matches!(
            private_dir(&link, true),
            Err(FsError::Link { .. }) | Err(FsError::NotDir { .. })
        ));
        write_private(&link, b"new").unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"precious");
        assert_eq!(std::fs::read(&link).unwrap(), b"new");
        assert!(
            !std::fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
    }

    #[test]
    fn reads_are_bounded_and_only_of_regular_files() {
        let tmp = tempfile::tempdir().unwrap();
        let f = tmp.path().join("f");
        std::fs::write(&f, vec![b'x'; 100]).unwrap();
        assert_eq!(read_user_file(&f, 100).unwrap().len(), 100);
        assert!(matches!(
            read_user_file(&f, 99),
            Err(FsError::TooBig { .. })
        ));
        assert!(matches!(
            read_user_file(tmp.path(), 100),
            Err(FsError::NotRegular { .. })
        ));
        assert!(matches!(
            read_user_file(Path::new("/dev/zero"), 100),
            Err(FsError::NotRegular { .. })
        ));
    }

    #[test]
    fn folders_others_can_write_are_refused_and_wide_ones_narrowed() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path().join("d");
        std::fs::create_dir(&d).unwrap();
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o777)).unwrap();
        let e = private_dir(&d, false).unwrap_err();
        assert!(matches!(e, FsError::OthersCanWrite { .. }), "{e}");
        assert!(e.to_string().contains("chmod go-w"), "{e}");
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o755)).unwrap();
        private_dir(&d, false).unwrap();
        let mode = std::fs::metadata(&d).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
    }
}
