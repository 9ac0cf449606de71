//! A byte image of one or more directories of a [`MemStorage`], and the
//! mutation language the open/recover fuzz targets damage it with.
//!
//! A mutation names a file by index (modulo the number of files, in path
//! order) and offsets modulo the file's length, so every decoded mutation
//! applies to something. [`DamageLog`] remembers what was changed, so a
//! target can tell which guarantees still apply (for example: while no
//! segment's header page was touched, the durable watermark is intact).

use super::input::{FuzzInput, FuzzOutput};
use paxos_wal::storage::{DiskModel, MemStorage, Storage};
use std::collections::BTreeSet;
use std::io;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// The files of some directories and their bytes, plus reads that are to fail.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DiskImage {
    /// The directories captured (files may be planted in them).
    pub dirs: Vec<PathBuf>,
    /// Every file, sorted by path.
    pub files: Vec<(PathBuf, Vec<u8>)>,
    /// Byte ranges of files whose reads fail with EIO after [`DiskImage::load`].
    pub read_errors: Vec<(PathBuf, Range<u64>)>,
    /// Empty directories squatting where a file was
    /// ([`Mutation::ReplaceWithDir`]).
    pub squatters: Vec<PathBuf>,
}

impl DiskImage {
    /// The cached contents of every file in `dirs` (what a reader sees).
    pub fn capture(mem: &MemStorage, dirs: &[&Path]) -> io::Result<DiskImage> {
        let mut files = Vec::new();
        for dir in dirs {
            for name in mem.list(dir)? {
                let path = dir.join(&name);
                let bytes = mem.read_file(&path)?;
                files.push((path, bytes));
            }
        }
        files.sort();
        Ok(DiskImage {
            dirs: dirs.iter().map(|d| d.to_path_buf()).collect(),
            files,
            read_errors: Vec::new(),
            squatters: Vec::new(),
        })
    }

    /// A fresh file system holding exactly this image, everything durable,
    /// with the read errors of the files still in it armed. Its disk is
    /// [`DiskModel::linux`] (fsyncgate, lying pages, any subset of unsynced
    /// directory entries lost at a power loss).
    pub fn load(&self) -> io::Result<MemStorage> {
        self.load_with(DiskModel::linux())
    }

    /// [`DiskImage::load`] with another disk model.
    pub fn load_with(&self, model: DiskModel) -> io::Result<MemStorage> {
        let mem = MemStorage::with_model(model, 0);
        for dir in &self.dirs {
            mem.create_dir_all(dir)?;
        }
        for (path, bytes) in &self.files {
            mem.put_file(path, bytes)?;
        }
        // A file made unreadable may have been removed or renamed since.
        for (path, range) in self.read_errors.iter().filter(|(p, _)| self.file(p).is_some()) {
            mem.fail_reads(path, range.clone())?;
        }
        for dir in &self.squatters {
            mem.create_dir_all(dir)?;
        }
        Ok(mem)
    }

    /// The bytes of the file at `path`.
    pub fn file(&self, path: &Path) -> Option<&[u8]> {
        self.files.iter().find(|(p, _)| p == path).map(|(_, b)| b.as_slice())
    }

    fn pick(&self, file: u8) -> Option<usize> {
        (!self.files.is_empty()).then(|| file as usize % self.files.len())
    }

    fn put(&mut self, path: PathBuf, bytes: Vec<u8>) {
        // A file planted where a directory was put replaces it (the
        // operator removed the directory first): never both at one path.
        self.squatters.retain(|d| *d != path);
        match self.files.iter_mut().find(|(p, _)| *p == path) {
            Some(f) => f.1 = bytes,
            None => {
                self.files.push((path, bytes));
                self.files.sort();
            }
        }
    }

