//! The thread harness for concurrent benchmarks.
//!
//! One criterion sample = threads spawned once, released together by a
//! barrier, each doing its share of the operations; the time is from the
//! release to the last thread's finish. Spawning is outside the timing.

use std::sync::Barrier;
use std::time::{Duration, Instant};

/// Split `total` operations over `threads` as evenly as possible (the first
/// `total % threads` threads do one more). Every thread gets an entry.
pub fn split(total: u64, threads: usize) -> Vec<u64> {
    assert!(threads > 0, "at least one thread");
    let t = threads as u64;
    (0..t).map(|i| total / t + u64::from(i < total % t)).collect()
}

/// Run `work(thread_index, ops)` on one thread per entry of `counts`, all
/// started together, and return the time from their release to the last
/// one's finish. The first error any thread returns is returned (the other
/// threads still run to their end).
pub fn run_threads<E, F>(counts: &[u64], work: F) -> Result<Duration, E>
where
    E: Send,
    F: Fn(usize, u64) -> Result<(), E> + Sync,
{
    let barrier = Barrier::new(counts.len() + 1);
    std::thread::scope(|s| {
        let handles: Vec<_> = counts
            .iter()
            .enumerate()
            .map(|(i, &n)| {
                let (barrier, work) = (&barrier, &work);
                s.spawn(move || {
                    barrier.wait();
                    work(i, n)
                })
            })
            .collect();
        barrier.wait();
        let start = Instant::now();
        let results: Vec<Result<(), E>> =
            handles.into_iter().map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p))).collect();
        let elapsed = start.elapsed();
        results.into_iter().collect::<Result<Vec<()>, E>>().map(|_| elapsed)
    })
}

/// Operations per iteration in the concurrent benchmarks: a multiple of
/// every thread count used (1, 8, 64), so every thread does the same share.
pub const OPS_PER_ITER: u64 = 512;

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Mutex;

    #[test]
    fn split_is_even_and_complete() {
        assert_eq!(split(10, 3), vec![4, 3, 3]);
        assert_eq!(split(2, 4), vec![1, 1, 0, 0]);
        assert_eq!(split(OPS_PER_ITER * 7, 64), vec![56; 64]);
        for (total, t) in [(0, 1), (1, 1), (513, 64), (1000, 7)] {
            let s = split(total, t);
            assert_eq!(s.len(), t);
            assert_eq!(s.iter().sum::<u64>(), total);
            assert!(s.iter().max().unwrap() - s.iter().min().unwrap() <= 1);
        }
    }

    #[test]
    fn every_thread_runs_once_with_its_share_concurrently() {
        let counts = split(100, 8);
        let done = AtomicU64::new(0);
        let seen = Mutex::new(HashSet::new());
        let ids = Mutex::new(HashSet::new());
        // Every thread waits until all 8 are inside `work`: this only finishes
        // if they really run at the same time (the barrier released them all).
        let inside = Barrier::new(8);
        let d = run_threads::<(), _>(&counts, |i, n| {
            inside.wait();
            assert_eq!(n, counts[i]);
            assert!(seen.lock().unwrap().insert(i), "thread {i} ran twice");
            ids.lock().unwrap().insert(std::thread::current().id());
            done.fetch_add(n, Ordering::Relaxed);
            Ok(())
        })
        .unwrap();
        assert_eq!(done.load(Ordering::Relaxed), 100);
        assert_eq!(seen.lock().unwrap().len(), 8);
        assert_eq!(ids.lock().unwrap().len(), 8, "each share ran on its own thread");
        assert!(d > Duration::ZERO);
    }

    #[test]
    fn time_covers_the_slowest_thread() {
        let d = run_threads::<(), _>(&[1, 1], |i, _| {
            if i == 1 {
                std::thread::sleep(Duration::from_millis(30));
            }
            Ok(())
        })
        .unwrap();
        assert!(d >= Duration::from_millis(30), "{d:?}");
    }

    #[test]
    fn an_error_from_any_thread_is_returned() {
        let ran = AtomicU64::new(0);
        let r = run_threads(&[1, 1, 1], |i, _| {
            ran.fetch_add(1, Ordering::Relaxed);
            if i == 2 {
                Err(format!("thread {i} failed"))
            } else {
                Ok(())
            }
        });
        assert_eq!(r.unwrap_err(), "thread 2 failed");
        assert_eq!(ran.load(Ordering::Relaxed), 3, "the others still ran");
    }
}
