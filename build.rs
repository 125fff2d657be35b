//! Marks the interop tests whose GOSSIP_SKIP_* variable is set to 1 as
//! ignored (`tests/interop.rs`), so `cargo test` lists them as `ignored`
//! instead of a silent `ok`. Nothing else is built here.

/// Each skip variable and the cfg it sets.
const SKIPS: [(&str, &str); 3] = [
    ("GOSSIP_SKIP_PYNACL", "gossip_skip_pynacl"),
    ("GOSSIP_SKIP_LIBSODIUM", "gossip_skip_libsodium"),
    ("GOSSIP_SKIP_ORIGINAL", "gossip_skip_original"),
];

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    for (var, cfg) in SKIPS {
        println!("cargo::rerun-if-env-changed={var}");
        println!("cargo::rustc-check-cfg=cfg({cfg})");
        if std::env::var(var).is_ok_and(|v| v == "1") {
            println!("cargo::rustc-cfg={cfg}");
        }
    }
}