    /// Apply one mutation, noting what it changed in `log`.
    pub fn apply(&mut self, m: &Mutation, log: &mut DamageLog) {
        match m {
            Mutation::FlipBit { file, offset, bit } => {
                let Some(i) = self.pick(*file) else { return };
                let (path, bytes) = &mut self.files[i];
                if bytes.is_empty() {
                    return;
                }
                let o = *offset as usize % bytes.len();
                bytes[o] ^= 1 << (bit % 8);
                log.touched.push((path.clone(), o as u64..o as u64 + 1));
            }
            Mutation::Overwrite { file, offset, bytes: new } => {
                let Some(i) = self.pick(*file) else { return };
                let (path, bytes) = &mut self.files[i];
                if bytes.is_empty() || new.is_empty() {
                    return;
                }
                let o = *offset as usize % bytes.len();
                let end = (o + new.len()).min(bytes.len());
                bytes[o..end].copy_from_slice(&new[..end - o]);
                log.touched.push((path.clone(), o as u64..end as u64));
            }
            Mutation::Zero { file, offset, len } => {
                let Some(i) = self.pick(*file) else { return };
                let (path, bytes) = &mut self.files[i];
                if bytes.is_empty() {
                    return;
                }
                let o = *offset as usize % bytes.len();
                let end = (o + *len as usize).min(bytes.len());
                bytes[o..end].fill(0);
                log.touched.push((path.clone(), o as u64..end as u64));
            }
            Mutation::Truncate { file, len } => {
                let Some(i) = self.pick(*file) else { return };
                let (path, bytes) = &mut self.files[i];
                let n = *len as usize % (bytes.len() + 1);
                bytes.truncate(n);
                log.reshaped.insert(path.clone());
            }
            Mutation::Extend { file, len, fill } => {
                let Some(i) = self.pick(*file) else { return };
                let (path, bytes) = &mut self.files[i];
                bytes.extend(std::iter::repeat_n(*fill, *len as usize % 4097));
                log.reshaped.insert(path.clone());
            }
            Mutation::Remove { file } => {
                let Some(i) = self.pick(*file) else { return };
                let (path, _) = self.files.remove(i);
                log.reshaped.insert(path);
            }
            Mutation::Duplicate { file, name } | Mutation::Rename { file, name } => {
                let Some(i) = self.pick(*file) else { return };
                let (path, bytes) = self.files[i].clone();
                let dir = path.parent().unwrap_or(Path::new("/")).to_path_buf();
                let to = dir.join(name.resolve(path.file_name().map(|n| n.to_string_lossy()).as_deref()));
                if to == path {
                    return;
                }
                if matches!(m, Mutation::Rename { .. }) {
                    self.files.remove(i);
                    log.reshaped.insert(path);
                }
                log.reshaped.insert(to.clone());
                self.put(to, bytes);
            }
            Mutation::AddFile { dir, name, bytes, zeros } => {
                if self.dirs.is_empty() {
                    return;
                }
                let dir = self.dirs[*dir as usize % self.dirs.len()].clone();
                let sibling = self.files.iter().find(|(p, _)| p.parent() == Some(&dir)).map(|(p, _)| p.clone());
                let sibling = sibling.as_ref().and_then(|p| p.file_name()).map(|n| n.to_string_lossy());
                let to = dir.join(name.resolve(sibling.as_deref()));
                let mut content = bytes.clone();
                content.extend(std::iter::repeat_n(0u8, *zeros as usize));
                log.reshaped.insert(to.clone());
                self.put(to, content);
            }
            Mutation::Copy { from, from_offset, to, to_offset, len } => {
                let (Some(s), Some(d)) = (self.pick(*from), self.pick(*to)) else { return };
                let src = &self.files[s].1;
                if src.is_empty() || self.files[d].1.is_empty() {
                    return;
                }
                let so = *from_offset as usize % src.len();
                let chunk = src[so..(so + *len as usize).min(src.len())].to_vec();
                let (path, dst) = &mut self.files[d];
                let o = *to_offset as usize % dst.len();
                let end = (o + chunk.len()).min(dst.len());
                dst[o..end].copy_from_slice(&chunk[..end - o]);
                log.touched.push((path.clone(), o as u64..end as u64));
            }
            Mutation::ZeroFile { file } => {
                let Some(i) = self.pick(*file) else { return };
                let (path, bytes) = &mut self.files[i];
                bytes.fill(0);
                log.touched.push((path.clone(), 0..bytes.len() as u64));
            }
            Mutation::ReplaceWithDir { file } => {
                let Some(i) = self.pick(*file) else { return };
                let (path, _) = self.files.remove(i);
                self.read_errors.retain(|(p, _)| *p != path);
                log.reshaped.insert(path.clone());
                self.squatters.push(path);
            }
            Mutation::FailReads { file, offset, len } => {
                let Some(i) = self.pick(*file) else { return };
                let (path, bytes) = &self.files[i];
                if bytes.is_empty() {
                    return;
                }
                let o = *offset as u64 % bytes.len() as u64;
                let r = o..o + (*len as u64).max(1);
                log.touched.push((path.clone(), r.clone()));
                log.read_errors = true;
                self.read_errors.push((path.clone(), r));
            }
        }
    }
}

