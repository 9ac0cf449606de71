//! The fuzz targets of `paxos_store_testkit::store`, run on stable over
//! the checked-in seed corpora in `fuzz/seeds/<target>/` (which also hold
//! every reproducer the fuzzer found). Each seed must pass every property,
//! and each corpus must reach the outcomes it is meant to cover.
//!
//! The seed files are written by `write_seed_corpora` (ignored; run it with
//! `cargo test -p paxos-store-testkit --test store_fuzz_seeds -- --ignored`
//! after changing an input format) from the descriptions below; reproducers
//! the fuzzer found (`regress-*`) are added by hand and never rewritten.

use paxos_acceptor_store::{AcceptorStore, Ballot, GroupId, Op, Slot, StoreOptions};
use paxos_snapshot::format::{SnapshotHeader, FOOTER_LEN, HEADER_LEN};
use paxos_store_testkit::store::{
    base_store_image, base_store_image_of, check_checkpoint_image, check_open_damaged_store, check_ops_with_crashes,
    check_record_codec, store_open_input, store_open_input_shaped, Death, FuzzOp, Step, StoreOutcome, StoreShape,
    Width, MAX_STEPS,
};
use paxos_store_testkit::wal::{Mutation, NameSpec};
use paxos_wal::format::{decode_record, frame_len, SegmentHeader, HEADER_PAGE};
use paxos_wal::storage::MemStorage;
use paxos_wal::CorruptionPolicy::{Salvage, Strict, TolerateTornTail};
use paxos_wal::{Wal, WalOptions};
use std::collections::BTreeSet;
use std::path::Path;

use paxos_store_testkit::wal::seed_files as seeds;

fn with_mode(mode: u8, body: &[u8]) -> Vec<u8> {
    let mut v = vec![mode];
    v.extend_from_slice(body);
    v
}

/// The payload of a snapshot file.
fn snapshot_payload(file: &[u8]) -> Vec<u8> {
    let h = SnapshotHeader::decode(file[..HEADER_LEN].try_into().unwrap()).unwrap();
    let start = h.payload_offset() as usize;
    file[start..file.len() - FOOTER_LEN].to_vec()
}

/// Log records and a checkpoint image of a small store, written through the API.
fn store_bytes() -> (Vec<Vec<u8>>, Vec<u8>, Vec<u8>) {
    let mem = MemStorage::new();
    let mut opts = StoreOptions::small(mem.shared());
    opts.log.segment_size = 8 << 10;
    let (s, _) = AcceptorStore::open("/s", opts).unwrap();
    let empty = snapshot_payload(&{
        let info = s.checkpoint().unwrap();
        mem.read_file(&Path::new("/s/checkpoints").join(paxos_snapshot::format::snapshot_name(info.position))).unwrap()
    });
    let (g, b) = (GroupId(3), Ballot::new(2, 1));
    s.promise(g, b, Slot(0)).unwrap();
    s.accept(g, Slot(0), b, b"x = 1").unwrap();
    s.accept(g, Slot(1), b, b"").unwrap();
    s.mark_chosen(g, Slot(0)).unwrap();
    s.truncate_below(g, Slot(1)).unwrap();
    s.apply_batch(&[
        Op::Promise { group: GroupId(9), ballot: Ballot::new(5, 2), from_slot: Slot(4) },
        Op::Accept { group: GroupId(9), slot: Slot(4), ballot: Ballot::new(5, 2), value: vec![7; 300] },
        Op::MarkChosen { group: GroupId(9), slot: Slot(4) },
    ])
    .unwrap();
    s.remove_group(GroupId(9)).unwrap();
    s.accept(GroupId(u64::MAX - 1), Slot(u64::MAX), Ballot::new(u64::MAX, u64::MAX), b"edges").unwrap();
    let info = s.checkpoint().unwrap();
    let image = snapshot_payload(
        &mem.read_file(&Path::new("/s/checkpoints").join(paxos_snapshot::format::snapshot_name(info.position)))
            .unwrap(),
    );
    // The store does not hand out its log: read the records by opening the
    // log itself once the store is closed.
    s.close().unwrap();
    let wal_opts = WalOptions { segment_size: 8 << 10, ..WalOptions::small(mem.shared()) };
    let (wal, _) = Wal::open("/s/wal", wal_opts).unwrap();
    let records = wal.iter_from(1).unwrap().map(|r| r.unwrap().to_vec()).collect();
    (records, image, empty)
}

fn codec_seeds() -> Vec<(String, Vec<u8>)> {
    let (records, _, _) = store_bytes();
    let mut out: Vec<(String, Vec<u8>)> =
        records.iter().enumerate().map(|(i, r)| (format!("record-{i}"), with_mode(0, r))).collect();
    let batch = records.iter().max_by_key(|r| r.len()).unwrap();
    // A value length that runs past the record, checksum resealed.
    let mut long = batch.clone();
    long[8 + 4] = 0xFF;
    out.push(("batch-long-value-resealed".into(), with_mode(1, &long)));
    let mut count = batch.clone();
    count[0] += 1;
    out.push(("batch-count-too-high".into(), with_mode(1, &count)));
    let mut kind = batch.clone();
    kind[8] = 7;
    out.push(("unknown-kind-resealed".into(), with_mode(1, &kind)));
    let mut reserved = batch.clone();
    reserved[9] = 1;
    out.push(("reserved-byte-resealed".into(), with_mode(1, &reserved)));
    out.push(("empty-record".into(), with_mode(0, &[0; 8])));
    out.push(("short".into(), with_mode(0, &batch[..20])));
    out
}

