//! `gossip simulate` scenarios, through the library and the binary.

use assert_cmd::Command;
use gossip::simulation::{Dissemination, Scenario, SimConfig, run};

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

fn side_by_side(scenario: Scenario) -> gossip::simulation::Report {
    run(&SimConfig {
        nodes: 60,
        degree: 6,
        bulletins: 4,
        seed: 3,
        scenario,
        dissemination: Dissemination::Both,
        ..SimConfig::default()
    })
    .unwrap()
}

#[test]
fn plumtree_reaches_every_node_with_little_redundancy_beside_flooding() {
    let r = side_by_side(Scenario::Flood);
    let [flood, tree] = &r.runs[..] else {
        panic!("two runs: {:?}", r.runs);
    };
    assert_eq!(
        (flood.dissemination, tree.dissemination),
        ("flood", "plumtree")
    );
    assert_eq!(flood.coverage, 1.0);
    assert_eq!(tree.min_coverage, 1.0, "{tree:?}");
    assert!(tree.redundancy <= 0.5, "{tree:?}");
    assert!(flood.redundancy >= 4.0, "{flood:?}");
    assert!(
        tree.crypto_per_delivery * 2.0 <= flood.crypto_per_delivery,
        "{tree:?} against {flood:?}"
    );
    assert!(tree.announcements > 0 && tree.setup_messages > 0);
}

#[test]
fn the_warm_up_leaves_exactly_a_tree() {
    // Both ends of every link advertise the extension, as relays do: with
    // one end only, a node that knew one neighbour spoke it kept that link
    // eager as its last, and links beside the tree stayed eager.
    let r = side_by_side(Scenario::Flood);
    let [flood, tree] = &r.runs[..] else {
        panic!("two runs: {:?}", r.runs);
    };
    assert_eq!(flood.eager_links, 2 * r.links as u64, "{flood:?}");
    assert_eq!(tree.eager_links, 2 * (r.nodes as u64 - 1), "{tree:?}");
    assert!(tree.redundancy < 0.05, "{tree:?}");
}

#[test]
fn under_churn_every_node_left_ends_with_every_bulletin() {
    let r = side_by_side(Scenario::Churn);
    for run in &r.runs {
        assert_eq!(run.min_coverage, 1.0, "{run:?}");
    }
    assert!(
        r.runs[1].repairs > 0,
        "the tree was repaired: {:?}",
        r.runs[1]
    );
    assert!(r.notes[0].contains("12 of 60 nodes left"), "{:?}", r.notes);
    assert!(r.notes[0].contains("48 of the 48 left hold every bulletin"));
}

#[test]
fn every_scenario_runs_with_the_extension() {
    for scenario in [Scenario::Spam, Scenario::LateJoin, Scenario::Partition] {
        let r = run(&SimConfig {
            dissemination: Dissemination::Plumtree,
            ..config(scenario)
        })
        .unwrap();
        let tree = &r.runs[0];
        assert_eq!(tree.dissemination, "plumtree");
        let good = if scenario == Scenario::Spam {
            2
        } else {
            r.bulletins
        };
        assert!(
            r.coverage[..good].iter().all(|&c| c == 1.0),
            "{scenario:?}: {:?}",
            r.coverage
        );
    }
}

#[test]
fn cli_runs_both_side_by_side() {
    let out = Command::cargo_bin("gossip")
        .unwrap()
        .args([
            "simulate",
            "--nodes",
            "12",
            "--dissemination",
            "both",
            "--scenario",
            "churn",
            "--json",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["runs"][0]["dissemination"], "flood");
    assert_eq!(v["runs"][1]["dissemination"], "plumtree");
    assert_eq!(v["scenario"], "churn");
    let bad = Command::cargo_bin("gossip")
        .unwrap()
        .args(["simulate", "--dissemination", "plumtree", "--threaded"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
}