/// What the mutations of an image changed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DamageLog {
    /// Byte ranges whose contents changed (or whose reads fail), by file.
    pub touched: Vec<(PathBuf, Range<u64>)>,
    /// Paths whose file was removed, renamed (either end), truncated,
    /// extended, planted or replaced.
    pub reshaped: BTreeSet<PathBuf>,
    /// Some reads were made to fail.
    pub read_errors: bool,
}

impl DamageLog {
    /// Whether nothing was changed.
    pub fn is_empty(&self) -> bool {
        self.touched.is_empty() && self.reshaped.is_empty() && !self.read_errors
    }

    /// Whether bytes `range` of the file at `path` were changed (or made unreadable).
    pub fn touches(&self, path: &Path, range: Range<u64>) -> bool {
        self.reshaped.contains(path)
            || self.touched.iter().any(|(p, r)| p == path && r.start < range.end && range.start < r.end)
    }

    /// Whether any file in `dir` was reshaped (see [`DamageLog::reshaped`]).
    pub fn reshaped_in(&self, dir: &Path) -> bool {
        self.reshaped.iter().any(|p| p.parent() == Some(dir))
    }
}

/// A file name for a planted, duplicated or renamed file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NameSpec {
    /// The name of a file in the same directory (the file itself for a
    /// duplicate or rename) with its first run of digits replaced by
    /// `number`, zero-padded to the same width: another segment or snapshot
    /// name, well formed.
    Sibling {
        /// The number to write.
        number: u16,
    },
    /// A leftover temporary file: `prepare-<number>.tmp` (the log's) for an
    /// even `number`, `<sibling name>.<number>.tmp` (the snapshot store's
    /// form in a snapshot directory) for an odd one.
    Temp {
        /// Tells temporary files apart.
        number: u16,
    },
    /// One of a few names that are close to, but not, a log or snapshot file
    /// name (index into a fixed list).
    Garbage(u8),
}

/// Names that are almost, but not, names the stores use.
const GARBAGE_NAMES: [&str; 9] = [
    "LOCK",
    "README",
    "1.wal",
    "0000000000000000000x.wal",
    "00000000000000000001.WAL",
    "99999999999999999999.wal",
    "snap-1.snap",
    "snap-99999999999999999999.snap",
    "snap-00000000000000000001.snap.tmp",
];

impl NameSpec {
    /// The file name, given the name of a sibling file (if any).
    pub fn resolve(&self, sibling: Option<&str>) -> String {
        let sibling = sibling.unwrap_or("00000000000000000001.wal");
        match self {
            NameSpec::Sibling { number } => {
                let start = sibling.find(|c: char| c.is_ascii_digit());
                let Some(start) = start else { return format!("{sibling}{number}") };
                let len = sibling[start..].find(|c: char| !c.is_ascii_digit()).unwrap_or(sibling.len() - start);
                format!("{}{:0len$}{}", &sibling[..start], number, &sibling[start + len..])
            }
            NameSpec::Temp { number } if number % 2 == 0 => format!("prepare-{number:020}.tmp"),
            NameSpec::Temp { number } => format!("{sibling}.{number}.tmp"),
            NameSpec::Garbage(i) => GARBAGE_NAMES[*i as usize % GARBAGE_NAMES.len()].to_string(),
        }
    }

