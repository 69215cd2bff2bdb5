//! `--hash`: the SHA-256 of files (folders walked recursively), read streaming, on all cores.
//!
//! Only regular files are read, so that nothing given to `--hash` can hang `vt` or feed it
//! without end:
//! - a named pipe, a socket or a device (in a folder, or named directly) is an `io` record
//!   ("not a regular file"); opening a named pipe would wait for a writer forever, and a
//!   device such as `/dev/zero` never ends;
//! - a symbolic link inside a folder is not followed (an `io` record that says so) unless
//!   `--follow-links` is given: a link may lead anywhere, to any file of the machine (whose
//!   hash would then be sent) or to `/proc/self/pagemap` (256 GiB of kernel-made bytes). A path
//!   named on the command line is followed if it is a link (the user chose it), and must
//!   still lead to a regular file or a folder;
//! - on Linux, anything whose real path is under `/proc`, `/sys` or `/dev` is refused: those
//!   pseudo-filesystems make their files up as they are read.
//!
//! The type is checked just before opening and again on the opened file (the same device and
//! inode), so a file swapped for another between the two is refused rather than read. One
//! race is left: a named pipe swapped in at that very moment makes `open` wait (opening with
//! `O_NONBLOCK` would close it, but needs `libc`, which `vt` does not depend on).

use std::collections::HashSet;
use std::fs::{File, Metadata};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use sha2::{Digest, Sha256};

/// Read size: large enough for full speed, small enough for many threads.
const BUFFER: usize = 256 * 1024;

/// Where the kernel makes files up as they are read (Linux): never hashed.
#[cfg(target_os = "linux")]
const PSEUDO_FILESYSTEMS: &[&str] = &["/proc", "/sys", "/dev"];
#[cfg(not(target_os = "linux"))]
const PSEUDO_FILESYSTEMS: &[&str] = &[];

/// A file to hash, or a path that could not be listed.
#[derive(Debug)]
pub(crate) struct Hashed {
    pub(crate) path: PathBuf,
    /// The lower-case hex SHA-256, or why the file was not read.
    pub(crate) result: Result<String, String>,
}

/// What the walk found: a file to hash, or a path refused with the reason.
#[derive(Debug)]
pub(crate) struct Found {
    path: PathBuf,
    /// Whether the path may be a link to follow when it is opened (a path the user named, or
    /// any path under `--follow-links`); else it must be the regular file itself.
    follow: bool,
    /// Why it is not hashed, when the walk already knows.
    refused: Option<String>,
}

/// Lists the files under `paths`: each a file or a folder, walked recursively in name order.
/// Links inside folders are followed only with `follow_links` (each folder then walked once,
/// so a link loop ends).
pub(crate) fn list(paths: &[PathBuf], follow_links: bool) -> Vec<Found> {
    let mut walk = Walk {
        follow_links,
        walked: HashSet::new(),
        out: Vec::new(),
    };
    for path in paths {
        // The user named this path: a link is followed.
        match std::fs::metadata(path) {
            Ok(metadata) => walk.visit(path, &metadata, true),
            Err(e) => walk.refuse(path, format!("cannot read {}: {e}", path.display())),
        }
    }
    walk.out
}

struct Walk {
    follow_links: bool,
    /// Real paths of the folders walked, with `--follow-links`: a link back up is not walked
    /// again.
    walked: HashSet<PathBuf>,
    out: Vec<Found>,
}

impl Walk {
    fn refuse(&mut self, path: &Path, why: String) {
        self.out.push(Found {
            path: path.to_owned(),
            follow: false,
            refused: Some(why),
        });
    }

