//! Tests of the simulated disk itself ([`MemStorage`] under [`DiskModel`]):
//! each Linux behaviour the model claims, by name, with seeds.

use paxos_wal::storage::{CrashKind, DiskModel, MemStorage, OpenOptions, Storage, PAGE_SIZE};
use rand::rngs::StdRng;
use rand::SeedableRng;
use std::io;
use std::path::Path;

fn rng(seed: u64) -> StdRng {
    StdRng::seed_from_u64(seed)
}

const DIR: &str = "/d";

fn setup(model: DiskModel, seed: u64) -> MemStorage {
    let mem = MemStorage::with_model(model, seed);
    mem.create_dir_all(Path::new(DIR)).unwrap();
    mem
}

fn pages(n: usize, fill: u8) -> Vec<u8> {
    vec![fill; n * PAGE_SIZE]
}

/// A synced file of `n` pages of 1s, then `n` pages of 2s written over it (dirty).
fn dirty_file(mem: &MemStorage, n: usize) -> std::sync::Arc<dyn paxos_wal::storage::StorageFile> {
    let f = mem.open(&Path::new(DIR).join("f"), OpenOptions::create()).unwrap();
    f.write_all_at(&pages(n, 1), 0).unwrap();
    f.sync_all().unwrap();
    mem.sync_dir(Path::new(DIR)).unwrap();
    f.write_all_at(&pages(n, 2), 0).unwrap();
    f
}

fn page_fills(bytes: &[u8]) -> Vec<u8> {
    bytes.chunks(PAGE_SIZE).map(|p| p[0]).collect()
}

#[test]
fn fsyncgate_a_failed_sync_writes_a_seeded_subset_and_later_syncs_lie() {
    let path = Path::new(DIR).join("f");
    let mut seen_partial = false;
    for seed in 0..20 {
        let mem = setup(DiskModel::linux(), seed);
        let f = dirty_file(&mem, 16);
        mem.fail_sync(0);
        let e = f.sync_data().unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EIO));
        // Reported once: the next sync succeeds, and writes nothing.
        let disk = mem.read_disk(&path).unwrap();
        f.sync_data().unwrap();
        assert_eq!(mem.read_disk(&path).unwrap(), disk, "seed {seed}: a later sync wrote lying pages");
        let on_disk = page_fills(&disk);
        let written = on_disk.iter().filter(|b| **b == 2).count();
        seen_partial |= written > 0 && written < 16;
        // The cache still shows the new bytes; the unwritten pages are lying.
        assert_eq!(mem.read_file(&path).unwrap(), pages(16, 2));
        assert_eq!(mem.lying_pages(), 16 - written as u64, "seed {seed}");
        let c = mem.counts();
        assert_eq!((c.failed_syncs, c.partial_writebacks, c.lying_pages), (1, 1, 16 - written as u64));
        // Eviction makes reads return the disk.
        drop(f);
        assert_eq!(mem.evict_all(), 16 - written as u64);
        assert_eq!(mem.read_file(&path).unwrap(), disk, "seed {seed}");
        assert_eq!(mem.lying_pages(), 0);
    }
    assert!(seen_partial, "some seed wrote back part of the pages");
}

#[test]
fn gentle_a_failed_sync_writes_nothing_and_nothing_is_evicted_by_itself() {
    let path = Path::new(DIR).join("f");
    let mem = setup(DiskModel::gentle(), 0);
    let f = dirty_file(&mem, 4);
    mem.fail_sync(0);
    f.sync_data().unwrap_err();
    f.sync_data().unwrap();
    assert_eq!(page_fills(&mem.read_disk(&path).unwrap()), vec![1; 4]);
    drop(f);
    mem.crash(CrashKind::Process, &mut rng(1));
    assert_eq!(mem.read_file(&path).unwrap(), pages(4, 2), "no eviction at a gentle process crash");
    assert_eq!(mem.lying_pages(), 4);
    assert_eq!(mem.counts().partial_writebacks, 0);
}