    fn decode(input: &mut FuzzInput) -> NameSpec {
        match input.u8() % 3 {
            0 => NameSpec::Sibling { number: input.u16() },
            1 => NameSpec::Temp { number: input.u16() },
            _ => NameSpec::Garbage(input.u8()),
        }
    }

    fn encode(&self, out: &mut FuzzOutput) {
        match self {
            NameSpec::Sibling { number } => out.u8(0).u16(*number),
            NameSpec::Temp { number } => out.u8(1).u16(*number),
            NameSpec::Garbage(i) => out.u8(2).u8(*i),
        };
    }
}

/// One way to damage a directory image. `file` picks a file by index
/// (modulo the number of files, in path order); offsets are taken modulo
/// the file's length.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mutation {
    /// Flip bit `bit % 8` of one byte (bit rot).
    FlipBit {
        /// Which file.
        file: u8,
        /// Which byte.
        offset: u16,
        /// Which bit.
        bit: u8,
    },
    /// Overwrite bytes (not past the end of the file).
    Overwrite {
        /// Which file.
        file: u8,
        /// Where.
        offset: u16,
        /// With what.
        bytes: Vec<u8>,
    },
    /// Zero a range (a lost write of a pre-zeroed area).
    Zero {
        /// Which file.
        file: u8,
        /// Where.
        offset: u16,
        /// How many bytes.
        len: u16,
    },
    /// Cut the file to `len % (length + 1)` bytes.
    Truncate {
        /// Which file.
        file: u8,
        /// New length (modulo).
        len: u16,
    },
    /// Append `len % 4097` bytes of `fill`.
    Extend {
        /// Which file.
        file: u8,
        /// How many bytes (modulo).
        len: u16,
        /// The byte appended.
        fill: u8,
    },
    /// Delete the file.
    Remove {
        /// Which file.
        file: u8,
    },
    /// Copy the file to another name in its directory.
    Duplicate {
        /// Which file.
        file: u8,
        /// The new name.
        name: NameSpec,
    },
    /// Move the file to another name in its directory.
    Rename {
        /// Which file.
        file: u8,
        /// The new name.
        name: NameSpec,
    },
    /// Plant a file: `bytes` followed by `zeros` zero bytes.
    AddFile {
        /// Which directory of the image.
        dir: u8,
        /// Its name.
        name: NameSpec,
        /// Its first bytes.
        bytes: Vec<u8>,
        /// Zeros after them.
        zeros: u16,
    },
    /// Copy `len` bytes from one place to another (a misdirected write).
    Copy {
        /// Source file.
        from: u8,
        /// Source offset.
        from_offset: u16,
        /// Destination file.
        to: u8,
        /// Destination offset.
        to_offset: u16,
        /// How many bytes.
        len: u16,
    },
    /// Overwrite the whole file with zeros (a backup tool restored a hole).
    /// Encoded with the tag byte 253, so that inputs written before it
    /// existed mostly decode as they did.
    ZeroFile {
        /// Which file.
        file: u8,
    },
    /// Replace the file by an empty directory of the same name (tag 254).
    ReplaceWithDir {
        /// Which file.
        file: u8,
    },
    /// Make reads of `offset .. offset + max(len, 1)` fail with EIO.
    FailReads {
        /// Which file.
        file: u8,
        /// Where.
        offset: u16,
        /// How many bytes.
        len: u16,
    },
}

/// Longest byte string an [`Mutation::Overwrite`] or [`Mutation::AddFile`] carries.
const MAX_BYTES: usize = 64;