fn image_seeds() -> Vec<(String, Vec<u8>)> {
    let (_, image, empty) = store_bytes();
    let base = base_store_image();
    let mut out = vec![("small-store".to_string(), image.clone()), ("no-groups".to_string(), empty)];
    for (i, (_, bytes)) in base.files.iter().filter(|(p, _)| p.to_string_lossy().ends_with(".snap")).enumerate() {
        out.push((format!("base-checkpoint-{i}"), snapshot_payload(bytes)));
    }
    // The first slot's chosen byte (magic 8, group 48, slot fields 24)
    // set to 2: decodes, but is not what the encoder writes.
    let mut chosen = image.clone();
    assert_eq!(chosen[8 + 48 + 24], 0);
    chosen[8 + 48 + 24] = 2;
    out.push(("chosen-byte-2".into(), chosen));
    out.push(("truncated".into(), image[..image.len() - 3].to_vec()));
    out.push(("version-1".into(), version_1_image()));
    out
}

/// A version-1 image (no shard positions, groups by id), as stores wrote
/// before checkpoints copied a shard at a time: two groups, one slot.
fn version_1_image() -> Vec<u8> {
    let u64s = |v: &[u64]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
    let mut v1 = b"PXACKP01".to_vec();
    v1.extend(u64s(&[2]));
    // id, promised round and node, promised_from, first_live; slots, metas
    v1.extend(u64s(&[3, 2, 1, 0, 0]));
    v1.extend([1u32.to_le_bytes(), 0u32.to_le_bytes()].concat());
    // slot, round, node; chosen, reserved; value_len; value
    v1.extend(u64s(&[4, 2, 1]));
    v1.extend([1, 0, 0, 0]);
    v1.extend(3u32.to_le_bytes());
    v1.extend(b"abc");
    v1.extend(u64s(&[9, 5, 0, 0, 1]));
    v1.extend([0u32.to_le_bytes(), 0u32.to_le_bytes()].concat());
    v1
}

/// Offsets of the record frames of a segment image.
fn frame_offsets(seg: &[u8]) -> Vec<u16> {
    let seq = SegmentHeader::decode(seg).unwrap().seq.get();
    let mut o = HEADER_PAGE as usize;
    let mut out = Vec::new();
    while let Ok(f) = decode_record(&seg[o..], seq) {
        out.push(o as u16);
        o += frame_len(f.len as usize) as usize;
    }
    out
}

fn open_seeds() -> Vec<(String, Vec<u8>)> {
    use Mutation::*;
    // Files: 0 and 1 the checkpoints (older, newer), 2.. the log segments.
    let files = &base_store_image().files;
    let names: Vec<String> = files.iter().map(|(p, _)| p.file_name().unwrap().to_string_lossy().into()).collect();
    assert!(names[0].ends_with(".snap") && names[1].ends_with(".snap") && names[2].ends_with(".wal"), "{names:?}");
    // The last segment (the log's MANIFEST sorts after the segments).
    let last = files.iter().rposition(|(p, _)| p.to_string_lossy().ends_with(".wal")).unwrap() as u8;
    let last_frames = frame_offsets(&files[last as usize].1);
    let last_record = *last_frames.last().unwrap();
    let in_record = |file: u8, at: u16| FlipBit { file, offset: at + 60, bit: 1 };
    let seeds: Vec<(&str, Vec<u8>)> = vec![
        ("clean", store_open_input(TolerateTornTail, &[], 1)),
        ("clean-salvage", store_open_input(Salvage, &[], 2)),
        ("clean-strict", store_open_input(Strict, &[], 3)),
        ("flip-newest-checkpoint", store_open_input(TolerateTornTail, &[FlipBit { file: 1, offset: 900, bit: 0 }], 4)),
        (
            "flip-both-checkpoints",
            store_open_input(
                TolerateTornTail,
                &[FlipBit { file: 0, offset: 900, bit: 0 }, FlipBit { file: 1, offset: 70, bit: 5 }],
                5,
            ),
        ),
        ("remove-newest-checkpoint", store_open_input(Salvage, &[Remove { file: 1 }], 6)),
        ("flip-log-record", store_open_input(TolerateTornTail, &[in_record(3, 4096)], 7)),
        ("flip-log-record-salvage", store_open_input(Salvage, &[in_record(3, 4096)], 8)),
        ("zero-last-segment", store_open_input(TolerateTornTail, &[Zero { file: last, offset: 0, len: 8192 }], 9)),
        ("remove-last-segment", store_open_input(TolerateTornTail, &[Remove { file: last }], 10)),
        ("remove-first-segment", store_open_input(TolerateTornTail, &[Remove { file: 2 }], 11)),
        ("truncate-segment", store_open_input(TolerateTornTail, &[Truncate { file: 3, len: 5000 }], 12)),
        (
            "watermark-and-last-record",
            store_open_input(
                TolerateTornTail,
                &[Zero { file: last, offset: 512, len: 600 }, in_record(last, last_record)],
                13,
            ),
        ),
        (
            "plant-files",
            store_open_input(
                TolerateTornTail,
                &[
                    AddFile { dir: 0, name: NameSpec::Garbage(1), bytes: b"notes".to_vec(), zeros: 0 },
                    AddFile { dir: 1, name: NameSpec::Temp { number: 3 }, bytes: vec![1; 9], zeros: 100 },
                    AddFile { dir: 0, name: NameSpec::Temp { number: 8 }, bytes: vec![], zeros: 8192 },
                ],
                14,
            ),
        ),
        (
            "checkpoint-copied-to-newer-name",
            store_open_input(TolerateTornTail, &[Duplicate { file: 0, name: NameSpec::Sibling { number: 60 } }], 15),
        ),
        (
            "segment-copied-to-newer-name",
            store_open_input(Salvage, &[Duplicate { file: 3, name: NameSpec::Sibling { number: 200 } }], 16),
        ),
        (
            "read-error-checkpoint",
            store_open_input(TolerateTornTail, &[FailReads { file: 1, offset: 1000, len: 10 }], 17),
        ),
        ("read-error-log", store_open_input(Salvage, &[FailReads { file: 3, offset: 4500, len: 10 }], 18)),
        (
            "misdirected-record",
            store_open_input(
                Salvage,
                &[Copy { from: 2, from_offset: 4096, to: 3, to_offset: 4096 + 512, len: 300 }],
                19,
            ),
        ),
    ];
    let mut out: Seeds = seeds.into_iter().map(|(n, b)| (n.to_string(), b)).collect();
    out.extend(long_open_seeds());
    out
}

