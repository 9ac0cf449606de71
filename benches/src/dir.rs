//! Where benchmark files live, and the files a raw baseline writes into.
//!
//! Durability only costs what it really costs on the real disk: a tmpfs
//! `fdatasync` returns at once. So benchmark data goes under the workspace's
//! `target/paxos-bench/` (or `$PAXOS_BENCH_DIR`), never a system temp dir,
//! and a warning is printed when that directory is on tmpfs.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// Environment variable that overrides where benchmark files are created.
pub const BENCH_DIR_ENV: &str = "PAXOS_BENCH_DIR";

/// The directory benchmark data goes in: `$PAXOS_BENCH_DIR` if set, else
/// `target/paxos-bench` at the workspace root. Created if missing.
pub fn bench_root() -> io::Result<PathBuf> {
    let root = root_from(std::env::var_os(BENCH_DIR_ENV));
    fs::create_dir_all(&root)?;
    Ok(root)
}

/// The root for a given value of `$PAXOS_BENCH_DIR` (unset or empty: the default).
fn root_from(var: Option<std::ffi::OsString>) -> PathBuf {
    match var {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("target").join("paxos-bench"),
    }
}

/// A fresh temporary directory under [`bench_root`], deleted on drop. Prints
/// a warning (once per call) if it is on tmpfs, where syncs cost nothing.
pub fn bench_dir(label: &str) -> io::Result<tempfile::TempDir> {
    let dir = tempfile::Builder::new().prefix(&format!("{label}-")).tempdir_in(bench_root()?)?;
    if is_tmpfs(dir.path())? {
        eprintln!(
            "warning: {} is on tmpfs: durable writes cost nothing there; set {BENCH_DIR_ENV} to a directory on a real disk",
            dir.path().display()
        );
    }
    Ok(dir)
}

/// Whether `path` is on a tmpfs (or ramfs) file system.
pub fn is_tmpfs(path: &Path) -> io::Result<bool> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).map_err(io::Error::other)?;
    // SAFETY: statfs is plain old data; all-zero bytes are a valid value.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is a NUL-terminated path that outlives the call and `st` is
    // a valid, writable statfs.
    if unsafe { libc::statfs(c.as_ptr(), &mut st) } != 0 {
        return Err(io::Error::last_os_error());
    }
    const TMPFS_MAGIC: i64 = 0x0102_1994;
    const RAMFS_MAGIC: i64 = 0x8584_58f6;
    #[allow(clippy::unnecessary_cast)] // f_type's width differs between targets
    let kind = st.f_type as i64;
    Ok(kind == TMPFS_MAGIC || kind == RAMFS_MAGIC)
}

/// Create `path` as a file of `len` bytes, every byte written with zeros
/// (not `fallocate`d: on ext4 that leaves unwritten extents whose first sync
/// must also commit metadata), synced, and its directory synced. This is
/// what a log segment looks like once prepared; raw baselines write into it.
pub fn prezeroed_file(path: &Path, len: u64) -> io::Result<()> {
    let mut f = OpenOptions::new().create(true).write(true).truncate(true).open(path)?;
    let chunk = vec![0u8; 1 << 20];
    let mut left = len;
    while left > 0 {
        let n = left.min(chunk.len() as u64) as usize;
        f.write_all(&chunk[..n])?;
        left -= n as u64;
    }
    f.sync_all()?;
    sync_parent(path)
}

/// `fsync` the directory holding `path`, making its entry durable.
pub fn sync_parent(path: &Path) -> io::Result<()> {
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    File::open(parent)?.sync_all()
}

