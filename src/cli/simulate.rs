//! `gossip simulate`: a whole network in one process, reported as text or JSON.

use std::fmt::Write as _;
use std::io::Write;
use std::process::ExitCode;

use gossip::simulation::{Dissemination, Report, Scenario, SimConfig, run as simulate};

use super::args::{DisseminationArg, ScenarioArg, SimulateArgs};
use super::io::{CmdResult, Failure, stdout, write_err};

pub fn run(args: SimulateArgs) -> CmdResult {
    let scenario = match args.scenario {
        ScenarioArg::Flood => Scenario::Flood,
        ScenarioArg::Spam => Scenario::Spam,
        ScenarioArg::LateJoin => Scenario::LateJoin,
        ScenarioArg::Partition => Scenario::Partition,
        ScenarioArg::Churn => Scenario::Churn,
    };
    let dissemination = match args.dissemination {
        DisseminationArg::Flood => Dissemination::Flood,
        DisseminationArg::Plumtree => Dissemination::Plumtree,
        DisseminationArg::Both => Dissemination::Both,
    };
    if args.threaded && dissemination != Dissemination::Flood {
        return Err(Failure::usage("--threaded", "runs flooding only").hint(
            "the dissemination extension needs timers, which move in ticks: drop --threaded",
        ));
    }
    if args.threaded && !matches!(scenario, Scenario::Flood | Scenario::Spam) {
        return Err(
            Failure::usage("--threaded", "runs the flood and spam scenarios only")
                .hint("late-join and partition move in ticks: drop --threaded"),
        );
    }
    let config = SimConfig {
        nodes: args.nodes as usize,
        degree: args.degree as usize,
        bulletins: args.bulletins as usize,
        seed: args.seed,
        message_difficulty: args.difficulty,
        bulletin_difficulty: args.bulletin_difficulty,
        scenario,
        threaded: args.threaded,
        dissemination,
        announce_every: args.announce_every,
        graft_timeout: args.graft_timeout,
        eager_shortcuts: args.eager_shortcuts,
        one_publisher: args.one_publisher,
        ..SimConfig::default()
    };
    let report = simulate(&config).map_err(|e| Failure::invalid("simulation", e))?;
    let text = if args.output.json() {
        serde_json::to_string(&report).map_err(|e| Failure::io("simulation report", e))? + "\n"
    } else {
        render(&report)
    };
    let mut out = stdout();
    out.write_all(text.as_bytes())
        .and_then(|_| out.flush())
        .map_err(write_err)?;
    Ok(ExitCode::SUCCESS)
}

fn render(r: &Report) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "scenario      {:?} ({})", r.scenario, r.mode);
    let _ = writeln!(
        s,
        "network       {} nodes, each linking to {} others: {} two-way links",
        r.nodes, r.degree, r.links
    );
    let _ = writeln!(s, "bulletins     {}", r.bulletins);
    let min = r.coverage.iter().copied().fold(f64::INFINITY, f64::min);
    let _ = writeln!(
        s,
        "coverage      mean {:.1}%, lowest {:.1}%",
        100.0 * r.mean_coverage,
        100.0 * min.min(1.0)
    );
    if let Some(t) = r.ticks {
        let _ = writeln!(s, "ticks         {t} until quiet");
    }
    let _ = writeln!(
        s,
        "messages      {} in all, {:.1} per bulletin; flooding bound 2 × links = {} ({:.0}% of it); nodes × degree = {}",
        r.messages,
        r.messages_per_bulletin,
        r.flooding_bound,
        100.0 * r.messages_per_bulletin / r.flooding_bound.max(1) as f64,
        r.nodes_times_degree
    );
    let _ = writeln!(
        s,
        "duplicates    {} receipts of bulletins already seen",
        r.duplicates
    );
    let drops: Vec<String> = r.drops.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let _ = writeln!(
        s,
        "drops         {}",
        if drops.is_empty() {
            "none".into()
        } else {
            drops.join(" ")
        }
    );
    let _ = writeln!(s, "wall time     {} ms", r.wall_ms);
    if !r.runs.is_empty() {
        let _ = writeln!(
            s,
            "runs          figures over the scenario's bulletins, per delivery (a node, a bulletin):"
        );
        let _ = writeln!(
            s,
            "  {:<9} {:>9} {:>10} {:>8} {:>8} {:>9} {:>10} {:>9} {:>8} {:>7} {:>6} {:>7}",
            "run",
            "coverage",
            "redundancy",
            "last hop",
            "mean hop",
            "messages",
            "bytes",
            "crypto",
            "announce",
            "grafts",
            "prunes",
            "repairs"
        );
        for run in &r.runs {
            let _ = writeln!(
                s,
                "  {:<9} {:>8.1}% {:>10.2} {:>8} {:>8.2} {:>9.2} {:>10.0} {:>9.2} {:>8} {:>7} {:>6} {:>7}",
                run.dissemination,
                100.0 * run.min_coverage,
                run.redundancy,
                run.last_hop,
                run.mean_hop,
                run.messages_per_delivery,
                run.bytes_per_delivery,
                run.crypto_per_delivery,
                run.announcements,
                run.grafts,
                run.prunes,
                run.repairs
            );
        }
    }
    for note in &r.notes {
        let _ = writeln!(s, "note          {note}");
    }
    s
}