#[test]
fn lying_pages_are_evicted_at_a_process_crash_and_gone_at_power_loss() {
    let path = Path::new(DIR).join("f");
    let model = DiskModel { failed_sync_writes_subset: false, evict_on_process_crash: 1.0, ..DiskModel::linux() };
    let mem = setup(model, 0);
    let f = dirty_file(&mem, 4);
    mem.fail_sync(0);
    f.sync_data().unwrap_err();
    drop(f);
    mem.crash(CrashKind::Process, &mut rng(1));
    assert_eq!(mem.read_file(&path).unwrap(), pages(4, 1), "the same boot reads the old bytes again");
    assert_eq!(mem.counts().evicted_pages, 4);

    let mem = setup(DiskModel { evict_on_process_crash: 0.0, ..model }, 0);
    let f = dirty_file(&mem, 4);
    mem.fail_sync(0);
    f.sync_data().unwrap_err();
    drop(f);
    mem.crash(CrashKind::PowerLoss, &mut rng(1));
    assert_eq!(mem.read_file(&path).unwrap(), pages(4, 1), "a power loss keeps the disk");
}

#[test]
fn a_rewritten_lying_page_is_dirty_again_and_synced_normally() {
    let path = Path::new(DIR).join("f");
    let model = DiskModel { failed_sync_writes_subset: false, ..DiskModel::linux() };
    let mem = setup(model, 0);
    let f = dirty_file(&mem, 2);
    mem.fail_sync(0);
    f.sync_data().unwrap_err();
    f.write_all_at(&pages(1, 3), 0).unwrap();
    f.sync_data().unwrap();
    assert_eq!(page_fills(&mem.read_disk(&path).unwrap()), vec![3, 1]);
    assert_eq!(mem.lying_pages(), 1);
}

#[test]
fn a_failed_dsync_write_stays_in_the_cache_clean_but_not_on_disk() {
    let path = Path::new(DIR).join("f");
    let model = DiskModel { failed_sync_writes_subset: false, ..DiskModel::linux() };
    let mem = setup(model, 0);
    drop(dirty_file(&mem, 2));
    let f = mem.open(&path, OpenOptions { create: false, dsync: true }).unwrap();
    mem.fail_sync(0);
    let e = f.write_all_at(&pages(1, 7), PAGE_SIZE as u64).unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc::EIO));
    assert_eq!(page_fills(&mem.read_file(&path).unwrap()), vec![2, 7], "in the cache");
    assert_eq!(page_fills(&mem.read_disk(&path).unwrap()), vec![1, 1], "not on disk");
    assert_eq!(mem.lying_pages(), 1);

    // Gentle: the failed O_DSYNC write writes nothing at all.
    let mem = setup(DiskModel::gentle(), 0);
    drop(dirty_file(&mem, 2));
    let f = mem.open(&path, OpenOptions { create: false, dsync: true }).unwrap();
    mem.fail_sync(0);
    f.write_all_at(&pages(1, 7), PAGE_SIZE as u64).unwrap_err();
    assert_eq!(page_fills(&mem.read_file(&path).unwrap()), vec![2, 2]);
}

#[test]
fn errseq_a_writeback_error_is_reported_once_by_the_next_sync() {
    let path = Path::new(DIR).join("f");
    let mem = setup(DiskModel::linux(), 0);
    let f = dirty_file(&mem, 8);
    f.sync_data().unwrap();
    // Nothing dirty, yet the next sync reports the background failure.
    mem.fail_writeback(&path, &mut rng(3)).unwrap();
    assert_eq!(f.sync_data().unwrap_err().raw_os_error(), Some(libc::EIO));
    f.sync_data().unwrap();
    // With dirty pages: some are lost (clean, unwritten), the rest are
    // written by the sync that reports the error.
    f.write_all_at(&pages(8, 5), 0).unwrap();
    mem.fail_writeback(&path, &mut rng(4)).unwrap();
    let lying = mem.lying_pages();
    assert!(lying > 0 && lying < 8, "seeded subset lost: {lying}");
    assert!(f.sync_data().is_err());
    let disk = page_fills(&mem.read_disk(&path).unwrap());
    assert_eq!(disk.iter().filter(|b| **b == 5).count() as u64, 8 - lying);
    assert_eq!(mem.counts().writeback_errors, 2);
    // An unreported error survives a process crash, not a power loss.
    mem.fail_writeback(&path, &mut rng(5)).unwrap();
    drop(f);
    mem.crash(CrashKind::Process, &mut rng(0));
    let f = mem.open(&path, OpenOptions::existing()).unwrap();
    assert!(f.sync_data().is_err());
    mem.fail_writeback(&path, &mut rng(5)).unwrap();
    drop(f);
    mem.crash(CrashKind::PowerLoss, &mut rng(0));
    mem.open(&path, OpenOptions::existing()).unwrap().sync_data().unwrap();
}

