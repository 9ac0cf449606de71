//! A tiny run of `paxos-store bench`: every case produces a row with real
//! figures (or says why it could not run), ratios are against the floor
//! row, and the plot is an SVG.

#[test]
fn a_tiny_bench_fills_the_table_and_draws_the_plot() {
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let cfg = paxos_store_cli::bench::BenchConfig {
        dir: dir.path().to_path_buf(),
        ops: 16,
        sizes: vec![128],
        concurrency: vec![1, 4],
    };
    let mut cases = Vec::new();
    let rows = paxos_store_cli::bench::run(&cfg, |c| cases.push(c.to_string()));
    assert_eq!(rows.len(), 5 + 2 + 1, "{cases:?}");
    let floor = &rows[0];
    assert_eq!((floor.method.as_str(), floor.error.as_deref()), ("pwrite+fdatasync", None));
    assert!((floor.vs_floor - 1.0).abs() < 1e-9);
    for r in rows.iter().filter(|r| r.error.is_none()) {
        assert!(r.ops >= 16 && r.ops_per_sec > 0.0 && r.p50_us > 0.0 && r.p99_us >= r.p50_us, "{r:?}");
    }
    let store: Vec<_> = rows.iter().filter(|r| r.kind == "store").collect();
    assert!(store.iter().all(|r| r.error.is_none()), "{store:?}");
    let table = paxos_store_cli::bench::table(&rows);
    assert!(table.contains("durable accept") && table.contains("batch of 64"), "{table}");
    let svg = dir.path().join("plot.svg");
    paxos_store_cli::bench::plot(&rows, &svg, "a test directory").unwrap();
    let svg = std::fs::read_to_string(&svg).unwrap();
    assert!(svg.starts_with("<svg"));
    // Read at a glance: titles with the disk and the sizes, integer ticks at
    // the caller counts measured, the floor and both percentiles labelled.
    let texts: Vec<&str> = svg.split("</text>").filter_map(|t| t.rsplit_once('>').map(|(_, x)| x.trim())).collect();
    for want in [
        "records of 128 B",
        "disk: a test directory",
        "raw floor, 128 B: pwrite+fdatasync, 1 writer",
        "p50, 128 B records",
        "p99, 128 B records",
    ] {
        assert!(texts.iter().any(|t| t.contains(want)), "the plot lacks {want:?}: {texts:?}");
    }
    for tick in ["1", "4"] {
        assert!(texts.contains(&tick), "no tick at {tick} callers: {texts:?}");
    }
    assert!(!texts.iter().any(|t| t.ends_with(".0")), "decimal tick labels: {texts:?}");
}