/// Longer `store_open` seeds: up to the eight mutations an input carries,
/// spread over both checkpoints and every log segment of the base store at
/// once (the short seeds above damage one or two places), so the fuzzer
/// starts from inputs that reach every file.
fn long_open_seeds() -> Seeds {
    use Mutation::*;
    let files = &base_store_image().files;
    let idx = |suffix: &str| -> Vec<u8> {
        files
            .iter()
            .enumerate()
            .filter(|(_, (p, _))| p.to_string_lossy().ends_with(suffix))
            .map(|(i, _)| i as u8)
            .collect()
    };
    let (snaps, segs) = (idx(".snap"), idx(".wal"));
    assert!(snaps.len() == 2 && segs.len() >= 3, "{snaps:?} {segs:?}");
    let (old_snap, new_snap) = (snaps[0], snaps[1]);
    let (first, last) = (segs[0], *segs.last().unwrap());
    let middle = segs[1..segs.len() - 1].to_vec();
    let frames = |f: u8| frame_offsets(&files[f as usize].1);
    // A bit inside the `k`-th record (from the end if `k` is negative) of a segment.
    let record = |f: u8, k: isize, bit: u8| {
        let fr = frames(f);
        let i = if k < 0 { fr.len() as isize + k } else { k }.clamp(0, fr.len() as isize - 1) as usize;
        FlipBit { file: f, offset: fr[i] + 40, bit }
    };
    let snap_len = |f: u8| files[f as usize].1.len() as u16;
    // The first bytes of a file, made deterministic (a header carries the
    // log's random identity): planted files that start like theirs.
    let head = |f: u8| files[f as usize].1[..8].to_vec();
    // A whole record frame of the first segment (cut to 64 bytes).
    let first_frame = {
        let fr = frames(first);
        files[first as usize].1[fr[1] as usize..fr[1] as usize + 64].to_vec()
    };
    let seeds: Vec<(&str, Vec<u8>)> = vec![
        (
            "long-flip-every-segment-and-old-checkpoint-salvage",
            store_open_input(
                Salvage,
                &[
                    FlipBit { file: old_snap, offset: snap_len(old_snap) / 2, bit: 3 },
                    FailReads { file: old_snap, offset: snap_len(old_snap) / 3, len: 64 },
                    record(first, 2, 1),
                    record(middle[0], 0, 2),
                    record(*middle.last().unwrap(), -2, 4),
                    record(last, 1, 5),
                    record(last, -1, 7),
                    FlipBit { file: first, offset: 600, bit: 0 },
                ],
                0x1111,
            ),
        ),
        (
            "long-flip-every-segment",
            store_open_input(
                TolerateTornTail,
                &segs
                    .iter()
                    .enumerate()
                    .map(|(i, f)| record(*f, -(i as isize) - 1, i as u8))
                    .take(8)
                    .collect::<Vec<_>>(),
                0x2222,
            ),
        ),
        (
            "long-read-errors-in-every-segment-salvage",
            store_open_input(
                Salvage,
                &[
                    FailReads { file: old_snap, offset: 700, len: 40 },
                    FailReads { file: old_snap, offset: snap_len(old_snap) - 200, len: 100 },
                    FailReads { file: first, offset: frames(first)[3], len: 8 },
                    FailReads { file: middle[0], offset: frames(middle[0])[1], len: 600 },
                    FailReads { file: last, offset: *frames(last).last().unwrap(), len: 30 },
                    FailReads { file: last, offset: 4096 + 512, len: 1 },
                    Zero { file: *middle.last().unwrap(), offset: frames(*middle.last().unwrap())[2], len: 300 },
                ],
                0x3333,
            ),
        ),
        (
            "long-plant-duplicate-rename",
            store_open_input(
                TolerateTornTail,
                &[
                    AddFile { dir: 0, name: NameSpec::Sibling { number: 9000 }, bytes: head(new_snap), zeros: 4000 },
                    AddFile { dir: 1, name: NameSpec::Sibling { number: 5000 }, bytes: head(last), zeros: 8128 },
                    AddFile { dir: 1, name: NameSpec::Temp { number: 4 }, bytes: first_frame.clone(), zeros: 8128 },
                    Duplicate { file: new_snap, name: NameSpec::Temp { number: 7 } },
                    Duplicate { file: first, name: NameSpec::Sibling { number: 1 } },
                    Rename { file: old_snap, name: NameSpec::Garbage(6) },
                    AddFile { dir: 0, name: NameSpec::Garbage(8), bytes: head(old_snap), zeros: 100 },
                    Duplicate { file: middle[0], name: NameSpec::Garbage(2) },
                ],
                0x4444,
            ),
        ),
        (
            "long-plant-duplicate-rename-salvage",
            store_open_input(
                Salvage,
                &[
                    Duplicate { file: middle[0], name: NameSpec::Sibling { number: 7000 } },
                    Rename { file: old_snap, name: NameSpec::Temp { number: 3 } },
                    AddFile { dir: 1, name: NameSpec::Sibling { number: 6000 }, bytes: head(first), zeros: 8128 },
                    Duplicate { file: old_snap, name: NameSpec::Sibling { number: 2 } },
                    record(middle[0], 3, 6),
                    AddFile { dir: 0, name: NameSpec::Temp { number: 9 }, bytes: vec![0xAB; 64], zeros: 0 },
                ],
                0x5555,
            ),
        ),
        ("long-damage-past-the-log-end-opens", {
            let end = |f: u8| {
                let fr = frames(f);
                let last_at = *fr.last().unwrap() as usize;
                let seg = &files[f as usize].1;
                let seq = SegmentHeader::decode(seg).unwrap().seq.get();
                (last_at + frame_len(decode_record(&seg[last_at..], seq).unwrap().len as usize) as usize) as u16
            };
            let tail = end(last);
            store_open_input(
                TolerateTornTail,
                &[
                    Zero { file: last, offset: tail, len: 2000 },
                    FlipBit { file: last, offset: tail + 700, bit: 2 },
                    Copy { from: first, from_offset: frames(first)[1], to: last, to_offset: tail + 1024, len: 900 },
                    AddFile { dir: 0, name: NameSpec::Garbage(7), bytes: head(old_snap), zeros: 3000 },
                    AddFile { dir: 1, name: NameSpec::Temp { number: 6 }, bytes: head(first), zeros: 8184 },
                    AddFile { dir: 1, name: NameSpec::Garbage(3), bytes: vec![0xC3; 64], zeros: 4096 },
                    Duplicate { file: old_snap, name: NameSpec::Temp { number: 11 } },
                    FailReads { file: old_snap, offset: 900, len: 512 },
                ],
                0xAAAA,
            )
        }),
        (
            "long-truncate-extend-overwrite",
            store_open_input(
                TolerateTornTail,
                &[
                    Truncate { file: *middle.last().unwrap(), len: frames(*middle.last().unwrap())[3] },
                    Extend { file: last, len: 4096, fill: 0xFF },
                    Overwrite { file: first, offset: frames(first)[2], bytes: first_frame.clone() },
                    Zero { file: new_snap, offset: 200, len: 64 },
                    Extend { file: old_snap, len: 100, fill: 0 },
                    Overwrite { file: last, offset: *frames(last).last().unwrap() + 8, bytes: vec![0x5A; 64] },
                    Truncate { file: new_snap, len: snap_len(new_snap) - 1 },
                    Zero { file: last, offset: 512, len: 1024 },
                ],
                0x6666,
            ),
        ),
        (
            "long-misdirected-copies-salvage",
            store_open_input(
                Salvage,
                &segs
                    .windows(2)
                    .flat_map(|w| {
                        let (a, b) = (w[0], w[1]);
                        [
                            Copy { from: a, from_offset: frames(a)[1], to: b, to_offset: frames(b)[1], len: 500 },
                            Copy { from: b, from_offset: 4096, to: a, to_offset: 4096 + 1024, len: 200 },
                        ]
                    })
                    .chain([Copy { from: old_snap, from_offset: 0, to: new_snap, to_offset: 0, len: 600 }])
                    .take(8)
                    .collect::<Vec<_>>(),
                0x7777,
            ),
        ),
        (
            "long-zero-remove-replace-strict",
            store_open_input(
                Strict,
                &[
                    ZeroFile { file: old_snap },
                    Zero { file: *middle.last().unwrap(), offset: 0, len: 4096 },
                    Remove { file: first },
                    ReplaceWithDir { file: new_snap },
                    // The first segment is gone: the last one is a file earlier now.
                    Zero { file: last - 1, offset: *frames(last).last().unwrap(), len: 2000 },
                ],
                0x8888,
            ),
        ),
        (
            "long-remove-checkpoints-and-cut-log",
            store_open_input(
                TolerateTornTail,
                &[
                    // Each removal moves the later files one place down.
                    Remove { file: new_snap },
                    Truncate { file: last - 1, len: frames(last)[frames(last).len() / 2] },
                    Remove { file: old_snap },
                    Truncate { file: 0, len: 4096 + 512 },
                ],
                0x9999,
            ),
        ),
    ];
    let mut out: Seeds = seeds.into_iter().map(|(n, b)| (n.to_string(), b)).collect();
    out.extend(shaped_open_seeds());
    out
}

