//! Progress for long runs, on a terminal and off it.
//!
//! On a terminal (stderr), an `indicatif` bar. Otherwise (CI, a log file, a
//! pipe) a bar would print nothing, so a background thread writes one plain
//! line to stderr every few seconds with the count done, and a long run is
//! never silent. The interval is 5 s; the environment variable
//! `PAXOS_STORE_PROGRESS_SECS` changes it (tests use a short one).

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How often a line is printed when stderr is not a terminal.
pub fn interval() -> Duration {
    std::env::var("PAXOS_STORE_PROGRESS_SECS")
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s > 0.0)
        .map_or(Duration::from_secs(5), Duration::from_secs_f64)
}

struct Lines {
    pos: AtomicU64,
    msg: Mutex<String>,
    done: AtomicBool,
}

/// A progress display: a bar on a terminal, periodic lines elsewhere, or
/// nothing ([`Progress::hidden`]).
pub struct Progress {
    bar: Option<indicatif::ProgressBar>,
    lines: Option<Arc<Lines>>,
    ticker: Option<std::thread::JoinHandle<()>>,
}

impl Progress {
    /// Progress towards `len` units of `unit` (`"seeds"`, `"cycles"`, ...);
    /// `len` 0 means the total is unknown (bench: one case after another).
    pub fn new(what: &str, len: u64, unit: &str) -> Progress {
        if std::io::stderr().is_terminal() {
            let bar = if len == 0 {
                let b = indicatif::ProgressBar::new_spinner();
                b.enable_steady_tick(Duration::from_millis(120));
                b
            } else {
                let b = indicatif::ProgressBar::new(len);
                let template = format!("{{bar:40}} {{pos}}/{{len}} {unit} {{msg}}");
                if let Ok(style) = indicatif::ProgressStyle::with_template(&template) {
                    b.set_style(style);
                }
                b
            };
            return Progress { bar: Some(bar), lines: None, ticker: None };
        }
        let lines =
            Arc::new(Lines { pos: AtomicU64::new(0), msg: Mutex::new(String::new()), done: AtomicBool::new(false) });
        let every = interval();
        let (what, unit) = (what.to_string(), unit.to_string());
        let l = lines.clone();
        let ticker = std::thread::spawn(move || {
            let start = Instant::now();
            let mut next = every;
            while !l.done.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(20).min(every));
                if start.elapsed() < next {
                    continue;
                }
                next = start.elapsed() + every;
                let pos = l.pos.load(Ordering::Relaxed);
                let msg = l.msg.lock().map(|m| m.clone()).unwrap_or_default();
                let count = if len == 0 { format!("{pos} {unit} done") } else { format!("{pos}/{len} {unit}") };
                let sep = if msg.is_empty() { "" } else { " " };
                eprintln!("{what}: {count}{sep}{msg} ({:.0} s)", start.elapsed().as_secs_f64());
            }
        });
        Progress { bar: None, lines: Some(lines), ticker: Some(ticker) }
    }

    /// No output at all.
    pub fn hidden() -> Progress {
        Progress { bar: None, lines: None, ticker: None }
    }

    /// `n` more units done.
    pub fn inc(&self, n: u64) {
        if let Some(b) = &self.bar {
            b.inc(n);
        }
        if let Some(l) = &self.lines {
            l.pos.fetch_add(n, Ordering::Relaxed);
        }
    }

    /// `n` units done in all.
    pub fn set_position(&self, n: u64) {
        if let Some(b) = &self.bar {
            b.set_position(n);
        }
        if let Some(l) = &self.lines {
            l.pos.store(n, Ordering::Relaxed);
        }
    }

    /// What is happening now.
    pub fn set_message(&self, msg: impl Into<String>) {
        let msg = msg.into();
        if let Some(l) = &self.lines {
            if let Ok(mut m) = l.msg.lock() {
                *m = msg.clone();
            }
        }
        if let Some(b) = &self.bar {
            b.set_message(msg);
        }
    }

    /// Run `f` with the bar out of the way (for lines that must be seen).
    pub fn suspend<R>(&self, f: impl FnOnce() -> R) -> R {
        match &self.bar {
            Some(b) => b.suspend(f),
            None => f(),
        }
    }

    /// Stop: clear the bar, stop the lines.
    pub fn finish(&mut self) {
        if let Some(b) = self.bar.take() {
            b.finish_and_clear();
        }
        if let Some(l) = &self.lines {
            l.done.store(true, Ordering::Relaxed);
        }
        if let Some(t) = self.ticker.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}