    /// `path`, whose metadata (links followed when `followed`) is `metadata`. A path reached
    /// by following a link, or named by the user, may lead anywhere: its real path is
    /// checked; a plain entry of a folder checked before is where that folder is.
    fn visit(&mut self, path: &Path, metadata: &Metadata, followed: bool) {
        if !metadata.is_dir() && !metadata.is_file() {
            return self.refuse(path, not_regular(path, metadata));
        }
        if followed {
            if let Some(why) = in_pseudo_filesystem(path) {
                return self.refuse(path, why);
            }
        }
        if metadata.is_dir() {
            self.folder(path);
        } else {
            self.out.push(Found {
                path: path.to_owned(),
                follow: followed,
                refused: None,
            });
        }
    }

    fn folder(&mut self, path: &Path) {
        if self.follow_links {
            if let Ok(real) = std::fs::canonicalize(path) {
                if !self.walked.insert(real.clone()) {
                    return self.refuse(
                        path,
                        format!(
                            "{} is {}, a folder already walked (a link loop?); not walked twice",
                            path.display(),
                            real.display()
                        ),
                    );
                }
            }
        }
        let entries = match std::fs::read_dir(path) {
            Ok(entries) => entries,
            Err(e) => return self.refuse(path, format!("cannot list {}: {e}", path.display())),
        };
        let mut children: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        children.sort();
        for child in children {
            match std::fs::symlink_metadata(&child) {
                Err(e) => self.refuse(&child, format!("cannot read {}: {e}", child.display())),
                Ok(link) if link.file_type().is_symlink() => {
                    if !self.follow_links {
                        self.refuse(&child, link_not_followed(&child));
                        continue;
                    }
                    match std::fs::metadata(&child) {
                        Ok(target) => self.visit(&child, &target, true),
                        Err(e) => {
                            self.refuse(&child, format!("cannot read {}: {e}", child.display()))
                        }
                    }
                }
                Ok(metadata) => self.visit(&child, &metadata, false),
            }
        }
    }
}

/// Why a link inside a folder is not read, with where it leads and how to read it anyway.
fn link_not_followed(path: &Path) -> String {
    let target = match std::fs::read_link(path) {
        Ok(target) => format!(" to {}", target.display()),
        Err(_) => String::new(),
    };
    // A broken link says so: the user may be after the missing file rather than the link.
    let state = match std::fs::metadata(path) {
        Ok(_) => String::new(),
        Err(e) => format!(" ({e})"),
    };
    format!(
        "{} is a symbolic link{target}{state}: links inside a folder are not followed; give \
         its target to --hash, or add --follow-links",
        path.display()
    )
}

/// Why something that is neither a file nor a folder is not read.
fn not_regular(path: &Path, metadata: &Metadata) -> String {
    #[cfg(unix)]
    let what = {
        use std::os::unix::fs::FileTypeExt;
        let kind = metadata.file_type();
        if kind.is_fifo() {
            "a named pipe (FIFO)"
        } else if kind.is_socket() {
            "a socket"
        } else if kind.is_char_device() {
            "a character device"
        } else if kind.is_block_device() {
            "a block device"
        } else if kind.is_symlink() {
            "a symbolic link"
        } else {
            "something else"
        }
    };
    #[cfg(not(unix))]
    let what = if metadata.file_type().is_symlink() {
        "a symbolic link"
    } else {
        "something else"
    };
    format!(
        "{} is {what}, not a regular file; only regular files are hashed",
        path.display()
    )
}

/// On Linux, why a path whose real path is in `/proc`, `/sys` or `/dev` is not read: their
/// files are made up as they are read, some without end (`/proc/self/pagemap`: 256 GiB).
/// A path that cannot be resolved is left to the checks that follow.
fn in_pseudo_filesystem(path: &Path) -> Option<String> {
    if PSEUDO_FILESYSTEMS.is_empty() {
        return None;
    }
    let real = std::fs::canonicalize(path).ok()?;
    let root = PSEUDO_FILESYSTEMS
        .iter()
        .find(|root| real.starts_with(root))?;
    Some(format!(
        "{} is {}, in {root}, a pseudo-filesystem whose files the kernel makes up as they are \
         read; not hashed",
        path.display(),
        real.display()
    ))
}