/// `store_open` seeds on the other shapes of base store: 300 groups, no or
/// one checkpoint, a log of over 16 MiB.
fn shaped_open_seeds() -> Seeds {
    use Mutation::*;
    let shapes = [
        ("no-checkpoint", StoreShape { groups: 5, checkpoints: 0, large_log: false }),
        ("one-checkpoint", StoreShape { groups: 5, checkpoints: 1, large_log: false }),
        ("300-groups", StoreShape { groups: 300, checkpoints: 2, large_log: false }),
        ("300-groups-no-checkpoint", StoreShape { groups: 300, checkpoints: 0, large_log: false }),
        ("300-groups-one-checkpoint", StoreShape { groups: 300, checkpoints: 1, large_log: false }),
        ("large-log", StoreShape::LARGE_LOG),
    ];
    let mut out = Seeds::new();
    for (name, shape) in shapes {
        assert_eq!(StoreShape::of(shape.byte()), shape, "{name}: the byte picks it");
        let files = &base_store_image_of(shape).files;
        let segs: Vec<u8> =
            (0..files.len()).filter(|&i| files[i].0.to_string_lossy().ends_with(".wal")).map(|i| i as u8).collect();
        let snaps = segs[0];
        assert_eq!(snaps, shape.checkpoints, "{name}: checkpoints first, then segments");
        let (first, last) = (segs[0], *segs.last().unwrap());
        let middle = segs[segs.len() / 2];
        // A bit in the first record of a segment.
        let flip = |file: u8| FlipBit { file, offset: HEADER_PAGE as u16 + 60, bit: 2 };
        let input = |policy, m: &[Mutation], seed| store_open_input_shaped(policy, m, seed, shape);
        out.push((format!("shape-{name}-clean"), input(TolerateTornTail, &[], 40)));
        out.push((format!("shape-{name}-flip-middle-segment"), input(TolerateTornTail, &[flip(middle)], 41)));
        out.push((format!("shape-{name}-flip-middle-segment-salvage"), input(Salvage, &[flip(middle)], 42)));
        out.push((
            format!("shape-{name}-truncate-last-segment"),
            input(TolerateTornTail, &[Truncate { file: last, len: 5000 }], 43),
        ));
        if shape.checkpoints > 0 {
            let newest = shape.checkpoints - 1;
            out.push((
                format!("shape-{name}-remove-first-segment-and-checkpoint"),
                input(TolerateTornTail, &[Remove { file: first }, Remove { file: newest }], 44),
            ));
            out.push((
                format!("shape-{name}-flip-newest-checkpoint-salvage"),
                input(Salvage, &[FlipBit { file: newest, offset: 700, bit: 3 }], 45),
            ));
        } else {
            out.push((
                format!("shape-{name}-remove-first-segment"),
                input(TolerateTornTail, &[Remove { file: first }], 44),
            ));
        }
    }
    out
}

