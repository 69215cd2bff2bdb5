//! `--hash`: the SHA-256 of files (folders walked recursively), read streaming, on all cores.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use sha2::{Digest, Sha256};

/// Read size: large enough for full speed, small enough for many threads.
const BUFFER: usize = 256 * 1024;

/// A file to hash, or a path that could not be listed.
#[derive(Debug)]
pub(crate) struct Hashed {
    pub(crate) path: PathBuf,
    /// The lower-case hex SHA-256, or the OS error.
    pub(crate) result: Result<String, String>,
}

/// Lists the files under `paths`: each a file or a folder, walked recursively in name
/// order; symbolic links to folders are not followed.
pub(crate) fn list(paths: &[PathBuf]) -> Vec<Found> {
    let mut files = Vec::new();
    for path in paths {
        walk(path, true, &mut files);
    }
    files
}

/// What the walk found: a file to hash, or an error to report.
pub(crate) type Found = (PathBuf, Option<String>);

fn walk(path: &Path, top: bool, out: &mut Vec<Found>) {
    // The top-level paths given by the user are followed if links; inside folders only
    // links to files are.
    let metadata = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) => {
            out.push((
                path.to_owned(),
                Some(format!("cannot read {}: {e}", path.display())),
            ));
            return;
        }
    };
    if metadata.is_dir() {
        if !top {
            if let Ok(link) = std::fs::symlink_metadata(path) {
                if link.file_type().is_symlink() {
                    return;
                }
            }
        }
        let entries = match std::fs::read_dir(path) {
            Ok(entries) => entries,
            Err(e) => {
                out.push((
                    path.to_owned(),
                    Some(format!("cannot list {}: {e}", path.display())),
                ));
                return;
            }
        };
        let mut children: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        children.sort();
        for child in children {
            walk(&child, false, out);
        }
    } else if metadata.is_file() {
        out.push((path.to_owned(), None));
    } else if top {
        out.push((
            path.to_owned(),
            Some(format!("{} is not a regular file", path.display())),
        ));
    }
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
                    let Some((path, listed_error)) = files.get(i) else {
                        return;
                    };
                    let result = match listed_error {
                        Some(error) => Err(error.clone()),
                        None => sha256_file(path, &mut buffer)
                            .map_err(|e| format!("cannot read {}: {e}", path.display())),
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
        .map(|((path, _), result)| Hashed {
            path,
            result: result.unwrap_or_else(|| Err("not hashed".to_owned())),
        })
        .collect()
}

/// The SHA-256 of a file, read in pieces (never whole into memory).
pub(crate) fn sha256_file(path: &Path, buffer: &mut [u8]) -> std::io::Result<String> {
    let mut file = File::open(path)?;
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
        let hashed = hash_files(list(&[dir.path().to_owned(), missing.clone()]), &|| {});
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