/// Drop the clean cached pages of every file under `dir` (recursively) with
/// `posix_fadvise(DONTNEED)`, so the next read comes from the disk. Affects
/// only these files, not the rest of a shared machine's page cache. Returns
/// the number of bytes advised. Files must be synced first (dirty pages stay).
pub fn evict_from_page_cache(dir: &Path) -> io::Result<u64> {
    use std::os::fd::AsRawFd;
    let mut total = 0;
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let ty = entry.file_type()?;
        if ty.is_dir() {
            total += evict_from_page_cache(&entry.path())?;
        } else if ty.is_file() {
            let f = File::open(entry.path())?;
            let len = f.metadata()?.len();
            // SAFETY: the descriptor is open for the duration of the call;
            // fadvise only gives the kernel a hint about it.
            let r = unsafe { libc::posix_fadvise(f.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
            if r != 0 {
                return Err(io::Error::from_raw_os_error(r));
            }
            total += len;
        }
    }
    Ok(total)
}

/// Let the disk go quiet before a measurement: wait (up to `timeout`) until
/// every spare segment the log is pre-zeroing in the background under `dir`
/// (`prepare-*.tmp`, recursively) has reached `segment_size` bytes and sync
/// it ourselves, then `syncfs` the file system, so neither that zeroing nor
/// anyone's dirty pages are written back during the next benchmark (a raw
/// baseline must not pay for the log's background work). Returns the
/// number of spare files it waited for.
pub fn settle(dir: &Path, segment_size: u64, timeout: std::time::Duration) -> io::Result<usize> {
    use std::os::fd::AsRawFd;
    let deadline = std::time::Instant::now() + timeout;
    let mut spares = Vec::new();
    find_spares(dir, &mut spares)?;
    for path in &spares {
        loop {
            match fs::metadata(path) {
                Ok(md) if md.len() >= segment_size => break,
                // Activated (renamed) meanwhile: nothing left to wait for.
                Err(e) if e.kind() == io::ErrorKind::NotFound => break,
                Err(e) => return Err(e),
                Ok(_) if std::time::Instant::now() >= deadline => break,
                Ok(_) => std::thread::sleep(std::time::Duration::from_millis(5)),
            }
        }
        match File::open(path) {
            Ok(f) => f.sync_all()?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    let d = File::open(dir)?;
    // SAFETY: the descriptor is open for the duration of the call.
    if unsafe { libc::syncfs(d.as_raw_fd()) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(spares.len())
}

fn find_spares(dir: &Path, out: &mut Vec<PathBuf>) -> io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let ty = entry.file_type()?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if ty.is_dir() {
            find_spares(&entry.path(), out)?;
        } else if ty.is_file() && name.starts_with("prepare-") && name.ends_with(".tmp") {
            out.push(entry.path());
        }
    }
    Ok(())
}

/// Write requests completed so far by the block device holding `path`
/// (`/sys/dev/block/MAJ:MIN/stat`, field 5). The device is shared with
/// everything else on it: use deltas over many operations, as an estimate.
/// Fails where the file system has no block device (tmpfs, overlay).
pub fn device_writes(path: &Path) -> io::Result<u64> {
    use std::os::unix::fs::MetadataExt;
    let dev = fs::metadata(path)?.dev();
    let (major, minor) = (libc::major(dev), libc::minor(dev));
    let stat = fs::read_to_string(format!("/sys/dev/block/{major}:{minor}/stat"))?;
    stat.split_whitespace()
        .nth(4)
        .and_then(|f| f.parse().ok())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, format!("unexpected block stat: {stat}")))
}

/// Total size in bytes of the files under `dir` (recursively).
pub fn dir_bytes(dir: &Path) -> io::Result<u64> {
    let mut total = 0;
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let ty = entry.file_type()?;
        if ty.is_dir() {
            total += dir_bytes(&entry.path())?;
        } else if ty.is_file() {
            total += entry.metadata()?.len();
        }
    }
    Ok(total)
}

