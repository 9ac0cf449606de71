//! Paths given on the command line: one wording per situation, naming the
//! path, in every command.
//!
//! | situation | message |
//! | --- | --- |
//! | nothing at the path | `PATH: does not exist` |
//! | a file where a directory is needed | `PATH: not a directory` |
//! | a directory with no `wal/` in it | `PATH: not a paxos-store store (no wal/ inside)` |
//! | a store another process has open | `PATH: locked (another process has this store open)` |

use std::path::{Component, Path, PathBuf};

/// A path as it is printed: without a leading `./`.
pub fn show(p: &Path) -> String {
    let mut c = p.components();
    let mut rest = c.clone();
    if c.next() == Some(Component::CurDir) && c.clone().next().is_some() {
        rest = c;
    }
    rest.as_path().display().to_string()
}

/// `PATH: does not exist`.
pub fn does_not_exist(p: &Path) -> String {
    format!("{}: does not exist", show(p))
}

/// `PATH: not a directory`.
pub fn not_a_directory(p: &Path) -> String {
    format!("{}: not a directory", show(p))
}

/// `PATH: not a paxos-store store (no wal/ inside)`, naming the stores in
/// its subfolders if it holds some.
pub fn not_a_store(p: &Path) -> String {
    let inside = stores_in(p);
    let mut m = format!("{}: not a paxos-store store (no wal/ inside)", show(p));
    if !inside.is_empty() {
        let names: Vec<String> = inside.iter().map(|s| show(s)).collect();
        m.push_str(&format!("; the stores in it: {}", names.join(", ")));
    }
    m
}

/// `PATH: locked (another process has this store open)`.
pub fn locked(p: &Path) -> String {
    format!("{}: locked (another process has this store open)", show(p))
}

/// Why a store could not be opened, naming it: [`locked`] when another
/// process holds it, else the store's own error after the path.
pub fn open_error(dir: &Path, e: &paxos_acceptor_store::StoreError) -> String {
    if e.is_locked() {
        return locked(dir);
    }
    format!("{}: {e}", show(dir))
}

/// A directory to write in (`demo --dir`, `torture --dir`, `bench DIR`):
/// created if missing, provided its parent exists; a file there is refused.
pub fn dir_to_write(p: &Path) -> Result<(), String> {
    match std::fs::metadata(p) {
        Ok(m) if m.is_dir() => return Ok(()),
        Ok(_) => return Err(not_a_directory(p)),
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(format!("{}: {e}", show(p))),
        Err(_) => {}
    }
    let parent = match p.parent() {
        Some(q) if q.as_os_str().is_empty() => Path::new("."),
        Some(q) => q,
        None => Path::new("/"),
    };
    match std::fs::metadata(parent) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => return Err(format!("{} (the parent of {})", not_a_directory(parent), show(p))),
        Err(_) => return Err(format!("{} (the parent of {}; create it first)", does_not_exist(parent), show(p))),
    }
    std::fs::create_dir(p).map_err(|e| format!("{}: cannot create it: {e}", show(p)))
}

/// Whether `p` looks like a store (has a `wal/` directory).
pub fn is_store(p: &Path) -> bool {
    p.join("wal").is_dir()
}

/// The immediate subfolders of `p` that are stores, sorted.
pub fn stores_in(p: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(p)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|s| s.is_dir() && is_store(s))
        .collect();
    out.sort();
    out
}

/// A store to read or recover: it exists, is a directory, holds `wal/`.
pub fn check_store(p: &Path) -> Result<(), String> {
    match std::fs::metadata(p) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(does_not_exist(p)),
        Err(e) => Err(format!("{}: {e}", show(p))),
        Ok(m) if !m.is_dir() => Err(not_a_directory(p)),
        Ok(_) if !is_store(p) => Err(not_a_store(p)),
        Ok(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn show_drops_a_leading_dot_slash_only() {
        assert_eq!(show(Path::new("./a/b")), "a/b");
        assert_eq!(show(Path::new(".")), ".");
        assert_eq!(show(Path::new("/tmp/x")), "/tmp/x");
        assert_eq!(show(Path::new("a/./b")), "a/./b");
        assert_eq!(show(Path::new("./")), ".");
    }
}
