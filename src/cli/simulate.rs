//! `gossip simulate`: a whole network in one process, reported as text or JSON.

use std::fmt::Write as _;
use std::io::Write;
use std::process::ExitCode;

use clap::{Args, ValueEnum};
use gossip::pow::{DEFAULT_BULLETIN_DIFFICULTY, DEFAULT_MESSAGE_DIFFICULTY};
use gossip::simulation::{Dissemination, Report, Scenario, SimConfig, run as simulate};

use super::flags::TextOutputArgs;
use super::io::{CmdResult, Failure, stdout, write_err};

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScenarioArg {
    /// Bulletins published at random nodes flood the network.
    Flood,
    /// A spammer sends bulletins without proof of work; its neighbours drop them.
    Spam,
    /// One node is offline while bulletins spread, then joins and catches up by sync.
    LateJoin,
    /// The network is cut in two halves that each publish, then the cut heals and sync runs.
    Partition,
    /// A fifth of the nodes leave while the bulletins spread; the rest must still get them all.
    Churn,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum DisseminationArg {
    /// Every node forwards each new bulletin to every neighbour but the sender.
    Flood,
    /// The dissemination extension: eager push along a tree, batched announcements, graft and prune.
    Plumtree,
    /// Both on the same network and publishers, side by side.
    Both,
}

#[derive(Args, Debug)]
pub struct SimulateArgs {
    /// Number of nodes.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u32).range(2..=100_000))]
    pub nodes: u32,
    /// Random links each node makes to others (links are two-way).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub degree: u32,
    /// Bulletins to publish.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub bulletins: u32,
    /// Seed of the topology, identities and publishers (same seed, same network).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Message difficulty on every link.
    #[arg(short = 'd', long = "difficulty", value_name = "BITS", default_value_t = DEFAULT_MESSAGE_DIFFICULTY,
          value_parser = clap::value_parser!(u32).range(0..=24))]
    pub difficulty: u32,
    /// Bulletin difficulty required and mined.
    #[arg(long, value_name = "BITS", default_value_t = DEFAULT_BULLETIN_DIFFICULTY,
          value_parser = clap::value_parser!(u32).range(0..=24))]
    pub bulletin_difficulty: u32,
    /// What to show.
    #[arg(long, value_enum, default_value_t = ScenarioArg::Flood)]
    pub scenario: ScenarioArg,
    /// Run each node on its own thread, messages over channels (flood and spam, flooding only).
    #[arg(long)]
    pub threaded: bool,
    /// How bulletins spread: flooding, the dissemination extension, or both side by side.
    #[arg(long, value_enum, default_value_t = DisseminationArg::Flood)]
    pub dissemination: DisseminationArg,
    /// Seconds (ticks) between announcements to one lazy peer (plumtree).
    #[arg(long, value_name = "SECONDS", default_value_t = gossip::node::DEFAULT_ANNOUNCE_EVERY.as_secs(),
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub announce_every: u64,
    /// Seconds (ticks) a node waits for an announced bulletin before it grafts (plumtree).
    #[arg(long, value_name = "SECONDS", default_value_t = gossip::node::DEFAULT_GRAFT_TIMEOUT.as_secs(),
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub graft_timeout: u64,
    /// Links kept eager whatever the duplicates, per 65,536 (plumtree).
    #[arg(long, value_name = "PER_65536", default_value_t = 0)]
    pub eager_shortcuts: u16,
    /// Publish every bulletin at one node (the warm-up's), not at random nodes.
    #[arg(long)]
    pub one_publisher: bool,
    /// text: a report for people; json: the report as one JSON object.
    #[command(flatten)]
    pub output: TextOutputArgs,
}

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
