//! End-to-end tests of `gossip relay`: each runs one bash script under
//! `tests/relay/` against the built binary. The scripts start real relays
//! joined by fifos and netcat, so they need bash, coreutils, python3 and
//! netcat-openbsd (`.ci/run` installs the last). Each script works in its
//! own temporary directory, ends its processes on exit and gives up on any
//! wait after 20 s.

#[path = "support/scripts.rs"]
mod scripts;
#[path = "support/skip.rs"]
mod skip;

fn run_script(name: &str) {
    scripts::run_script_in("tests/relay", name, &[]);
}

#[test]
fn chain_nc() {
    run_script("chain_nc");
}

/// Issue 22: relays with and without the dissemination extension and a
/// netcat node that advertises nothing, on one mesh: everything delivered
/// once everywhere, the extension never sent to those that lack it.
#[test]
fn mixed_mesh() {
    run_script("mixed_mesh");
}

/// `--listen unix:PATH` and `--connect ADDR@unix:PATH` (issue 21).
#[test]
fn unix() {
    run_script("unix");
}

#[test]
fn ring() {
    run_script("ring");
}

#[test]
fn fanout() {
    run_script("fanout");
}

#[test]
fn sync() {
    run_script("sync");
}

#[test]
fn catchup() {
    run_script("catchup");
}

/// Issue 20: 20,000 bulletins missed by a relay that joins late, that is
/// killed mid catch-up and restarted, and that is cut off by a partition
/// and heals, all caught up once each (`tests/relay/catchup_20k.sh`).
fn catchup_20k(case: &str) {
    scripts::run_script_in("tests/relay", "catchup_20k", &[("CASE", case)]);
}

#[test]
fn catchup_20k_late() {
    catchup_20k("late");
}

#[test]
fn catchup_20k_restart() {
    catchup_20k("restart");
}

#[test]
fn catchup_20k_partition() {
    catchup_20k("partition");
}

/// Issue 24: `store backup` and `store export` of a store a relay is
/// writing as fast as it can; each copy passes `integrity_check`, the export
/// imports into an empty store as the same set.
#[test]
fn backup_flood() {
    run_script("backup_flood");
}

#[test]
fn persistence() {
    run_script("persistence");
}

#[test]
fn drops() {
    run_script("drops");
}

#[test]
fn torn_line() {
    run_script("torn_line");
}

#[test]
fn delivery_code() {
    run_script("delivery_code");
}

#[test]
fn tcp() {
    run_script("tcp");
}

#[test]
fn hostile_routes() {
    run_script("hostile_routes");
}

#[test]
fn codes_tcp() {
    run_script("codes_tcp");
}

/// Issue 18, item 2: twelve unfinished 16 MiB frames and JSON lines are
/// held within the 32 MiB input bound (peak RSS), closed by the idle
/// timeout; a frame announcing 63 MiB is refused from its prefix.
#[test]
fn hostile_input() {
    run_script("hostile_input");
}

/// Issue 18, item 6: silent connections are evicted or closed after the
/// bind timeout, so a publisher gets through; a connection trickling one
/// byte at a time is closed by the idle timeout.
#[test]
fn hostile_slots() {
    run_script("hostile_slots");
}

/// Issue 24, part 4: limits per source (`tests/relay/limits.sh`), over
/// loopback TCP from several 127/8 source addresses.
fn limits(case: &str) {
    scripts::run_script_in("tests/relay", "limits", &[("CASE", case)]);
}

/// A flood from one IP address is cut to `--rate-per-ip` and its burst,
/// counted and logged once a second at most; another IP's peer is
/// untouched.
#[test]
fn limits_per_ip() {
    limits("ip");
}

/// A flood from one key is cut to `--rate-per-peer`; another key on the
/// same IP address is untouched.
#[test]
fn limits_per_peer() {
    limits("peer");
}

/// `--limits-shadow` counts and logs the same, and refuses nothing.
#[test]
fn limits_shadow() {
    limits("shadow");
}

/// The (N+1)th connection from one IP address is closed as it opens, a
/// denied one too; another IP's are kept. Counted exactly.
#[test]
fn limits_connections_per_ip() {
    limits("connections");
}

/// Issue 18, item 12: under `ulimit -n 64` the connections the relay cannot
/// take are counted as refused, not dial failures, and logged once per
/// interval; the relay recovers.
#[test]
fn hostile_fds() {
    run_script("hostile_fds");
}

#[test]
fn early_signal() {
    run_script("early_signal");
}

#[test]
fn paths() {
    run_script("paths");
}

/// Issue 24: SIGHUP reloads `--config` under load: a peer to dial added
/// and one let go, a connection bound changed, a bad file refused, a
/// setting that needs a restart named; the connection that stays is never
/// dropped.
#[test]
fn reload() {
    run_script("reload");
}
