#![no_main]

use std::sync::LazyLock;

use sesame::fuzzing::Peer;

/// The SP the seeds come from, registered from its metadata (fixture/sp-metadata.xml).
static PEER: LazyLock<Peer> = LazyLock::new(|| {
    Peer::from_metadata(include_str!("../fixture/sp-metadata.xml")).expect("the fixture SP metadata is valid")
});

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    sesame::fuzzing::logout(&PEER, data);
});
