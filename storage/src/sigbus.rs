//! Turning a SIGBUS in a segment mapping into a typed error.
//!
//! A read through a shared file mapping dies with SIGBUS when the page it
//! touches cannot be backed: the file was truncated under the mapping
//! (another process, an operator, a backup tool), a hole in a sparse file
//! cannot be allocated on a full disk, or the disk returns EIO while the page
//! is read back in. Contract rule 7 wants a typed error instead.
//!
//! So every mapping [`super::FsStorage`] hands out is registered here, in a
//! fixed-size, lock-free table of `(start, len, failed)`. A process-wide
//! SIGBUS handler, installed once with `SA_SIGINFO | SA_ONSTACK`, looks the
//! faulting address (`si_addr`) up in that table. If it is ours, the handler
//! maps a private anonymous zero page over the faulting page
//! (`MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS`), marks the mapping failed and
//! returns: the access is restarted and reads zeros. The reader checks
//! [`Registration::failed`] after it read (the log does that for every record
//! it returns) and reports the error. A mapping that failed stays failed
//! until it is dropped (the log is reopened: recovery reads with `pread`).
//!
//! A fault at an address that is not ours goes to the handler that was
//! installed before (the Rust runtime's stack-overflow handler, or the
//! application's); if that was the default action, the default action is
//! restored and the fault happens again, with the usual result.
//!
//! Limits: at most [`SLOTS`] mappings can be registered at once in a process
//! (registering more fails, and the log refuses to map the segment rather
//! than map it unprotected); an application that installs its own SIGBUS
//! handler later, without chaining to the previous one, turns the protection
//! off.

use std::io;
use std::sync::atomic::{compiler_fence, fence, AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::OnceLock;

/// How many mappings can be registered at once (all logs of the process).
pub const SLOTS: usize = 4096;

/// One registered mapping. `gen % 4` is the slot's state: 0 free, 1 being
/// filled, 2 live, 3 being emptied. The handler reads `start` and `len` as a
/// seqlock: only when `gen` is live and the same before and after.
struct Slot {
    gen: AtomicU64,
    start: AtomicUsize,
    len: AtomicUsize,
    failed: AtomicBool,
}

impl Slot {
    const fn new() -> Self {
        Slot {
            gen: AtomicU64::new(0),
            start: AtomicUsize::new(0),
            len: AtomicUsize::new(0),
            failed: AtomicBool::new(false),
        }
    }
}

static TABLE: [Slot; SLOTS] = [const { Slot::new() }; SLOTS];
/// One past the highest slot ever claimed: the handler looks no further.
static HIGH: AtomicUsize = AtomicUsize::new(0);
static PAGE: AtomicUsize = AtomicUsize::new(4096);

/// The SIGBUS action that was installed before ours.
struct Previous(libc::sigaction);
// SAFETY: a `sigaction` is plain data (a handler address, a signal mask and
// flags); it is written once, before our handler can run, and only read after.
unsafe impl Sync for Previous {}
// SAFETY: as for Sync.
unsafe impl Send for Previous {}

static PREVIOUS: OnceLock<Previous> = OnceLock::new();
static INSTALLED: OnceLock<bool> = OnceLock::new();

/// A registered mapping; unregistered on drop (drop it *before* unmapping).
#[derive(Debug)]
pub(crate) struct Registration {
    slot: usize,
    gen: u64,
}

impl Registration {
    /// Whether a read in the mapping faulted (the faulting page now reads as zeros).
    pub fn failed(&self) -> bool {
        // A fence for the signal handler of this thread: the reads of mapped
        // bytes before this call are not moved after the flag is read.
        compiler_fence(Ordering::SeqCst);
        TABLE[self.slot].failed.load(Ordering::SeqCst)
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        let s = &TABLE[self.slot];
        s.gen.store(self.gen + 1, Ordering::SeqCst);
        s.len.store(0, Ordering::Relaxed);
        s.start.store(0, Ordering::Relaxed);
        s.gen.store(self.gen + 2, Ordering::Release);
    }
}

/// Register the mapping `[start, start + len)`, installing the handler on
/// first use. Fails when the handler cannot be installed or the table is full.
pub(crate) fn register(start: *const u8, len: usize) -> io::Result<Registration> {
    if !*INSTALLED.get_or_init(install) {
        return Err(io::Error::other("cannot install the SIGBUS handler that protects mapped reads"));
    }
    for (i, s) in TABLE.iter().enumerate() {
        let g = s.gen.load(Ordering::Relaxed);
        if g % 4 != 0 || s.gen.compare_exchange(g, g + 1, Ordering::Acquire, Ordering::Relaxed).is_err() {
            continue;
        }
        s.start.store(start as usize, Ordering::Relaxed);
        s.len.store(len, Ordering::Relaxed);
        s.failed.store(false, Ordering::Relaxed);
        HIGH.fetch_max(i + 1, Ordering::SeqCst);
        s.gen.store(g + 2, Ordering::SeqCst);
        return Ok(Registration { slot: i, gen: g + 2 });
    }
    Err(io::Error::other(format!("more than {SLOTS} segment mappings are open in this process")))
}

fn install() -> bool {
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if page > 0 {
        PAGE.store(page as usize, Ordering::Relaxed);
    }
    // SAFETY: all-zero is a valid `sigaction` (no handler, empty mask, no flags).
    let mut old: libc::sigaction = unsafe { std::mem::zeroed() };
    // SAFETY: a null new action only reads the current one into `old`, a valid out-pointer.
    if unsafe { libc::sigaction(libc::SIGBUS, std::ptr::null(), &mut old) } != 0 {
        return false;
    }
    // The previous action is stored before ours can run.
    let _ = PREVIOUS.set(Previous(old));
    // SAFETY: as above, all-zero is a valid `sigaction`.
    let mut new: libc::sigaction = unsafe { std::mem::zeroed() };
    new.sa_sigaction = on_sigbus as extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) as usize;
    new.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
    // SAFETY: `sa_mask` is a valid sigset to initialise.
    unsafe { libc::sigemptyset(&mut new.sa_mask) };
    // SAFETY: `new` is a fully initialised action whose handler has the
    // SA_SIGINFO signature; a null old-action pointer is allowed.
    unsafe { libc::sigaction(libc::SIGBUS, &new, std::ptr::null_mut()) == 0 }
}

