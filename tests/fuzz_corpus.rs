//! Replays the fuzz corpus on stable: every seed (`fuzz/corpus/<target>/`) and every input that once crashed a
//! target (`fuzz/regressions/<target>/`) goes through the same entry function as the target (`sesame::fuzzing`),
//! which must return without a panic. `make fuzz` runs the coverage-guided targets themselves (fuzz/, cargo-fuzz).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::path::{Path, PathBuf};

use sesame::fuzzing::{self, Peer};

/// A target's entry function: whether the input passed every check (see `sesame::fuzzing`).
type Entry = fn(&Peer, &[u8]) -> bool;

/// Each target's name (its directory under `fuzz/corpus` and `fuzz/regressions`) and its entry function.
const TARGETS: &[(&str, Entry)] = &[
    ("redirect", fuzzing::redirect),
    ("post_authn_request", fuzzing::post_authn_request),
    ("logout", fuzzing::logout),
    ("sp_metadata", fuzzing::sp_metadata),
    ("scim_response", |_, data| fuzzing::scim_response(data)),
    ("settings", fuzzing::settings),
];

fn peer() -> Peer {
    Peer::from_metadata(include_str!("../fuzz/fixture/sp-metadata.xml")).expect("the fixture SP metadata is valid")
}

fn inputs(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut files: Vec<PathBuf> = entries.filter_map(Result::ok).map(|e| e.path()).filter(|p| p.is_file()).collect();
    files.sort();
    files
}

#[test]
fn every_seed_and_regression_input_is_handled_without_a_panic() {
    let peer = peer();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    for (target, entry) in TARGETS {
        let seeds = inputs(&root.join("corpus").join(target));
        assert!(!seeds.is_empty(), "fuzz/corpus/{target} has no seeds");
        for path in seeds.iter().chain(&inputs(&root.join("regressions").join(target))) {
            let data = std::fs::read(path).unwrap();
            entry(&peer, &data);
        }
    }
}

/// Every target directory has its entry here, so a new target cannot be left out of the replay.
#[test]
fn every_fuzz_target_is_replayed() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/fuzz_targets");
    let mut targets: Vec<String> =
        inputs(&dir).iter().filter_map(|p| p.file_stem().and_then(|s| s.to_str()).map(str::to_owned)).collect();
    targets.sort();
    let mut replayed: Vec<String> = TARGETS.iter().map(|(name, _)| (*name).to_owned()).collect();
    replayed.sort();
    assert_eq!(targets, replayed);
}

/// The seeds reach the checks behind each parser: signed messages verify against the fixture SP's certificate and
/// pass every check, as do SCIM answers and settings files. A fixture and seeds that no longer belong together
/// (regenerate both with `cd fuzz && cargo run --example seeds`) would leave the fuzzer at the front door.
#[test]
fn well_formed_seeds_pass_every_check() {
    let peer = peer();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
    let accepted = [
        ("redirect", "signed.txt"),
        ("redirect", "logout-request.txt"),
        ("redirect", "logout-response.txt"),
        ("post_authn_request", "signed.xml"),
        ("post_authn_request", "signed.b64"),
        ("logout", "request-signed.xml"),
        ("logout", "response-signed.xml"),
        ("sp_metadata", "signed.xml"),
        ("scim_response", "list.bin"),
        ("scim_response", "config.bin"),
        ("settings", "app.toml"),
        ("settings", "server.toml"),
    ];
    for (target, name) in accepted {
        let (_, entry) = TARGETS.iter().find(|(t, _)| *t == target).unwrap();
        let data = std::fs::read(root.join(target).join(name)).unwrap();
        assert!(entry(&peer, &data), "fuzz/corpus/{target}/{name} is not accepted");
    }
    // And the negative side: an unsigned or tampered message is not counted as verified.
    let unsigned = std::fs::read(root.join("logout/request-unsigned.xml")).unwrap();
    assert!(!fuzzing::logout(&peer, &unsigned));
    let signed = std::fs::read_to_string(root.join("post_authn_request/signed.xml")).unwrap();
    let tampered = signed.replace("ForceAuthn=\"true\"", "ForceAuthn=\"false\"");
    assert_ne!(tampered, signed);
    assert!(!fuzzing::post_authn_request(&peer, tampered.as_bytes()));
    let conflict = std::fs::read(root.join("scim_response/conflict.bin")).unwrap();
    assert!(!fuzzing::scim_response(&conflict));
}