fn ops_seeds() -> Vec<(String, Vec<u8>)> {
    use FuzzOp::*;
    let p = |group, round, node| Step::Op(Promise { group, round, node, from: 0 });
    let a = |group, slot, round, len| Step::Op(Accept { group, slot, round, node: 1, len });
    let seeds: Vec<(&str, Vec<Step>)> = vec![
        (
            "rules",
            vec![
                p(0, 2, 1),
                a(0, 0, 2, 10),
                p(0, 1, 0),
                a(0, 1, 1, 10),
                p(0, 2, 1),
                a(0, 1, 3, 50),
                Step::Op(Chosen { group: 0, slot: 1 }),
                Step::Op(Truncate { group: 0, slot: 1 }),
                a(0, 0, 4, 5),
                Step::Op(Remove { group: 0 }),
                p(1, 0, 0),
                Step::Restart(Death::Reopen),
            ],
        ),
        (
            "raw-persistence",
            vec![
                Step::Op(Put { group: 1, slot: 0, n: 2, len: 20 }),
                Step::Op(Meta { group: 1, key: 0, len: 5 }),
                Step::CrashAfter { ops: 2, death: Death::PowerLoss(5) },
                Step::Batch(vec![
                    DropFrom { group: 1, slot: 1 },
                    Put { group: 1, slot: 1, n: 1, len: 30 },
                    Meta { group: 1, key: 0, len: 6 },
                ]),
                Step::Op(Truncate { group: 1, slot: 1 }),
                Step::Checkpoint,
                Step::Restart(Death::PowerLoss(9)),
            ],
        ),
        (
            "lazy-chosen-power-loss",
            vec![a(1, 2, 1, 20), Step::Op(Chosen { group: 1, slot: 2 }), Step::Restart(Death::PowerLoss(7))],
        ),
        (
            "batch-crash-point",
            vec![
                a(2, 0, 1, 100),
                Step::CrashAfter { ops: 1, death: Death::PowerLoss(3) },
                Step::Batch(vec![
                    Accept { group: 2, slot: 1, round: 1, node: 1, len: 100 },
                    Chosen { group: 2, slot: 0 },
                ]),
            ],
        ),
        (
            "failed-sync-reopen-in-place",
            vec![
                a(3, 0, 1, 10),
                Step::FailSync { nth: 0, death: Death::Reopen },
                a(3, 1, 1, 10),
                Step::Restart(Death::PowerLoss(11)),
            ],
        ),
        (
            "disk-full-at-roll-over",
            [Step::DiskFull { bytes: 100, death: Death::Process }]
                .into_iter()
                .chain((0..30).map(|i| a(i % 4, i, 1, 199)))
                .collect(),
        ),
        (
            "checkpoints-and-recovery-crash",
            (0..12)
                .map(|i| a(i % 4, i % 8, 1, 180))
                .chain([
                    Step::Checkpoint,
                    Step::Op(Truncate { group: 1, slot: 3 }),
                    Step::Checkpoint,
                    Step::CrashInRecovery { ops: 0, seed: 5 },
                    Step::Restart(Death::Process),
                ])
                .collect(),
        ),
        (
            "checkpoint-crash-point",
            (0..10)
                .map(|i| a(i % 2, i % 8, 2, 150))
                .chain([Step::CrashAfter { ops: 4, death: Death::PowerLoss(9) }, Step::Checkpoint])
                .collect(),
        ),
    ];
    let mut out: Seeds = seeds.into_iter().map(|(n, s)| (n.to_string(), Step::encode_all(&s))).collect();
    out.extend(long_ops_seeds());
    out.extend(wide_ops_seeds());
    out
}

/// Named step lists as seed files, each checked to fit the target and to
/// decode to itself.
fn encoded(seeds: Vec<(&str, Vec<Step>)>) -> Seeds {
    seeds
        .into_iter()
        .map(|(n, s)| {
            assert!(s.len() <= MAX_STEPS, "{n}: {} steps, the target reads {MAX_STEPS}", s.len());
            assert_eq!(Step::decode_all(&Step::encode_all(&s)), s, "{n} does not decode to itself");
            (n.to_string(), Step::encode_all(&s))
        })
        .collect()
}

