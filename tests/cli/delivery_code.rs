//! Delivery codes from the command line: `bulletin new --inbox`, `gossip
//! store code / peers / rotate`, and the relay's `--delivery-code` and
//! `--rotate-delivery-code` flags. Two relays exchanging notices are in
//! `tests/relay/delivery_code.sh`.

use crate::util::{Env, fixed_address};

const CODE: &str = "0123456789abcdef";

#[test]
fn bulletin_new_inbox_addresses_the_inbox_topic() {
    let env = Env::new();
    let addr = fixed_address(&env, 3);
    let topic = env
        .ok(&["topic", "--inbox", &addr, "--delivery-code", CODE], "")
        .text();
    let b = env
        .ok(
            &[
                "bulletin",
                "new",
                "--inbox",
                &addr,
                "--delivery-code",
                CODE,
                "--ts",
                "5",
                "hi",
            ],
            "",
        )
        .one();
    assert_eq!(b["topic"], topic.trim());
    let by_id = env
        .ok(
            &[
                "bulletin",
                "new",
                "--topic-id",
                topic.trim(),
                "--ts",
                "5",
                "hi",
            ],
            "",
        )
        .one();
    assert_eq!(
        b, by_id,
        "the same as the topic id from `gossip topic --inbox`"
    );

    env.usage(&["bulletin", "new", "--inbox", &addr, "hi"], "");
    env.usage(&["bulletin", "new", "--delivery-code", CODE, "hi"], "");
    env.usage(
        &[
            "bulletin",
            "new",
            "--topic",
            "t",
            "--inbox",
            &addr,
            "--delivery-code",
            CODE,
            "hi",
        ],
        "",
    );
    for (inbox, code) in [(addr.as_str(), "abc"), ("nope", CODE)] {
        let args = [
            "bulletin",
            "new",
            "--inbox",
            inbox,
            "--delivery-code",
            code,
            "hi",
        ];
        env.fail(&args, "", 2);
    }
}

#[test]
fn a_relay_keeps_its_code_in_the_store_and_store_code_shows_it() {
    let env = Env::new();
    env.keygen("k.key");
    let addr = env.ok(&["address", "-k", "k.key"], "").text();
    let relay = |extra: &[&str]| {
        let mut args = vec!["relay", "-k", "k.key", "--no-sync", "--store", "r.db"];
        args.extend_from_slice(extra);
        env.ok(&args, "").stderr
    };
    let first = relay(&["--delivery-code", CODE]);
    let inbox = env
        .ok(
            &["topic", "--inbox", addr.trim(), "--delivery-code", CODE],
            "",
        )
        .text();
    let line = format!("{} {CODE} {}", addr.trim(), inbox.trim());
    assert!(
        first.contains(&format!(
            "gossip: relay: address {} delivery code {CODE} inbox {}\n",
            addr.trim(),
            inbox.trim()
        )),
        "{first}"
    );
    assert_eq!(
        env.ok(&["store", "code", "--store", "r.db"], "").text(),
        format!("{line}\n")
    );
    let again = relay(&[]);
    assert!(again.contains(&format!("delivery code {CODE} ")), "{again}");
    let v = env
        .ok(&["store", "code", "--store", "r.db", "--json"], "")
        .one();
    assert_eq!(v["type"], "delivery_code");
    assert_eq!(v["code"], CODE);
    assert_eq!(v["own"], true);
    assert_eq!(v["inbox"], inbox.trim());
    assert_eq!(
        env.ok(&["store", "peers", "--store", "r.db"], "").text(),
        "",
        "no peer has sent a notice"
    );

    // A request made while no relay runs is taken by the next start.
    env.ok(&["store", "rotate", "--store", "r.db"], "");
    let rotated = relay(&[]);
    assert!(
        rotated.contains("gossip: relay: delivery code rotated (gossip store rotate)"),
        "{rotated}"
    );
    let code = env.ok(&["store", "code", "--store", "r.db"], "").text();
    assert!(!code.contains(CODE), "the code is still {code}");
    assert!(rotated.contains(&format!("delivery code {} ", &code[65..81])));
    let next = relay(&[]);
    assert!(
        !next.contains("rotated"),
        "one request, one rotation: {next}"
    );

    // The schedule counts from when the code was set, across restarts.
    relay(&["--delivery-code", CODE, "--now", "1000000"]);
    let early = relay(&["--rotate-delivery-code", "1m", "--now", "1000059"]);
    assert!(!early.contains("rotated"), "{early}");
    let due = relay(&["--rotate-delivery-code", "1m", "--now", "1000060"]);
    assert!(
        due.contains("delivery code rotated (--rotate-delivery-code)"),
        "{due}"
    );
    let v = env
        .ok(&["store", "code", "--store", "r.db", "--json"], "")
        .one();
    assert_eq!(v["since"], 1000060);
    assert_ne!(v["code"], CODE);
}

#[test]
fn without_a_store_each_start_picks_a_new_code() {
    let env = Env::new();
    env.keygen("k.key");
    let code = |stderr: String| {
        let at = stderr.find("delivery code ").expect("a start line") + 14;
        stderr[at..at + 16].to_owned()
    };
    let run = || env.ok(&["relay", "-k", "k.key", "--no-sync"], "").stderr;
    assert_ne!(code(run()), code(run()));
}

#[test]
fn a_store_without_codes_and_bad_flags() {
    let env = Env::new();
    env.keygen("k.key");
    // A store from before delivery codes: bulletin tables only.
    let conn = rusqlite::Connection::open(env.path("old.db")).unwrap();
    conn.execute_batch("CREATE TABLE bulletins (content_id BLOB PRIMARY KEY NOT NULL)")
        .unwrap();
    drop(conn);
    let out = env.fail(&["store", "code", "--store", "old.db"], "", 1);
    assert!(
        out.stderr.contains("no delivery code in old.db"),
        "{}",
        out.stderr
    );
    assert_eq!(
        env.ok(&["store", "peers", "--store", "old.db"], "").text(),
        ""
    );
    env.fail(&["store", "code", "--store", "missing.db"], "", 4);
    env.fail(&["store", "rotate", "--store", "missing.db"], "", 4);
    env.write("garbage.db", "this is not an SQLite database, not at all");
    env.fail(&["store", "peers", "--store", "garbage.db"], "", 4);

    let relay = ["relay", "-k", "k.key", "--no-sync"];
    env.fail(&[&relay[..], &["--delivery-code", "xyz"]].concat(), "", 2);
    for every in ["0", "5x", "m", "-1", "99999999999999999999d"] {
        env.usage(
            &[&relay[..], &["--rotate-delivery-code", every]].concat(),
            "",
        );
    }
}
