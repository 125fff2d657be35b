//! `gossip store`: the store is `--store DB` or the first argument, for
//! every subcommand.

use crate::util::{Env, Live, bulletin_line, signed_bulletin};

const TS: u32 = 1_700_000_000;

/// A store holding one bulletin on `chat`, written by a relay that follows
/// it with `--topic` (the relay's name for what it follows, as elsewhere).
fn a_store(env: &Env) -> String {
    let to = env.keygen("relay.key");
    env.keygen("user.key");
    let m = signed_bulletin(env, "chat", TS, "user.key", &to);
    let now = (TS + 10).to_string();
    let args = [
        "relay",
        "-k",
        "relay.key",
        "--topic",
        "chat",
        "--store",
        "bob.db",
        "--deliver",
        "-",
        "--now",
        &now,
    ];
    let delivered = env.ok(&args, &m).one();
    delivered["content_id"].as_str().unwrap().to_owned()
}

#[test]
fn the_store_is_a_flag_or_the_first_argument() {
    let env = Env::new();
    let id = a_store(&env);
    let now = (TS + 10).to_string();
    let cases: [(&[&str], &[&str]); 8] = [
        (&["list"], &[]),
        (&["get"], &[&id]),
        (&["query"], &["--topic", "chat"]),
        (&["code"], &[]),
        (&["peers"], &[]),
        (&["purge"], &["--now", &now]),
        (&["rotate"], &[]),
        (&["export"], &["--now", &now]),
    ];
    for (sub, rest) in cases {
        let flag = [&["store"], sub, &["--store", "bob.db"], rest].concat();
        let positional = [&["store"], sub, &["bob.db"], rest].concat();
        let by_flag = env.ok(&flag, "");
        let by_position = env.ok(&positional, "");
        assert_eq!(by_flag.stdout, by_position.stdout, "{sub:?}");
    }
    assert_eq!(
        env.ok(&["store", "list", "bob.db"], "").one()["content_id"],
        id.as_str()
    );
}

#[test]
fn a_store_is_required_once() {
    let env = Env::new();
    let out = env.usage(&["store", "list"], "");
    assert_eq!(
        out.stderr,
        "gossip: store list: the following required arguments were not provided: <--store <DB>|DB>\n\
         hint: see 'gossip store list --help'\n"
    );
    let out = env.usage(&["store", "list", "a.db", "--store", "b.db"], "");
    assert_eq!(
        out.stderr,
        "gossip: store list: the argument '[DB]' cannot be used with '--store <DB>'\n\
         hint: see 'gossip store list --help'\n"
    );
    // get: the content id alone is the content id, not the store
    let z = "00".repeat(32);
    let out = env.usage(&["store", "get", &z], "");
    assert!(
        out.stderr
            .starts_with("gossip: store get: the following required arguments were not provided: <--store <DB>|DB>"),
        "{}",
        out.stderr
    );
}

/// Bulletins `(topic, text, ts)` made by `bulletin new` and mined at
/// difficulty 0 (JSON lines).
fn bulletins(env: &Env, items: &[(&str, &str, u32)]) -> String {
    let lines: String = items
        .iter()
        .map(|(topic, text, ts)| bulletin_line(env, topic, text, *ts))
        .collect();
    env.ok(&["hashcash", "-d", "0"], lines).text()
}

/// The relay's flags for a store `db` taking bulletins mined at 0 at `now`.
fn relay_args<'a>(db: &'a str, now: &'a str) -> Vec<&'a str> {
    vec![
        "relay",
        "-k",
        "relay.key",
        "--store",
        db,
        "--bulletin-difficulty",
        "0",
        "--no-sync",
        "--now",
        now,
    ]
}

/// `store list DB`'s stdout.
fn listed(env: &Env, db: &str) -> Vec<u8> {
    env.ok(&["store", "list", db], "").stdout
}