/// `store_ops` seeds that widen the groups and slots ([`Step::Widen`]):
/// hundreds of groups over every shard or in one shard, ids near
/// `u64::MAX`, promises reporting slots up to 255, widths changed mid-run
/// (the narrow groups are among the wide ones), up to [`MAX_STEPS`] steps.
fn wide_ops_seeds() -> Seeds {
    use FuzzOp::*;
    let acc = |group: u8, slot: u8, round: u8| Accept { group, slot, round, node: 1, len: 120 };
    // Four accepts on four groups `g, g+64, g+128, g+192` at one slot.
    let spread = |g: u8, slot: u8, round: u8| Step::Batch((0..4u8).map(|i| acc(g + 64 * i, slot, round)).collect());
    let promise = |group: u8, round: u8, from: u8| Step::Op(Promise { group, round, node: 2, from });
    let widen = |w: u8| Step::Widen(Width(w));
    let seeds: Vec<(&str, Vec<Step>)> = vec![
        (
            "wide-top-ids-far-slots",
            [widen(6)]
                .into_iter()
                .chain((0..20u8).map(|g| spread(g, g * 12, 1)))
                .chain([promise(5, 2, 0), promise(69, 2, 30), Step::Checkpoint])
                .chain([Step::Op(Truncate { group: 5, slot: 100 }), Step::Op(Remove { group: 69 })])
                .chain([Step::CrashAfter { ops: 5, death: Death::PowerLoss(71) }, spread(3, 250, 1), spread(4, 251, 1)])
                .chain([Step::Restart(Death::Process), promise(3, 3, 0)])
                .collect(),
        ),
        (
            "wide-one-shard",
            [widen(3)]
                .into_iter()
                .chain((0..30u8).map(|g| spread(g, g % 8, 1 + g % 3)))
                .chain([Step::Checkpoint, Step::Op(Remove { group: 7 }), Step::Op(Remove { group: 71 })])
                .chain([Step::Batch(vec![
                    Put { group: 7, slot: 0, n: 2, len: 50 },
                    Meta { group: 71, key: 1, len: 9 },
                ])])
                .chain([Step::CrashInRecovery { ops: 7, seed: 72 }, Step::Checkpoint])
                .chain((30..40u8).map(|g| spread(g, 1, 2)))
                .chain([Step::Restart(Death::PowerLoss(73))])
                .collect(),
        ),
        (
            "widen-mid-run",
            (0..4u8)
                .flat_map(|w| {
                    [
                        widen(w + 4 * (w % 2)),
                        spread(w, w * 3, 1 + w),
                        Step::Op(Chosen { group: w, slot: w * 3 }),
                        promise(w + 64, 1 + w, 0),
                        Step::FailSync { nth: 0, death: Death::Reopen },
                        Step::Op(Truncate { group: 64 * w, slot: w }),
                        Step::Sync,
                        Step::Restart(Death::PowerLoss(80 + w as u16)),
                    ]
                })
                .collect(),
        ),
        (
            "long-wide-many-groups",
            [widen(7)]
                .into_iter()
                .chain((0..56u8).map(|g| spread(g, g * 4, 1 + g % 5)))
                .chain([Step::Checkpoint, promise(0, 5, 0), promise(128, 5, 100)])
                .chain([Step::DiskFull { bytes: 20000, death: Death::Process }])
                .chain([Step::FailSync { nth: 1, death: Death::PowerLoss(90) }])
                .chain((0..30u8).map(|g| spread(g + 30, 255 - g, 5)))
                .chain([widen(2), Step::Checkpoint])
                .chain((0..20u8).map(|g| spread(g, g, 6)))
                .chain([Step::CrashAfter { ops: 11, death: Death::PowerLoss(91) }, Step::Checkpoint])
                .chain((0..10u8).map(|g| spread(g + 3, 7 - g % 8, 6)))
                .collect(),
        ),
    ];
    encoded(seeds)
}