/// The slot of the live mapping containing `addr`. Async-signal-safe: atomic
/// loads only.
fn lookup(addr: usize) -> Option<&'static Slot> {
    let high = HIGH.load(Ordering::Acquire).min(SLOTS);
    TABLE[..high].iter().find(|s| {
        let g1 = s.gen.load(Ordering::Acquire);
        if g1 % 4 != 2 {
            return false;
        }
        let start = s.start.load(Ordering::Relaxed);
        let len = s.len.load(Ordering::Relaxed);
        fence(Ordering::Acquire);
        s.gen.load(Ordering::Relaxed) == g1 && addr >= start && addr - start < len
    })
}

extern "C" fn on_sigbus(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo to an SA_SIGINFO handler; for
    // SIGBUS `si_addr` is the faulting address (meaningless, and not ours,
    // when the signal was sent by a process).
    let (addr, code) = unsafe { ((*info).si_addr() as usize, (*info).si_code) };
    if code > 0 {
        if let Some(slot) = lookup(addr) {
            let page = PAGE.load(Ordering::Relaxed);
            let base = addr & !(page - 1);
            // SAFETY: `base..base + page` lies inside a live mapping of ours
            // (the fault came from a reader of it, and a registration is
            // dropped only after its last reader). Replacing that page with
            // a private zero page changes only what readers of this mapping
            // see, which the failed flag tells them to distrust. mmap is a
            // plain system call on Linux, safe to make in a signal handler.
            let p = unsafe {
                libc::mmap(
                    base as *mut libc::c_void,
                    page,
                    libc::PROT_READ | libc::PROT_WRITE,
                    libc::MAP_FIXED | libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                    -1,
                    0,
                )
            };
            if p != libc::MAP_FAILED {
                slot.failed.store(true, Ordering::SeqCst);
                return;
            }
        }
    }
    chain(sig, info, ctx);
}

/// Hand a SIGBUS that is not ours to the previous action.
fn chain(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    let prev = PREVIOUS.get().map(|p| p.0);
    let handler = prev.map_or(libc::SIG_DFL, |p| p.sa_sigaction);
    if handler == libc::SIG_DFL || handler == libc::SIG_IGN {
        // Restore the default action; the faulting access runs again and
        // dies of it, as without us (a SIGBUS sent by a process is raised
        // again, to be delivered when this handler returns).
        // SAFETY: all-zero is a valid `sigaction`; SIG_DFL is 0.
        let mut dfl: libc::sigaction = unsafe { std::mem::zeroed() };
        dfl.sa_sigaction = libc::SIG_DFL;
        // SAFETY: valid action, null old pointer; sigaction and raise are async-signal-safe.
        unsafe {
            libc::sigaction(sig, &dfl, std::ptr::null_mut());
            // SAFETY: `info` is valid (see on_sigbus).
            if (*info).si_code <= 0 {
                libc::raise(sig);
            }
        }
        return;
    }
    let flags = prev.map_or(0, |p| p.sa_flags);
    if flags & libc::SA_SIGINFO != 0 {
        // SAFETY: the previous action was installed with SA_SIGINFO, so its
        // handler has this signature; we pass it what the kernel gave us.
        let f: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
            unsafe { std::mem::transmute(handler) };
        f(sig, info, ctx);
    } else {
        // SAFETY: without SA_SIGINFO the handler takes the signal number only.
        let f: extern "C" fn(libc::c_int) = unsafe { std::mem::transmute(handler) };
        f(sig);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_truncated_file_reads_as_a_failed_mapping_not_a_crash() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let file = std::fs::OpenOptions::new().read(true).write(true).create(true).truncate(true).open(&path).unwrap();
        file.set_len(4 * 4096).unwrap();
        let map = memmap2::MmapOptions::new().len(4 * 4096).map_raw(&file).unwrap();
        let reg = register(map.as_ptr(), map.len()).unwrap();
        // SAFETY: inside the mapping; the file is long enough.
        assert_eq!(unsafe { std::ptr::read_volatile(map.as_ptr().add(3 * 4096)) }, 0);
        assert!(!reg.failed());
        file.set_len(4096).unwrap();
        // SAFETY: inside the mapping; the page is gone, the handler maps zeros.
        let b = unsafe { std::ptr::read_volatile(map.as_ptr().add(3 * 4096 + 5)) };
        assert_eq!(b, 0);
        assert!(reg.failed());
        drop(reg);
        drop(map);
    }

    #[test]
    fn slots_are_reused_after_drop() {
        let buf = [0u8; 64];
        let a = register(buf.as_ptr(), 64).unwrap();
        drop(a);
        let b = register(buf.as_ptr(), 64).unwrap();
        assert!(!b.failed());
        assert!(lookup(buf.as_ptr() as usize + 10).is_some());
        drop(b);
        assert!(lookup(buf.as_ptr() as usize + 10).is_none());
    }
}
