//! A disk whose every file sync takes `delay`, over another one (the test
//! kit's hooked storage): an acknowledgement given before its sync returned
//! has a window in which a power cut loses it.

use paxos_store_testkit::hooked::Hooks;
use std::io;
use std::time::Duration;

#[derive(Debug)]
pub struct SlowSync {
    pub delay: Duration,
}

impl Hooks for SlowSync {
    fn before_sync(&self, _all: bool) -> io::Result<()> {
        std::thread::sleep(self.delay);
        Ok(())
    }
}
