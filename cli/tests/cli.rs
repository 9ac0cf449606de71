//! The `paxos-store` binary as a user runs it: bad numbers and bad paths are
//! refused with a clear message and a non-zero exit, a demo's stores can be
//! found and read afterwards, temporary folders stay out of the current
//! directory, `recover --json` gives durations in milliseconds, and a run
//! whose output is not a terminal still reports progress.

use std::path::Path;
use std::process::{Command, Output};

fn run_in(cwd: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_paxos-store"));
    c.args(args).current_dir(cwd);
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().unwrap()
}

fn run(cwd: &Path, args: &[&str]) -> Output {
    run_in(cwd, args, &[])
}

fn text(o: &Output) -> (String, String) {
    (String::from_utf8_lossy(&o.stdout).into_owned(), String::from_utf8_lossy(&o.stderr).into_owned())
}

/// Runs, and must fail with `code` and `want` in stderr.
fn refused(cwd: &Path, args: &[&str], code: i32, want: &str) {
    let o = run(cwd, args);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(code), "{args:?}\nstdout: {out}\nstderr: {err}");
    assert!(err.contains(want), "{args:?}: stderr lacks {want:?}:\n{err}");
}

#[test]
fn every_numeric_argument_is_checked() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for (args, flag) in [
        (&["demo", "--clients", "0"][..], "--clients"),
        (&["demo", "--clients", "100000"], "--clients"),
        (&["demo", "--commands", "0"], "--commands"),
        (&["demo", "--commands", "99999999999"], "--commands"),
        (&["demo", "--commands=-5"], "--commands"),
        (&["demo", "--value-size", "0"], "--value-size"),
        (&["demo", "--value-size", "2000000000"], "--value-size"),
        (&["simulate", "--seeds", "0"], "--seeds"),
        (&["simulate", "--steps", "0"], "--steps"),
        (&["simulate", "--acceptors", "4"], "--acceptors"),
        (&["simulate", "--file-damage", "1.5"], "--file-damage"),
        (&["simulate", "--file-damage=-0.1"], "--file-damage"),
        (&["torture", "--cycles", "0"], "--cycles"),
        (&["torture", "--cycles", "99999999999"], "--cycles"),
        (&["bench", "--ops", "0"], "--ops"),
        (&["bench", "--callers", "1,0"], "--callers"),
        (&["bench", "--callers", "100000"], "--callers"),
        (&["bench", "--sizes", "0"], "--sizes"),
        (&["bench", "--sizes", "128,999999999"], "--sizes"),
    ] {
        refused(d, args, 2, "invalid value");
        refused(d, args, 2, flag);
    }
    refused(
        d,
        &["simulate", "--seed", "18446744073709551615", "--seeds", "2"],
        1,
        "error: --seed 18446744073709551615 --seeds 2: the last seed would be past",
    );
    assert_eq!(std::fs::read_dir(d).unwrap().count(), 0, "a refused command leaves nothing behind");
}

#[test]
fn paths_one_wording_per_situation() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("afile"), b"x").unwrap();
    std::fs::create_dir(d.join("empty")).unwrap();
    // A file where a directory to write in is needed.
    refused(d, &["torture", "--dir", "afile", "--cycles", "1"], 1, "error: afile: not a directory");
    refused(d, &["demo", "--dir", "afile", "--commands", "10"], 1, "error: afile: not a directory");
    refused(d, &["bench", "afile", "--ops", "4"], 1, "error: afile: not a directory");
    // A missing parent: nothing is created.
    for args in [
        &["torture", "--dir", "no/such", "--cycles", "1"][..],
        &["demo", "--dir", "no/such", "--commands", "10"],
        &["bench", "no/such", "--ops", "4"],
    ] {
        refused(d, args, 1, "error: no: does not exist (the parent of no/such");
    }
    assert!(!d.join("no").exists());
    // Reading commands.
    for cmd in ["inspect", "verify", "recover"] {
        refused(d, &[cmd, "missing"], 1, "error: missing: does not exist");
        refused(d, &[cmd, "afile"], 1, "error: afile: not a directory");
        refused(d, &[cmd, "empty"], 1, "error: empty: not a paxos-store store (no wal/ inside)");
    }
}

#[test]
fn a_missing_directory_is_created() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let o = run(d, &["bench", "disk", "--ops", "4", "--sizes", "128", "--callers", "1"]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out}\n{err}");
    assert!(out.starts_with("durable writes in disk (4 operations per case)"), "{out}");
    assert!(d.join("disk").is_dir());
    assert_eq!(std::fs::read_dir(d.join("disk")).unwrap().count(), 0, "bench removes what it made");
    let o = run(d, &["torture", "--dir", "t", "--cycles", "2"]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out}\n{err}");
    assert!(out.contains("on the store in t/store:"), "{out}");
    assert!(d.join("t/store/wal").is_dir());
}

