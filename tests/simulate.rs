//! `gossip simulate` scenarios, through the library and the binary.

use assert_cmd::Command;
use gossip::simulation::{Scenario, SimConfig, run};

fn config(scenario: Scenario) -> SimConfig {
    SimConfig {
        nodes: 12,
        degree: 2,
        bulletins: 2,
        seed: 7,
        scenario,
        ..SimConfig::default()
    }
}

#[test]
fn flood_reaches_every_node_within_the_flooding_bound() {
    let r = run(&config(Scenario::Flood)).unwrap();
    assert!(r.coverage.iter().all(|&c| c == 1.0), "{:?}", r.coverage);
    assert!(r.messages_per_bulletin <= r.flooding_bound as f64, "{r:?}");
    assert!(r.drops.is_empty(), "{:?}", r.drops);
    assert!(r.ticks.unwrap() < 1000);
}

#[test]
fn same_seed_same_network() {
    let a = run(&config(Scenario::Flood)).unwrap();
    let b = run(&config(Scenario::Flood)).unwrap();
    assert_eq!(
        (a.links, a.messages, a.ticks),
        (b.links, b.messages, b.ticks)
    );
}

#[test]
fn threaded_mode_agrees_with_ticks() {
    let ticks = run(&config(Scenario::Flood)).unwrap();
    let threaded = run(&SimConfig {
        threaded: true,
        ..config(Scenario::Flood)
    })
    .unwrap();
    assert_eq!(threaded.coverage, ticks.coverage);
    assert_eq!(threaded.messages, ticks.messages);
}

#[test]
fn spam_is_dropped_at_the_first_hop() {
    let c = config(Scenario::Spam);
    let r = run(&c).unwrap();
    let spam = &r.coverage[c.bulletins..];
    assert!(spam.iter().all(|&x| x == 0.0), "{:?}", r.coverage);
    assert!(r.coverage[..c.bulletins].iter().all(|&x| x == 1.0));
    assert!(
        r.drops
            .get("weak_bulletin_proof_of_work")
            .copied()
            .unwrap_or(0)
            > 0,
        "{:?}",
        r.drops
    );
}

#[test]
fn late_joiner_catches_up_by_sync() {
    let r = run(&config(Scenario::LateJoin)).unwrap();
    assert!(r.coverage.iter().all(|&c| c == 1.0), "{:?}", r.coverage);
    assert!(
        r.notes[0].contains("held 0 of 2 bulletins before joining and 2 after sync"),
        "{:?}",
        r.notes
    );
}

#[test]
fn partition_heals() {
    let r = run(&SimConfig {
        nodes: 16,
        degree: 3,
        ..config(Scenario::Partition)
    })
    .unwrap();
    assert!(r.coverage.iter().all(|&c| c == 1.0), "{:?}", r.coverage);
    assert!(r.notes[0].contains("after it healed"), "{:?}", r.notes);
}

#[test]
fn cli_prints_text_and_json() {
    let out = Command::cargo_bin("gossip")
        .unwrap()
        .args(["simulate", "--nodes", "8", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["nodes"], 8);
    assert_eq!(v["mean_coverage"], 1.0);
    let out = Command::cargo_bin("gossip")
        .unwrap()
        .args(["simulate", "--nodes", "8"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("coverage      mean 100.0%"));
    let bad = Command::cargo_bin("gossip")
        .unwrap()
        .args(["simulate", "--scenario", "late-join", "--threaded"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).starts_with("gossip: simulate: --threaded"));
}

#[test]
fn cli_seed_defaults_to_1_so_runs_repeat() {
    let run = |extra: &[&str]| {
        let out = Command::cargo_bin("gossip")
            .unwrap()
            .args(["simulate", "--nodes", "8", "--json"])
            .args(extra)
            .output()
            .unwrap();
        assert!(out.status.success());
        let mut v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        v["wall_ms"] = serde_json::Value::Null;
        v
    };
    let default = run(&[]);
    assert_eq!(default, run(&[]));
    assert_eq!(default, run(&["--seed", "1"]));
}