/// Longer `store_ops` seeds: up to 48 steps (the target read no more when
/// they were written), with
/// batches of large values on all four groups and eight slots, so the runs
/// roll over several 8 KiB log segments, take checkpoints at several points
/// (deleting segments), and crash, fail or fill the disk with a large state
/// and a long log behind them.
fn long_ops_seeds() -> Seeds {
    use FuzzOp::*;
    let acc = |group: u8, slot: u8, round: u8| Accept { group, slot, round, node: 1, len: 199 };
    // One record of four large accepts: groups 0..4 at one slot.
    let wide = |slot: u8, round: u8| Step::Batch((0..4u8).map(|g| acc(g, slot, round)).collect());
    // One record of four large accepts: one group, four consecutive slots.
    let deep = |group: u8, slot: u8, round: u8| Step::Batch((0..4u8).map(|i| acc(group, slot + i, round)).collect());
    // One record of twelve large raw values (about 2.6 KB: most of a segment).
    let puts =
        |group: u8, slot: u8| Step::Batch((0..4u8).map(|i| Put { group: group + i, slot, n: 2, len: 199 }).collect());
    let promise_all =
        |round: u8| Step::Batch((0..4u8).map(|g| Promise { group: g, round, node: 1, from: 0 }).collect());
    let op = Step::Op;
    let seeds: Vec<(&str, Vec<Step>)> = vec![
        (
            "long-accepts-segments-checkpoints",
            [promise_all(1)]
                .into_iter()
                .chain((0..8u8).map(|s| wide(s, 1)))
                .chain([Step::Checkpoint, Step::Batch((0..4u8).map(|g| Chosen { group: g, slot: g }).collect())])
                .chain([op(Truncate { group: 1, slot: 3 }), promise_all(2)])
                .chain((0..8u8).map(|s| wide(7 - s, 2)))
                .chain([Step::Checkpoint, op(Remove { group: 2 }), op(Truncate { group: 3, slot: 6 })])
                .chain([Step::Restart(Death::Reopen)])
                .chain((0..4u8).map(|g| deep(g, 4, 3)))
                .chain([op(Promise { group: 0, round: 3, node: 2, from: 0 }), Step::Sync, Step::Checkpoint])
                .chain([Step::Restart(Death::PowerLoss(77))])
                .chain((0..8u8).map(|s| wide(s, 4)))
                .chain([Step::Restart(Death::Process), promise_all(5), Step::Checkpoint])
                .collect(),
        ),
        (
            "long-raw-puts-roll-over-crash-points",
            [op(Meta { group: 0, key: 0, len: 199 }), puts(0, 0), puts(0, 3), puts(0, 5), Step::Checkpoint]
                .into_iter()
                .chain([Step::Batch(vec![DropFrom { group: 1, slot: 4 }, Meta { group: 1, key: 1, len: 150 }])])
                .chain([puts(0, 1), op(Truncate { group: 2, slot: 2 }), puts(0, 4)])
                .chain([Step::CrashAfter { ops: 9, death: Death::PowerLoss(5) }, puts(0, 2), puts(0, 6)])
                .chain([puts(0, 0), Step::Checkpoint, puts(0, 3)])
                .chain([Step::CrashAfter { ops: 20, death: Death::Process }, puts(0, 5), puts(0, 1), puts(0, 7)])
                .chain([
                    Step::Checkpoint,
                    Step::Batch(vec![DropFrom { group: 0, slot: 2 }, DropFrom { group: 3, slot: 0 }]),
                ])
                .chain([puts(0, 2), puts(0, 4), Step::CrashAfter { ops: 3, death: Death::Reopen }, Step::Checkpoint])
                .chain([puts(0, 6), puts(0, 0), op(Meta { group: 2, key: 2, len: 199 }), Step::Sync])
                .chain([Step::CrashAfter { ops: 14, death: Death::PowerLoss(6) }, puts(0, 3), puts(0, 5), puts(0, 1)])
                .collect(),
        ),
        (
            "long-restarts-of-every-kind",
            (0..8u8)
                .flat_map(|k| {
                    let death = match k % 3 {
                        0 => Death::Reopen,
                        1 => Death::Process,
                        _ => Death::PowerLoss(100 + k as u16),
                    };
                    [
                        wide(k, k % 6),
                        deep(k % 4, (k * 3) % 5, k % 6),
                        Step::Op(Chosen { group: k % 4, slot: k }),
                        if k % 2 == 0 { Step::Checkpoint } else { Step::Sync },
                        Step::Op(Truncate { group: (k + 1) % 4, slot: k / 2 }),
                        Step::Restart(death),
                    ]
                })
                .collect(),
        ),
        (
            "long-crash-in-recovery-after-segments",
            (0..6u8)
                .flat_map(|k| {
                    [
                        puts(0, k),
                        wide(7 - k, 1 + k % 5),
                        puts(0, (k + 4) % 8),
                        if k % 2 == 0 { Step::Checkpoint } else { Step::Op(Chosen { group: k % 4, slot: 7 - k }) },
                        deep(k % 4, k % 5, 1 + k % 5),
                        Step::Op(Remove { group: (k + 2) % 4 }),
                        puts(0, (k + 2) % 8),
                        Step::CrashInRecovery { ops: 3 * k, seed: 40 + k as u16 },
                    ]
                })
                .collect(),
        ),
        (
            "long-failed-syncs-and-checkpoints",
            (0..4u8)
                .flat_map(|s| [wide(s, 1), wide(s + 4, 1)])
                .chain([Step::Checkpoint, Step::Batch((0..4u8).map(|g| Chosen { group: g, slot: 1 }).collect())])
                .chain([Step::FailSync { nth: 0, death: Death::Reopen }, Step::Sync])
                .chain((0..4u8).map(|g| deep(g, 0, 2)))
                .chain([Step::FailSync { nth: 1, death: Death::PowerLoss(21) }, Step::Checkpoint])
                .chain((0..4u8).map(|g| deep(g, 4, 3)))
                .chain([op(Chosen { group: 0, slot: 4 }), Step::FailSync { nth: 2, death: Death::Process }])
                .chain([Step::Checkpoint, puts(0, 2), puts(0, 5)])
                .chain([Step::FailSync { nth: 0, death: Death::PowerLoss(22) }, puts(0, 0)])
                .chain([Step::Checkpoint, wide(3, 4), Step::FailSync { nth: 3, death: Death::Reopen }])
                .chain([wide(4, 4), wide(5, 4), Step::Checkpoint, wide(6, 4), Step::Restart(Death::PowerLoss(23))])
                .collect(),
        ),
        (
            "long-disk-full-with-large-state",
            (0..8)
                .map(|s| wide(s, 1))
                .chain([Step::Checkpoint, Step::DiskFull { bytes: 3000, death: Death::Process }])
                .chain((0..4u8).map(|g| deep(g, 0, 2)))
                .chain([Step::Checkpoint, Step::Restart(Death::Reopen)])
                .chain((0..4u8).map(|g| deep(g, 4, 2)))
                .chain([Step::DiskFull { bytes: 9000, death: Death::PowerLoss(31) }, Step::Checkpoint])
                .chain([puts(0, 1), puts(0, 5), puts(0, 2)])
                .chain([Step::DiskFull { bytes: 20000, death: Death::Reopen }])
                .chain((0..6).map(|s| wide(s, 3)))
                .chain([Step::Checkpoint, Step::DiskFull { bytes: 500, death: Death::PowerLoss(32) }])
                .chain([op(Chosen { group: 1, slot: 1 }), Step::Sync, wide(7, 4), Step::Checkpoint])
                .collect(),
        ),
        (
            "long-crash-points-in-checkpoints",
            (0..5u8)
                .flat_map(|k| {
                    [
                        wide(k, k + 1),
                        wide(k + 3, k + 1),
                        puts(0, k + 2),
                        deep(k % 4, 4 - k % 4, k + 1),
                        Step::Op(Truncate { group: k % 4, slot: k }),
                        Step::CrashAfter { ops: 2 + 6 * k, death: Death::PowerLoss(50 + k as u16) },
                        Step::Checkpoint,
                        Step::Checkpoint,
                        Step::Sync,
                    ]
                })
                .collect(),
        ),
        (
            "long-promises-report-many-slots",
            [promise_all(2)]
                .into_iter()
                .chain((0..8u8).map(|s| wide(s, 2)))
                .chain([promise_all(1), Step::Batch((0..4u8).map(|g| acc(g, 0, 1)).collect())])
                .chain([Step::Batch((0..4u8).map(|g| Promise { group: g, round: 3, node: 0, from: g * 2 }).collect())])
                .chain([Step::Batch((0..4u8).map(|g| Truncate { group: g, slot: 2 + g }).collect())])
                .chain([Step::Batch((0..4u8).map(|g| acc(g, 1, 3)).collect()), Step::Checkpoint])
                .chain([Step::Batch(vec![Remove { group: 0 }, Put { group: 0, slot: 0, n: 2, len: 199 }])])
                .chain([Step::Batch(vec![Meta { group: 0, key: 1, len: 199 }, DropFrom { group: 0, slot: 1 }])])
                .chain((0..4u8).map(|g| deep(g, 4, 4)))
                .chain([Step::Batch((0..4u8).map(|g| Promise { group: g, round: 4, node: 2, from: 0 }).collect())])
                .chain([Step::Restart(Death::PowerLoss(61)), promise_all(5), Step::Checkpoint])
                .chain((0..8u8).map(|s| wide(s, 5)))
                .chain([Step::Batch((0..4u8).map(|g| Promise { group: g, round: 5, node: 2, from: 0 }).collect())])
                .chain([
                    Step::Restart(Death::Process),
                    Step::Batch((0..4u8).map(|g| Chosen { group: g, slot: 7 }).collect()),
                ])
                .chain([Step::Restart(Death::PowerLoss(62))])
                .collect(),
        ),
    ];
    encoded(seeds)
}

