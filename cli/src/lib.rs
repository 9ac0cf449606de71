//! The library behind the `paxos-store` command line tool: the cluster
//! simulator, the kill -9 torture loop, the demo and the inspection commands,
//! kept here so tests (and fuzz targets) can drive them directly.

pub mod bench;
pub mod demo;
pub mod inspect;
pub mod sim;
pub mod torture;