#[test]
fn a_directory_is_durable_only_once_its_parent_is_synced() {
    // create_dir_all syncs the parent: the directory survives a power loss.
    let mem = MemStorage::with_model(DiskModel::linux(), 0);
    mem.create_dir_all(Path::new("/a/b")).unwrap();
    mem.put_file(Path::new("/a/b/f"), b"x").unwrap();
    mem.crash(CrashKind::PowerLoss, &mut rng(0));
    assert_eq!(mem.read_file(Path::new("/a/b/f")).unwrap(), b"x");

    // A crash between the mkdir and the parent's sync can lose the
    // directory, and every synced file in it, at the next power loss.
    let mut lost = 0;
    for seed in 0..16 {
        let mem = MemStorage::with_model(DiskModel::linux(), 0);
        mem.create_dir_all(Path::new("/a")).unwrap();
        mem.crash_after_ops(1); // the mkdir of /a/b, not the sync of /a
        assert!(mem.create_dir_all(Path::new("/a/b")).is_err());
        mem.crash(CrashKind::Process, &mut rng(seed));
        // The restarted process finds the directory and uses it.
        mem.put_file(Path::new("/a/b/f"), b"x").unwrap();
        mem.crash(CrashKind::PowerLoss, &mut rng(seed));
        if mem.list(Path::new("/a/b")).is_err() {
            lost += 1;
        }
    }
    assert!(lost > 0 && lost < 16, "lost {lost} of 16");

    // ... unless the reopening process syncs the parent of the existing
    // directory, as create_dir_all does.
    let mem = MemStorage::with_model(DiskModel::linux(), 0);
    mem.create_dir_all(Path::new("/a")).unwrap();
    mem.crash_after_ops(1);
    assert!(mem.create_dir_all(Path::new("/a/b")).is_err());
    mem.crash(CrashKind::Process, &mut rng(0));
    mem.create_dir_all(Path::new("/a/b")).unwrap();
    mem.put_file(Path::new("/a/b/f"), b"x").unwrap();
    for seed in 0..8 {
        mem.crash(CrashKind::PowerLoss, &mut rng(seed));
        assert_eq!(mem.read_file(Path::new("/a/b/f")).unwrap(), b"x");
    }
    // Gentle: directories are durable at once, and cost no operation.
    let mem = MemStorage::new();
    mem.create_dir_all(Path::new("/a/b")).unwrap();
    assert_eq!(mem.op_count(), 0);
}

#[test]
fn a_power_loss_undoes_any_subset_of_entry_operations_each_consistently() {
    let d = Path::new(DIR);
    let mut outcomes = std::collections::BTreeSet::new();
    for seed in 0..64 {
        let mem = setup(DiskModel::linux(), seed);
        mem.put_file(&d.join("old"), b"old").unwrap();
        // Unsynced: create a, create b, rename tmp over old.
        for name in ["a", "b", "tmp"] {
            let f = mem.open(&d.join(name), OpenOptions::create()).unwrap();
            f.write_all_at(name.as_bytes(), 0).unwrap();
            f.sync_all().unwrap();
        }
        mem.rename(&d.join("tmp"), &d.join("old")).unwrap();
        mem.crash(CrashKind::PowerLoss, &mut rng(seed));
        let mut names = mem.list(d).unwrap();
        names.sort();
        // The rename happened or not: "old" holds exactly one of the two.
        let old = mem.read_file(&d.join("old")).unwrap();
        assert!(old == b"old" || old == b"tmp", "seed {seed}: {old:?}");
        if old == b"tmp" {
            assert!(!names.contains(&"tmp".to_string()), "seed {seed}: renamed yet still there");
        }
        outcomes.insert(names.join(","));
    }
    // Not only prefixes: "b" survives without "a" for some seed.
    assert!(outcomes.iter().any(|o| o.contains('b') && !o.starts_with('a')), "{outcomes:?}");

    // Gentle: a prefix.
    for seed in 0..32 {
        let mem = setup(DiskModel::gentle(), seed);
        for name in ["a", "b"] {
            mem.open(&d.join(name), OpenOptions::create()).unwrap();
        }
        mem.crash(CrashKind::PowerLoss, &mut rng(seed));
        let names = mem.list(d).unwrap();
        assert!(!names.contains(&"b".to_string()) || names.contains(&"a".to_string()), "seed {seed}: not a prefix");
    }
}