impl Mutation {
    /// Read one mutation (every input decodes to one).
    pub fn decode(input: &mut FuzzInput) -> Mutation {
        let tag = input.u8();
        match tag {
            253 => return Mutation::ZeroFile { file: input.u8() },
            254 => return Mutation::ReplaceWithDir { file: input.u8() },
            _ => {}
        }
        match tag % 11 {
            0 => Mutation::FlipBit { file: input.u8(), offset: input.u16(), bit: input.u8() },
            1 => Mutation::Overwrite { file: input.u8(), offset: input.u16(), bytes: input.short_bytes(MAX_BYTES) },
            2 => Mutation::Zero { file: input.u8(), offset: input.u16(), len: input.u16() },
            3 => Mutation::Truncate { file: input.u8(), len: input.u16() },
            4 => Mutation::Extend { file: input.u8(), len: input.u16(), fill: input.u8() },
            5 => Mutation::Remove { file: input.u8() },
            6 => Mutation::Duplicate { file: input.u8(), name: NameSpec::decode(input) },
            7 => Mutation::Rename { file: input.u8(), name: NameSpec::decode(input) },
            8 => Mutation::AddFile {
                dir: input.u8(),
                name: NameSpec::decode(input),
                bytes: input.short_bytes(MAX_BYTES),
                zeros: input.u16(),
            },
            9 => Mutation::Copy {
                from: input.u8(),
                from_offset: input.u16(),
                to: input.u8(),
                to_offset: input.u16(),
                len: input.u16(),
            },
            _ => Mutation::FailReads { file: input.u8(), offset: input.u16(), len: input.u16() },
        }
    }

    /// Read a count (at most `max`), then that many mutations.
    pub fn decode_list(input: &mut FuzzInput, max: usize) -> Vec<Mutation> {
        let n = input.u8() as usize % (max + 1);
        (0..n).map(|_| Mutation::decode(input)).collect()
    }

    /// Write a count, then the mutations, as [`Mutation::decode_list`] reads them.
    pub fn encode_list(list: &[Mutation], out: &mut FuzzOutput) {
        out.u8(list.len() as u8);
        for m in list {
            m.encode(out);
        }
    }