/// Hashes the listed files on every core; `progress` is called once per file.
pub(crate) fn hash_files(files: Vec<Found>, progress: &(dyn Fn() + Sync)) -> Vec<Hashed> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(files.len().max(1));
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<Result<String, String>>>> =
        Mutex::new((0..files.len()).map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                let mut buffer = vec![0u8; BUFFER];
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(found) = files.get(i) else {
                        return;
                    };
                    let result = match &found.refused {
                        Some(why) => Err(why.clone()),
                        None => open_regular(&found.path, found.follow).and_then(|file| {
                            sha256(file, &mut buffer)
                                .map_err(|e| format!("cannot read {}: {e}", found.path.display()))
                        }),
                    };
                    results.lock().unwrap_or_else(|e| e.into_inner())[i] = Some(result);
                    progress();
                }
            });
        }
    });
    let results = results.into_inner().unwrap_or_else(|e| e.into_inner());
    files
        .into_iter()
        .zip(results)
        .map(|(found, result)| Hashed {
            path: found.path,
            result: result.unwrap_or_else(|| Err("not hashed".to_owned())),
        })
        .collect()
}

/// Opens `path` if it is a regular file (after following a link only when `follow`), checked
/// just before opening, since the listing may be minutes old, and again on the opened file.
fn open_regular(path: &Path, follow: bool) -> Result<File, String> {
    let cannot_read = |e: std::io::Error| format!("cannot read {}: {e}", path.display());
    let checked = if follow {
        std::fs::metadata(path)
    } else {
        std::fs::symlink_metadata(path)
    }
    .map_err(cannot_read)?;
    if checked.file_type().is_symlink() {
        return Err(link_not_followed(path));
    }
    if !checked.is_file() {
        return Err(not_regular(path, &checked));
    }
    let file = File::open(path).map_err(cannot_read)?;
    let opened = file.metadata().map_err(cannot_read)?;
    if !opened.is_file() || !same_inode(&checked, &opened) {
        return Err(format!(
            "{} changed while it was being opened; not hashed",
            path.display()
        ));
    }
    Ok(file)
}

/// Whether two metadata are of one file (on Unix; elsewhere no cheap way is known, and both
/// were checked to be regular files).
fn same_inode(a: &Metadata, b: &Metadata) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        (a.dev(), a.ino()) == (b.dev(), b.ino())
    }
    #[cfg(not(unix))]
    {
        let _ = (a, b);
        true
    }
}

/// The SHA-256 of an opened file, read in pieces (never whole into memory).
fn sha256(mut file: File, buffer: &mut [u8]) -> std::io::Result<String> {
    let mut hasher = Sha256::new();
    loop {
        match file.read(buffer) {
            Ok(0) => break,
            Ok(n) => hasher.update(&buffer[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(hex(&hasher.finalize()))
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 15)] as char);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_a_tree_in_name_order_and_reports_what_it_cannot_read() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("b.txt"), b"").unwrap();
        std::fs::write(dir.path().join("sub/a.txt"), b"abc").unwrap();
        let missing = dir.path().join("missing");
        let hashed = hash_files(
            list(&[dir.path().to_owned(), missing.clone()], false),
            &|| {},
        );
        let got: Vec<(&Path, Result<&str, &str>)> = hashed
            .iter()
            .map(|h| {
                (
                    h.path.as_path(),
                    h.result.as_deref().map_err(String::as_str),
                )
            })
            .collect();
        assert_eq!(got.len(), 3);
        assert_eq!(got[0].0, dir.path().join("b.txt"));
        assert_eq!(
            got[0].1,
            Ok("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        );
        assert_eq!(
            got[1].1,
            Ok("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        );
        assert_eq!(got[2].0, missing);
        assert!(got[2].1.unwrap_err().contains("No such file"));
    }
}