#[test]
fn files_can_be_lost_truncated_zeroed_or_replaced_between_runs() -> io::Result<()> {
    let d = Path::new(DIR);
    let mem = setup(DiskModel::linux(), 0);
    for name in ["1", "2", "3", "4"] {
        mem.put_file(&d.join(name), &[9; 100])?;
    }
    mem.remove_file(&d.join("1"))?;
    mem.truncate_file(&d.join("2"), 10)?;
    mem.zero_file(&d.join("3"))?;
    mem.replace_with_dir(&d.join("4"))?;
    for seed in 0..2 {
        let mut names = mem.list(d)?;
        names.sort();
        assert_eq!(names, ["2", "3"]);
        assert_eq!(mem.read_file(&d.join("2"))?, vec![9; 10]);
        assert_eq!(mem.read_file(&d.join("3"))?, vec![0; 100]);
        let e = mem.open(&d.join("4"), OpenOptions::create()).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EISDIR));
        assert_eq!(mem.open(&d.join("1"), OpenOptions::existing()).unwrap_err().kind(), io::ErrorKind::NotFound);
        // Durable: the same after a power loss.
        mem.crash(CrashKind::PowerLoss, &mut rng(seed));
    }
    let c = mem.counts();
    assert_eq!((c.files_removed, c.files_truncated, c.files_zeroed, c.files_replaced_with_dir), (1, 1, 1, 1));
    Ok(())
}

#[test]
fn garbage_in_torn_sectors_is_off_by_default_and_counted_when_on() {
    let run = |model: DiskModel| {
        let mem = setup(model, 0);
        let f = dirty_file(&mem, 32);
        drop(f);
        mem.crash(CrashKind::PowerLoss, &mut rng(11));
        let bytes = mem.read_file(&Path::new(DIR).join("f")).unwrap();
        (mem.counts().garbage_sectors, bytes.iter().all(|b| *b == 1 || *b == 2))
    };
    assert_eq!(run(DiskModel::linux()), (0, true));
    let (garbage, clean) = run(DiskModel { garbage_in_torn_sectors: 1.0, ..DiskModel::linux() });
    assert!(garbage > 0 && !clean);
}

#[test]
fn the_same_seeds_give_the_same_disk() {
    let run = |seed: u64| {
        let mem = setup(DiskModel::linux(), seed);
        let f = dirty_file(&mem, 16);
        mem.fail_sync(0);
        let _ = f.sync_data();
        f.write_all_at(&pages(4, 3), 0).unwrap();
        drop(f);
        mem.crash(CrashKind::Process, &mut rng(seed));
        let cache = mem.read_file(&Path::new(DIR).join("f")).unwrap();
        mem.crash(CrashKind::PowerLoss, &mut rng(seed));
        (cache, mem.read_file(&Path::new(DIR).join("f")).unwrap(), mem.counts())
    };
    assert_eq!(run(5), run(5));
    assert_ne!(run(5), run(6));
}

#[test]
fn fs_create_dir_all_creates_nested_directories_and_accepts_existing_ones() {
    use paxos_wal::storage::FsStorage;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("a/b/c");
    FsStorage.create_dir_all(&dir).unwrap();
    assert!(dir.is_dir());
    FsStorage.create_dir_all(&dir).unwrap();
    std::fs::write(tmp.path().join("file"), b"x").unwrap();
    assert!(FsStorage.create_dir_all(&tmp.path().join("file/d")).is_err());
}