    /// Write the mutation as [`Mutation::decode`] reads it (byte strings
    /// longer than 64 bytes are cut).
    pub fn encode(&self, out: &mut FuzzOutput) {
        let short = |b: &[u8]| b[..b.len().min(MAX_BYTES)].to_vec();
        match self {
            Mutation::FlipBit { file, offset, bit } => out.u8(0).u8(*file).u16(*offset).u8(*bit),
            Mutation::Overwrite { file, offset, bytes } => out.u8(1).u8(*file).u16(*offset).short_bytes(&short(bytes)),
            Mutation::Zero { file, offset, len } => out.u8(2).u8(*file).u16(*offset).u16(*len),
            Mutation::Truncate { file, len } => out.u8(3).u8(*file).u16(*len),
            Mutation::Extend { file, len, fill } => out.u8(4).u8(*file).u16(*len).u8(*fill),
            Mutation::Remove { file } => out.u8(5).u8(*file),
            Mutation::Duplicate { file, name } => {
                out.u8(6).u8(*file);
                name.encode(out);
                out
            }
            Mutation::Rename { file, name } => {
                out.u8(7).u8(*file);
                name.encode(out);
                out
            }
            Mutation::AddFile { dir, name, bytes, zeros } => {
                out.u8(8).u8(*dir);
                name.encode(out);
                out.short_bytes(&short(bytes)).u16(*zeros)
            }
            Mutation::Copy { from, from_offset, to, to_offset, len } => {
                out.u8(9).u8(*from).u16(*from_offset).u8(*to).u16(*to_offset).u16(*len)
            }
            Mutation::FailReads { file, offset, len } => out.u8(10).u8(*file).u16(*offset).u16(*len),
            Mutation::ZeroFile { file } => out.u8(253).u8(*file),
            Mutation::ReplaceWithDir { file } => out.u8(254).u8(*file),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mutations_round_trip_through_their_encoding() {
        let all = vec![
            Mutation::FlipBit { file: 1, offset: 4200, bit: 9 },
            Mutation::Overwrite { file: 2, offset: 7, bytes: vec![1, 2, 3] },
            Mutation::Zero { file: 0, offset: 4096, len: 512 },
            Mutation::Truncate { file: 3, len: 4095 },
            Mutation::Extend { file: 1, len: 10, fill: 0xAA },
            Mutation::Remove { file: 4 },
            Mutation::Duplicate { file: 0, name: NameSpec::Sibling { number: 99 } },
            Mutation::Rename { file: 0, name: NameSpec::Temp { number: 3 } },
            Mutation::AddFile { dir: 1, name: NameSpec::Garbage(2), bytes: vec![9; 5], zeros: 8192 },
            Mutation::Copy { from: 0, from_offset: 4096, to: 1, to_offset: 4200, len: 100 },
            Mutation::FailReads { file: 2, offset: 5000, len: 512 },
            Mutation::ZeroFile { file: 1 },
            Mutation::ReplaceWithDir { file: 3 },
        ];
        let mut out = FuzzOutput::new();
        Mutation::encode_list(&all, &mut out);
        let bytes = out.finish();
        let mut input = FuzzInput::new(&bytes);
        assert_eq!(Mutation::decode_list(&mut input, 16), all);
        assert!(input.is_empty());
    }

    #[test]
    fn names_keep_the_shape_of_their_sibling() {
        let s = NameSpec::Sibling { number: 42 };
        assert_eq!(s.resolve(Some("00000000000000000001.wal")), "00000000000000000042.wal");
        assert_eq!(s.resolve(Some("snap-00000000000000000007.snap")), "snap-00000000000000000042.snap");
        assert_eq!(NameSpec::Temp { number: 1 }.resolve(Some("a.wal")), "a.wal.1.tmp");
        assert_eq!(NameSpec::Temp { number: 2 }.resolve(None), "prepare-00000000000000000002.tmp");
        assert_eq!(NameSpec::Garbage(0).resolve(None), "LOCK");
    }

    #[test]
    fn mutations_change_what_they_say_and_log_it() {
        let mut img = DiskImage {
            dirs: vec![PathBuf::from("/d")],
            files: vec![(PathBuf::from("/d/a"), vec![0; 10]), (PathBuf::from("/d/b"), vec![1; 10])],
            read_errors: Vec::new(),
            squatters: Vec::new(),
        };
        let mut log = DamageLog::default();
        img.apply(&Mutation::FlipBit { file: 0, offset: 13, bit: 1 }, &mut log);
        assert_eq!(img.files[0].1[3], 2);
        assert!(log.touches(Path::new("/d/a"), 3..4) && !log.touches(Path::new("/d/a"), 4..10));
        img.apply(&Mutation::Copy { from: 1, from_offset: 0, to: 0, to_offset: 8, len: 5 }, &mut log);
        assert_eq!(&img.files[0].1[7..], &[0, 1, 1]);
        img.apply(&Mutation::Rename { file: 1, name: NameSpec::Garbage(1) }, &mut log);
        assert_eq!(img.files.iter().map(|(p, _)| p.to_str().unwrap()).collect::<Vec<_>>(), ["/d/README", "/d/a"]);
        assert!(log.reshaped_in(Path::new("/d")));
        img.apply(&Mutation::ZeroFile { file: 0 }, &mut log);
        assert_eq!(img.files[0].1, vec![0; 10]);
        img.apply(&Mutation::ReplaceWithDir { file: 1 }, &mut log);
        assert!(log.reshaped.contains(Path::new("/d/a")));
        let mem = img.load().unwrap();
        assert_eq!(mem.read_file(Path::new("/d/README")).unwrap(), vec![0; 10]);
        assert_eq!(mem.list(Path::new("/d")).unwrap(), ["README"]);
        let e = mem.open(Path::new("/d/a"), paxos_wal::storage::OpenOptions::create()).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EISDIR));
    }
}
