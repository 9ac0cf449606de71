//! Print criterion's saved results as ratios against the baseline measured
//! in the same run.
//!
//! ```text
//! bench-report [--dir <criterion dir>] [<saved baseline>...]
//! ```
//!
//! For every benchmark `<group>/<function>/<param>` it prints the median
//! time per iteration, the throughput, the ratio of its time to
//! `<group>/raw_pwrite_fdatasync/<param>` (the raw floor; > 1 is slower),
//! and, where the parameter is a thread count, its throughput over the same
//! function at one thread. With several saved baselines (`cargo bench --
//! --save-baseline r1`, then `r2`, ...) each ratio is computed per round and
//! the median of the rounds printed, with the range. Default: the latest
//! run (`new`) under `$CARGO_TARGET_DIR/criterion` or `target/criterion`.

use paxos_store_benches::stats::median;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Clone, Debug)]
struct Result1 {
    median_ns: f64,
    elements: Option<f64>,
    bytes: Option<f64>,
}

type Key = (String, String, String); // group, function, param

fn load(dir: &Path, baseline: &str, out: &mut BTreeMap<Key, Result1>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if !path.is_dir() {
            continue;
        }
        if path.file_name().is_some_and(|n| n == baseline) {
            if let Some((k, r)) = read_one(&path) {
                out.insert(k, r);
            }
        } else {
            load(&path, baseline, out)?;
        }
    }
    Ok(())
}

fn read_one(dir: &Path) -> Option<(Key, Result1)> {
    let json = |name: &str| -> Option<serde_json::Value> {
        serde_json::from_str(&std::fs::read_to_string(dir.join(name)).ok()?).ok()
    };
    let (est, bench) = (json("estimates.json")?, json("benchmark.json")?);
    let s = |v: &serde_json::Value| v.as_str().unwrap_or("").to_string();
    let key = (s(&bench["group_id"]), s(&bench["function_id"]), s(&bench["value_str"]));
    let thr = &bench["throughput"];
    let r = Result1 {
        median_ns: est["median"]["point_estimate"].as_f64()?,
        elements: thr["Elements"].as_f64(),
        bytes: thr["Bytes"].as_f64(),
    };
    Some((key, r))
}

fn fmt_ratio(v: &[f64]) -> String {
    if v.is_empty() {
        return "-".into();
    }
    let m = median(v.to_vec());
    if v.len() == 1 {
        format!("{m:.2}x")
    } else {
        let lo = v.iter().cloned().fold(f64::INFINITY, f64::min);
        let hi = v.iter().cloned().fold(0.0, f64::max);
        format!("{m:.2}x ({lo:.2}-{hi:.2})")
    }
}

fn fmt_time(ns: f64) -> String {
    match ns {
        n if n >= 1e9 => format!("{:.2} s", n / 1e9),
        n if n >= 1e6 => format!("{:.2} ms", n / 1e6),
        n if n >= 1e3 => format!("{:.1} us", n / 1e3),
        n => format!("{n:.0} ns"),
    }
}

fn throughput(r: &Result1) -> Option<(f64, &'static str)> {
    let secs = r.median_ns / 1e9;
    match (r.elements, r.bytes) {
        (Some(e), _) => Some((e / secs, "ops/s")),
        (_, Some(b)) => Some((b / secs / (1 << 20) as f64, "MiB/s")),
        _ => None,
    }
}

fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut dir: Option<PathBuf> = None;
    if let Some(i) = args.iter().position(|a| a == "--dir") {
        dir = args.get(i + 1).map(PathBuf::from);
        args.drain(i..(i + 2).min(args.len()));
    }
    let dir = dir.unwrap_or_else(|| {
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("target"));
        target.join("criterion")
    });
    let rounds = if args.is_empty() { vec!["new".to_string()] } else { args };
    let mut runs = Vec::new();
    for b in &rounds {
        let mut m = BTreeMap::new();
        if let Err(e) = load(&dir, b, &mut m) {
            eprintln!("cannot read {}: {e}", dir.display());
            std::process::exit(1);
        }
        if m.is_empty() {
            eprintln!("no results for baseline {b:?} under {}", dir.display());
            std::process::exit(1);
        }
        runs.push(m);
    }
    println!("rounds: {} ({})", rounds.len(), rounds.join(", "));
    println!("| benchmark | median/iter | throughput | vs raw pwrite+fdatasync | vs 1 thread |");
    println!("| --- | --- | --- | --- | --- |");
    let keys: Vec<Key> = runs[0].keys().cloned().collect();
    for key in keys {
        let (group, func, param) = &key;
        let base_key = (group.clone(), "raw_pwrite_fdatasync".to_string(), param.clone());
        let one_key = (group.clone(), func.clone(), "1".to_string());
        let (mut vs_raw, mut vs_one, mut times) = (Vec::new(), Vec::new(), Vec::new());
        for run in &runs {
            let Some(r) = run.get(&key) else { continue };
            times.push(r.median_ns);
            if func != "raw_pwrite_fdatasync" {
                if let Some(b) = run.get(&base_key) {
                    vs_raw.push(r.median_ns / b.median_ns);
                }
            }
            if param != "1" && param.parse::<u32>().is_ok() {
                if let Some((a, one)) = throughput(r).zip(run.get(&one_key).and_then(throughput)) {
                    vs_one.push(a.0 / one.0);
                }
            }
        }
        let t = median(times);
        let shown = Result1 { median_ns: t, ..runs[0][&key].clone() };
        let thr = throughput(&shown).map_or("-".to_string(), |(v, u)| format!("{v:.0} {u}"));
        println!(
            "| {group}/{func}/{param} | {} | {thr} | {} | {} |",
            fmt_time(t),
            fmt_ratio(&vs_raw),
            fmt_ratio(&vs_one)
        );
    }
}