#[test]
fn export_then_import_into_an_empty_store_gives_the_same_set() {
    let env = Env::new();
    env.keygen("relay.key");
    let now = (TS + 10).to_string();
    let lines = bulletins(
        &env,
        &[
            ("chat", "one", TS),
            ("chat", "two", TS + 1),
            ("news", "three", TS + 2),
            ("news", "one", TS + 3),
        ],
    );
    env.ok(&relay_args("a.db", &now), &lines);
    let export = env.ok(&["store", "export", "a.db", "--now", &now], "");
    assert_eq!(export.lines().len(), 4);
    // What the rest of the toolkit reads: verify takes the export as it
    // is, and a relay publishes it into its own store.
    env.ok(&["verify", "-d", "0", "--now", &now], &export.stdout);
    env.ok(&relay_args("r.db", &now), &export.stdout);
    assert_eq!(listed(&env, "r.db"), listed(&env, "a.db"));

    let import = ["store", "import", "b.db", "--bulletin-difficulty", "0"];
    let import = [&import[..], &["--now", &now, "--format", "json"]].concat();
    let report = env.ok(&import, &export.stdout).one();
    let counts = |r: &serde_json::Value| {
        ["read", "imported", "held", "refused", "malformed"].map(|k| r[k].as_u64().unwrap())
    };
    assert_eq!(counts(&report), [4, 4, 0, 0, 0], "{report}");
    assert_eq!(listed(&env, "b.db"), listed(&env, "a.db"), "the same set");
    // Exactly once: a second import finds every bulletin held.
    let again = env.ok(&import, &export.stdout).one();
    assert_eq!(counts(&again), [4, 0, 4, 0, 0], "{again}");
    assert_eq!(listed(&env, "b.db"), listed(&env, "a.db"));
    // Wire frames go the same way.
    let wire = env.ok(
        &["store", "export", "a.db", "--now", &now, "--format", "wire"],
        "",
    );
    let text = [
        "store",
        "import",
        "c.db",
        "--bulletin-difficulty",
        "0",
        "--now",
        &now,
    ];
    let report = env.ok(&text, &wire.stdout).text();
    assert_eq!(
        report,
        "imported 4, already held 0, refused 0, malformed 0\n"
    );
    assert_eq!(listed(&env, "c.db"), listed(&env, "a.db"));

    // --topic, --topic-id and --since select; expired bulletins are left
    // out unless asked for.
    let count = |extra: &[&str]| {
        let args = [&["store", "export", "a.db"], extra].concat();
        env.ok(&args, "").lines().len()
    };
    let news = env.ok(&["topic", "news"], "").text().trim().to_owned();
    assert_eq!(count(&["--now", &now, "--topic", "news"]), 2);
    assert_eq!(count(&["--now", &now, "--topic-id", &news]), 2);
    assert_eq!(
        count(&["--now", &now, "--topic", "news", "--topic", "chat"]),
        4
    );
    let since = (TS + 1).to_string();
    assert_eq!(count(&["--now", &now, "--since", &since]), 3);
    assert_eq!(
        count(&["--now", &now, "--since", &since, "--topic", "chat"]),
        1
    );
    let later = (TS + 3601).to_string();
    assert_eq!(count(&["--now", &later]), 2, "ts and ts + 1 expired");
    assert_eq!(count(&["--now", &later, "--include-expired"]), 4);
}

#[test]
fn import_reports_each_bad_object_and_keeps_the_rest() {
    let env = Env::new();
    let now = (TS + 10).to_string();
    let good = bulletins(&env, &[("chat", "one", TS), ("chat", "two", TS + 1)]);
    let good: Vec<&str> = good.lines().collect();
    let expired = bulletins(&env, &[("chat", "old", TS - 4000)]);
    let mut tampered: serde_json::Value = serde_json::from_str(good[1]).unwrap();
    tampered["content_id"] = "00".repeat(32).into();
    let input = format!(
        "{}\n{expired}{{bad json\n{tampered}\n{}\n",
        good[0], good[1]
    );
    let args = [
        "store",
        "import",
        "c.db",
        "--bulletin-difficulty",
        "0",
        "--now",
        &now,
    ];
    let out = env.fail(&args, &input, 3);
    assert_eq!(
        out.text(),
        "imported 2, already held 0, refused 2 (content_id_mismatch 1, expired 1), malformed 1\n"
    );
    let errors: Vec<&str> = out.stderr.lines().collect();
    assert_eq!(
        errors[0],
        "gossip: store import: stdin object 2: refused: expired"
    );
    assert!(
        errors[1].starts_with("gossip: stdin object 3: bad JSON"),
        "{}",
        out.stderr
    );
    assert_eq!(
        errors[2],
        "gossip: store import: stdin object 4: refused: content_id_mismatch"
    );
    assert!(
        errors[3].starts_with("hint: ") && errors[3].contains("--now"),
        "{}",
        out.stderr
    );
    let held = env.ok(&["store", "list", "c.db"], "").lines();
    assert_eq!(held, [good[0], good[1]], "what was valid is stored");
    // Refused alone is a definite no (1); at the default difficulty the
    // cheap bulletins are weak, and the hint names the flag.
    let out = env.fail(
        &["store", "import", "d.db", "--now", &now],
        good.join("\n"),
        1,
    );
    assert_eq!(
        out.text(),
        "imported 0, already held 0, refused 2 (weak_bulletin_proof_of_work 2), malformed 0\n"
    );
    assert!(
        out.stderr
            .contains("hint: bulletins were checked at --bulletin-difficulty 7"),
        "{}",
        out.stderr
    );
}

