//! A short run of the real kill -9 loop (the long one is
//! `paxos-store torture --cycles N`).

#[test]
fn acknowledged_operations_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let exe = std::path::Path::new(env!("CARGO_BIN_EXE_paxos-store"));
    let stats = paxos_store_cli::torture::parent(exe, dir.path(), 20, 42, |_| {}).unwrap();
    assert!(stats.violations.is_empty(), "{:#?}", stats.violations);
    assert_eq!(stats.cycles, 20);
    assert!(stats.acknowledged > 50, "the children did work: {stats:?}");
    assert!(stats.verified > 20, "restarts verified what was acknowledged: {stats:?}");
    eprintln!("torture: {stats:?}");
}
