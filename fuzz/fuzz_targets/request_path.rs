//! Fuzzes what a connection does with client bytes (see `rafka_fuzz::Harness`): split frames,
//! parse each request, decode its body at every version of its key, dispatch it through
//! `KafkaApis` (body decode, handling, response encode). Any panic or abort is a finding.
//!
//! With `RAFKA_FUZZ_SEED_DIR=DIR` set, the target first checks the generated seed frames
//! (`rafka_fuzz::seeds`, one per api key and version of `SUPPORTED_VERSIONS`) against the
//! parser and writes them into DIR; libFuzzer reads its corpus directories only after this,
//! so DIR can be one of them (scripts/fuzz.sh does that).
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use rafka_fuzz::Harness;

fn harness() -> &'static Harness {
    static HARNESS: OnceLock<Harness> = OnceLock::new();
    HARNESS.get_or_init(Harness::new)
}

/// Checks and writes the seeds; exits the process (status 2) when they are unusable.
fn prepare_seeds(dir: &std::path::Path) {
    match rafka_fuzz::check_seeds(harness()) {
        Ok(closed) => {
            for name in closed {
                eprintln!("rafka-fuzz: warning: a handler closed the connection on seed {name}");
            }
        }
        Err(refused) => {
            eprintln!("rafka-fuzz: the parser refuses generated seeds: {refused:?}");
            std::process::exit(2);
        }
    }
    match rafka_fuzz::write_seeds(dir) {
        Ok(n) => eprintln!("rafka-fuzz: wrote {n} seed inputs to {}", dir.display()),
        Err(e) => {
            eprintln!("rafka-fuzz: cannot write seeds to {}: {e}", dir.display());
            std::process::exit(2);
        }
    }
}

fuzz_target!(
    init: {
        if let Some(dir) = std::env::var_os("RAFKA_FUZZ_SEED_DIR") {
            prepare_seeds(std::path::Path::new(&dir));
        }
    },
    |data: &[u8]| {
        harness().run(data);
    }
);