/// Named seed files.
type Seeds = Vec<(String, Vec<u8>)>;

fn all_seeds() -> Vec<(&'static str, Seeds)> {
    vec![
        ("acceptor_codec", codec_seeds()),
        ("checkpoint_image", image_seeds()),
        ("store_open", open_seeds()),
        ("store_ops", ops_seeds()),
    ]
}

#[test]
#[ignore = "writes the seed corpora; run after changing an input format"]
fn write_seed_corpora() {
    for (target, seeds) in all_seeds() {
        paxos_store_testkit::wal::write_seed_files(target, seeds);
    }
}

#[test]
fn the_checked_in_seeds_are_the_ones_described_here() {
    for (target, described) in all_seeds() {
        paxos_store_testkit::wal::assert_seed_files_current(target, described);
    }
}

#[test]
fn the_record_codec_holds_its_properties_on_every_seed() {
    let (mut decoded, mut rejected, mut lenient) = (0, 0, 0);
    for (name, bytes) in seeds("acceptor_codec") {
        let s = check_record_codec(&bytes).unwrap_or_else(|v| panic!("acceptor_codec/{name}: {v}"));
        match s.ops {
            Some(_) => decoded += 1,
            None => rejected += 1,
        }
        lenient += s.reserved_nonzero as u32;
    }
    assert!(decoded >= 6 && rejected >= 3 && lenient >= 1, "{decoded} {rejected} {lenient}");
}

#[test]
fn the_checkpoint_image_decoder_holds_its_properties_on_every_seed() {
    let (mut canonical, mut other, mut rejected, mut slots) = (0, 0, 0, 0);
    for (name, bytes) in seeds("checkpoint_image") {
        let s = check_checkpoint_image(&bytes).unwrap_or_else(|v| panic!("checkpoint_image/{name}: {v}"));
        match s.groups {
            Some(_) if s.canonical => canonical += 1,
            Some(_) => other += 1,
            None => rejected += 1,
        }
        slots += s.slots;
    }
    assert!(canonical >= 3 && other >= 1 && rejected >= 1 && slots > 20, "{canonical} {other} {rejected} {slots}");
}

#[test]
fn opening_a_damaged_store_holds_its_properties_on_every_seed() {
    let mut seen = BTreeSet::new();
    for (name, bytes) in seeds("store_open") {
        let s = check_open_damaged_store(&bytes).unwrap_or_else(|v| panic!("store_open/{name}: {v}"));
        eprintln!("store_open/{name}: {:?}", s.outcome);
        seen.insert(format!("{:?}", s.outcome));
    }
    for o in [StoreOutcome::Complete, StoreOutcome::Earlier, StoreOutcome::Salvaged] {
        assert!(seen.contains(&format!("{o:?}")), "no seed ends {o:?}: {seen:?}");
    }
    for kind in ["Corruption", "BadSegment", "LogNotCovered"] {
        assert!(seen.iter().any(|s| s.contains(kind)), "no seed is refused with {kind}: {seen:?}");
    }
}

#[test]
fn operation_sequences_with_crashes_hold_their_properties_on_every_seed() {
    let mut total = paxos_store_testkit::store::OpsSummary::default();
    for (name, bytes) in seeds("store_ops") {
        let s = check_ops_with_crashes(&bytes).unwrap_or_else(|v| panic!("store_ops/{name}: {v}"));
        eprintln!("store_ops/{name}: {s:?}");
        total.replies += s.replies;
        total.failed += s.failed;
        total.no_space += s.no_space;
        total.recoveries += s.recoveries;
        total.power_losses += s.power_losses;
        total.lost_maybe += s.lost_maybe;
        total.recovery_crashes += s.recovery_crashes;
    }
    let t = &total;
    assert!(t.replies >= 40 && t.failed >= 2 && t.no_space >= 1, "{t:?}");
    assert!(t.power_losses >= 5 && t.lost_maybe >= 1 && t.recovery_crashes >= 1, "{t:?}");
}