#[test]
fn beside_a_running_relay_export_and_backup_work_import_and_prune_are_refused() {
    let env = Env::new();
    env.keygen("relay.key");
    let now = (TS + 10).to_string();
    let lines = bulletins(&env, &[("chat", "one", TS), ("chat", "two", TS + 1)]);
    let args = [
        &relay_args("a.db", &now)[..],
        &["--topic", "chat", "--deliver", "-"],
    ]
    .concat();
    let relay = Live::start(&env, &args, &lines);
    // Both delivered: the relay holds the store and has written them.
    let mut delivered = Vec::new();
    while delivered.iter().filter(|&&b| b == b'\n').count() < 2 {
        delivered.extend(relay.next_chunk());
    }
    let export = env.ok(&["store", "export", "a.db", "--now", &now], "");
    assert_eq!(export.lines().len(), 2);
    let backup = env.ok(&["store", "backup", "a.db", "--to", "copy.db"], "");
    assert_eq!(
        backup.text(),
        format!(
            "backed up 2 bulletins to copy.db ({} bytes)\n",
            std::fs::metadata(env.path("copy.db")).unwrap().len()
        )
    );
    assert_eq!(listed(&env, "copy.db"), export.stdout);

    let import = [
        "store",
        "import",
        "a.db",
        "--bulletin-difficulty",
        "0",
        "--now",
        &now,
    ];
    let out = env.fail(&import, &export.stdout, 4);
    let lines: Vec<&str> = out.stderr.lines().collect();
    assert_eq!(
        lines[0],
        "gossip: store import: cannot open store a.db: the store is in use by another relay"
    );
    assert!(
        lines[1].starts_with("hint: a relay holds the store: push the bulletins to it"),
        "{}",
        out.stderr
    );
    assert!(
        lines[1].contains("--dir up") && lines[1].contains("| gossip relay -k KEY --store a.db"),
        "{}",
        out.stderr
    );
    let out = env.fail(&["store", "prune", "a.db", "--now", &now], "", 4);
    assert!(
        out.stderr.contains("in use") && out.stderr.contains("every 30 s"),
        "{}",
        out.stderr
    );
    assert!(out.stdout.is_empty());

    let (code, _, stderr) = relay.finish();
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(listed(&env, "a.db"), export.stdout, "nothing lost or added");
}

#[test]
fn backup_never_replaces_a_file_nor_writes_through_a_link() {
    let env = Env::new();
    env.keygen("relay.key");
    let now = (TS + 10).to_string();
    env.ok(
        &relay_args("a.db", &now),
        bulletins(&env, &[("chat", "one", TS)]),
    );
    env.ok(
        &[
            "store", "backup", "a.db", "--to", "copy.db", "--format", "json",
        ],
        "",
    );
    let before = std::fs::read(env.path("copy.db")).unwrap();
    assert_eq!(crate::util::mode(&env.path("copy.db")), 0o600);
    let out = env.fail(&["store", "backup", "a.db", "--to", "copy.db"], "", 4);
    assert_eq!(
        out.stderr,
        "gossip: store backup: cannot write copy.db: it already exists\n\
         hint: give the name of a new file: a backup never replaces a file nor writes through a symbolic link\n"
    );
    assert_eq!(std::fs::read(env.path("copy.db")).unwrap(), before);
    std::os::unix::fs::symlink(env.path("target.db"), env.path("link.db")).unwrap();
    let out = env.fail(&["store", "backup", "a.db", "--to", "link.db"], "", 4);
    assert!(
        out.stderr
            .starts_with("gossip: store backup: cannot write link.db: it is a symbolic link\n"),
        "{}",
        out.stderr
    );
    assert!(!env.path("target.db").exists());
    let names: Vec<String> = std::fs::read_dir(env.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(names.is_empty(), "left behind: {names:?}");
}

#[test]
fn prune_removes_the_expired_and_gives_the_space_back() {
    let env = Env::new();
    env.keygen("relay.key");
    let now = (TS + 10).to_string();
    let pad = "x".repeat(4000);
    let items: Vec<(String, u32)> = (0..40).map(|i| (format!("{i} {pad}"), TS + i)).collect();
    let items: Vec<(&str, &str, u32)> = items
        .iter()
        .map(|(t, ts)| ("chat", t.as_str(), *ts))
        .collect();
    env.ok(&relay_args("a.db", &now), bulletins(&env, &items));
    let prune = |now: &str| {
        env.ok(
            &["store", "prune", "a.db", "--now", now, "--format", "json"],
            "",
        )
        .one()
    };
    let nothing = prune(&now);
    assert_eq!(
        (nothing["bulletins"].as_u64(), nothing["seen"].as_u64()),
        (Some(0), Some(0)),
        "{nothing}"
    );
    // At TS + 3620 the first 21 (ts up to TS + 20) have expired.
    let later = (TS + 3620).to_string();
    let p = prune(&later);
    let n = |k: &str| p[k].as_u64().unwrap();
    assert_eq!((n("bulletins"), n("seen")), (21, 21), "{p}");
    assert!(n("bytes_after") < n("bytes_before") - 21 * 4000, "{p}");
    let on_disk = std::fs::metadata(env.path("a.db")).unwrap().len();
    assert_eq!(n("bytes_after"), on_disk, "the log truncated: {p}");
    assert_eq!(env.ok(&["store", "list", "a.db"], "").lines().len(), 19);
    // The text form; opening the store writes a little to its log, which
    // the prune folds back in.
    let text = env
        .ok(&["store", "prune", "a.db", "--now", &later], "")
        .text();
    let (counts, sizes) = text.split_once("; ").unwrap();
    assert_eq!(
        counts,
        "removed 0 expired bulletins, 0 seen entries, 0 delivery marks, 0 pending deliveries"
    );
    assert!(
        sizes.ends_with(&format!(" bytes on disk before, {on_disk} after\n")),
        "{text}"
    );
}