/// Read `len` bytes of `path` at `offset` (for checking what a writer wrote).
pub fn read_at(path: &Path, offset: u64, len: usize) -> io::Result<Vec<u8>> {
    let mut buf = vec![0u8; len];
    File::open(path)?.read_exact_at(&mut buf, offset)?;
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prezeroed_file_has_the_length_and_only_zeros() {
        let dir = bench_dir("test-prezero").unwrap();
        let path = dir.path().join("seg");
        // Not a multiple of the 1 MiB chunk, to cover the short last write.
        let len = (3 << 20) + 4096 + 17;
        // Start from a file with garbage in it: pre-zeroing must overwrite it.
        fs::write(&path, vec![0xAB; 5 << 20]).unwrap();
        prezeroed_file(&path, len).unwrap();
        let bytes = fs::read(&path).unwrap();
        assert_eq!(bytes.len() as u64, len);
        assert!(bytes.iter().all(|&b| b == 0), "found a non-zero byte");
    }

    #[test]
    fn prezeroed_file_allocates_every_block() {
        use std::os::unix::fs::MetadataExt;
        let dir = bench_dir("test-alloc").unwrap();
        let path = dir.path().join("seg");
        prezeroed_file(&path, 1 << 20).unwrap();
        // Written, not sparse: st_blocks (512-byte units) covers the length.
        let md = fs::metadata(&path).unwrap();
        assert!(md.blocks() * 512 >= 1 << 20, "file is sparse: {} blocks", md.blocks());
    }

    #[test]
    fn bench_root_honours_the_environment_variable() {
        assert_eq!(root_from(Some("/srv/bench".into())), PathBuf::from("/srv/bench"));
        let default = root_from(None);
        assert!(default.ends_with("target/paxos-bench"), "{}", default.display());
        assert_eq!(root_from(Some("".into())), default, "an empty variable means unset");
    }

    #[test]
    fn dir_bytes_and_eviction_count_every_file() {
        let dir = bench_dir("test-bytes").unwrap();
        fs::create_dir(dir.path().join("sub")).unwrap();
        fs::write(dir.path().join("a"), vec![1u8; 1000]).unwrap();
        fs::write(dir.path().join("sub").join("b"), vec![2u8; 5000]).unwrap();
        assert_eq!(dir_bytes(dir.path()).unwrap(), 6000);
        assert_eq!(evict_from_page_cache(dir.path()).unwrap(), 6000);
        // Eviction drops cached pages, never data.
        assert_eq!(fs::read(dir.path().join("sub").join("b")).unwrap(), vec![2u8; 5000]);
    }

    #[test]
    fn settle_waits_for_a_spare_being_written_and_finds_it_in_subdirs() {
        let dir = bench_dir("test-settle").unwrap();
        let sub = dir.path().join("wal");
        fs::create_dir(&sub).unwrap();
        let spare = sub.join("prepare-00000000000000000002.tmp");
        fs::write(sub.join("00000000000000000001.wal"), b"not a spare").unwrap();
        let size = 256 << 10;
        let path = spare.clone();
        let writer = std::thread::spawn(move || {
            let mut f = File::create(&path).unwrap();
            for _ in 0..64 {
                f.write_all(&[0u8; 4096]).unwrap();
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
        });
        // Wait until the writer has started, so settle sees a partial spare.
        while !spare.exists() {
            std::thread::yield_now();
        }
        let n = settle(dir.path(), size, std::time::Duration::from_secs(30)).unwrap();
        assert_eq!(n, 1);
        assert_eq!(fs::metadata(&spare).unwrap().len(), size, "settle returned before the spare was complete");
        writer.join().unwrap();
        // Nothing to wait for: returns at once with zero.
        fs::remove_file(&spare).unwrap();
        assert_eq!(settle(dir.path(), size, std::time::Duration::from_secs(1)).unwrap(), 0);
    }

    #[test]
    fn a_synced_write_shows_in_the_device_write_count() {
        let dir = bench_dir("test-devwrites").unwrap();
        let Ok(before) = device_writes(dir.path()) else { return }; // no block device here
        let path = dir.path().join("f");
        let f = OpenOptions::new().create(true).write(true).truncate(true).open(&path).unwrap();
        f.write_all_at(&[5u8; 4096], 0).unwrap();
        f.sync_all().unwrap();
        let after = device_writes(dir.path()).unwrap();
        assert!(after > before, "an fsync'ed write reached the device without a write request ({before} -> {after})");
    }

    #[test]
    fn tmpfs_detection_matches_proc_mounts() {
        let dir = bench_dir("test-tmpfs").unwrap();
        let ours = is_tmpfs(dir.path()).unwrap();
        // /dev/shm is tmpfs on every Linux with glibc; when it exists, check it.
        if Path::new("/dev/shm").is_dir() {
            let mounts = fs::read_to_string("/proc/mounts").unwrap_or_default();
            let shm_is_tmpfs = mounts.lines().any(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                f.len() > 2 && f[1] == "/dev/shm" && f[2] == "tmpfs"
            });
            if shm_is_tmpfs {
                assert!(is_tmpfs(Path::new("/dev/shm")).unwrap());
            }
        }
        let mounts_say = fs_type_from_proc_mounts(dir.path());
        if let Some(t) = mounts_say {
            assert_eq!(ours, t == "tmpfs" || t == "ramfs", "statfs and /proc/mounts disagree ({t})");
        }
    }

    /// The type of the longest mount point that is a prefix of `path`.
    fn fs_type_from_proc_mounts(path: &Path) -> Option<String> {
        let path = fs::canonicalize(path).ok()?;
        let mounts = fs::read_to_string("/proc/mounts").ok()?;
        mounts
            .lines()
            .filter_map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                (f.len() > 2 && path.starts_with(f[1])).then(|| (f[1].len(), f[2].to_string()))
            })
            .max_by_key(|(n, _)| *n)
            .map(|(_, t)| t)
    }
}