#[test]
fn a_demo_store_can_be_found_inspected_verified_and_recovered() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let o = run(d, &["demo", "--dir", "./D", "--commands", "300", "--clients", "4"]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out}\n{err}");
    for i in 0..3 {
        assert!(out.contains(&format!("acceptor {i}'s store:     D/acceptor-{i}\n")), "{out}");
    }
    assert!(out.contains(", in D\n") && !out.contains("./"), "{out}");
    // The parent of the stores: each one, named.
    let o = run(d, &["inspect", "D"]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert!(out.starts_with("D: 3 stores\n"), "{out}");
    for i in 0..3 {
        assert!(out.contains(&format!("\nD/acceptor-{i}: ")), "{out}");
    }
    let o = run(d, &["verify", "D"]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out}\n{err}");
    assert!(out.contains("D/acceptor-2: ") && out.ends_with("D: 3 stores verified: all clean\n"), "{out}");
    let o = run(d, &["inspect", "D", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v.as_array().map(Vec::len), Some(3), "{v}");
    // recover changes a store: it takes one, and names those inside.
    refused(
        d,
        &["recover", "D"],
        1,
        "error: D: not a paxos-store store (no wal/ inside); the stores in it: D/acceptor-0, D/acceptor-1, D/acceptor-2",
    );
    let o = run(d, &["recover", "D/acceptor-2", "--json"]);
    assert!(o.status.success(), "{}", text(&o).1);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    for k in ["open_log_ms", "snapshot_ms", "replay_ms", "total_ms"] {
        assert!(v[k].is_f64(), "{k}: {v}");
    }
    assert!(v.get("timings").is_none() && !text(&o).0.contains("nanos"), "{v}");
    assert_eq!(v["groups"], 1, "{v}");
}

#[test]
fn a_locked_store_is_named_by_recover_and_demo() {
    use paxos_acceptor_store::{AcceptorStore, StoreOptions};
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut opts = StoreOptions::default();
    opts.log.segment_size = 64 << 10;
    let (store, _) = AcceptorStore::open(d.join("s"), opts).unwrap();
    refused(d, &["recover", "s"], 1, "error: s: locked (another process has this store open)");
    let (other, _) = AcceptorStore::open(d.join("D/acceptor-0"), StoreOptions::default()).unwrap();
    refused(
        d,
        &["demo", "--dir", "D", "--commands", "10"],
        1,
        "error: D/acceptor-0: locked (another process has this store open)",
    );
    drop(other);
    drop(store);
    assert!(run(d, &["recover", "s"]).status.success());
}

#[test]
fn temporary_folders_stay_out_of_the_current_directory() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for args in [
        &["demo", "--commands", "200", "--clients", "2"][..],
        &["torture", "--cycles", "2"],
        &["bench", "--ops", "4", "--sizes", "128", "--callers", "1"],
    ] {
        let o = run(d, args);
        let (out, err) = text(&o);
        assert!(o.status.success(), "{args:?}\n{out}\n{err}");
        assert!(!out.contains("./") && !err.contains("./"), "{args:?}\n{out}\n{err}");
        assert!(!out.contains("paxos-store-demo-") && !out.contains("paxos-store-torture-"), "a deleted path: {out}");
        let left: Vec<_> = std::fs::read_dir(d).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert!(left.is_empty(), "{args:?} left {left:?} in the current directory");
    }
}

#[test]
fn progress_lines_when_not_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let fast = [("PAXOS_STORE_PROGRESS_SECS", "0.01")];
    for (args, want) in [
        (&["simulate", "--seeds", "3", "--steps", "1500"][..], "simulate: "),
        (&["torture", "--cycles", "3"], "torture: "),
        (&["bench", "--ops", "64", "--sizes", "128", "--callers", "1,2"], "bench: "),
        (&["demo", "--commands", "3000", "--clients", "2"], "demo: "),
    ] {
        let o = run_in(d, args, &fast);
        let (out, err) = text(&o);
        assert!(o.status.success(), "{args:?}\n{out}\n{err}");
        let lines: Vec<&str> = err.lines().filter(|l| l.starts_with(want)).collect();
        assert!(!lines.is_empty(), "{args:?}: no progress line on stderr:\n{err}");
        assert!(lines.iter().all(|l| l.contains('/') && l.ends_with(" s)")), "{lines:?}");
        assert!(!out.lines().any(|l| l.starts_with(want)), "progress goes to stderr, not into the results: {out}");
    }
}

#[test]
fn a_closed_pipe_ends_the_output_quietly() {
    use std::io::Read;
    use std::process::Stdio;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    assert!(run(d, &["demo", "--dir", "D", "--commands", "2000", "--clients", "2"]).status.success());
    // Like `| head -1`: read one line, then close the pipe.
    let mut child = Command::new(env!("CARGO_BIN_EXE_paxos-store"))
        .args(["inspect", "D", "--records"])
        .current_dir(d)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = [0u8; 64];
    child.stdout.take().unwrap().read_exact(&mut first).unwrap();
    let mut err = String::new();
    child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    let status = child.wait().unwrap();
    assert!(!err.contains("panicked") && status.code() != Some(101), "{status}: {err}");
}
