//! `gossip completions` and `gossip man`.

use crate::util::{Env, bin};

#[test]
fn completions_for_every_shell_mention_the_subcommands() {
    let env = Env::new();
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let text = env.ok(&["completions", shell], "").text();
        assert!(text.contains("gossip"), "{shell}");
        for sub in ["keygen", "hashcash", "verify", "unpack"] {
            assert!(text.contains(sub), "{shell} lacks {sub}");
        }
    }
}

#[test]
fn man_page_is_roff() {
    let env = Env::new();
    let text = env.ok(&["man"], "").text();
    assert!(
        text.starts_with(".ie") || text.contains(".TH gossip"),
        "{}",
        &text[..200]
    );
    assert!(text.contains(".TH gossip"));
    assert!(text.contains("hashcash"));
}

#[test]
fn errors() {
    let env = Env::new();
    env.usage(&["completions"], "");
    env.usage(&["completions", "tcsh"], "");
    env.usage(&["man", "--dir", "d", "sign"], "");
    let out = env.fail(&["man", "extra"], "", 2);
    assert!(
        out.stderr.starts_with("gossip: man: no page for 'extra'"),
        "{}",
        out.stderr
    );
    env.help_exit(&[], "");
    env.usage(&["frobnicate"], "");
}

#[test]
fn help_and_version() {
    let env = Env::new();
    let out = env.ok(&["--help"], "");
    assert!(out.text().contains("Exit codes"));
    let out = env.ok(&["--version"], "");
    assert!(out.text().starts_with("gossip "));
}

#[test]
fn a_closed_stdout_ends_quietly() {
    let env = Env::new();
    let line = crate::util::bulletin_line(&env, "t", "many", 1);
    env.write("many.json", line.repeat(20_000));
    let script =
        r#""$G" man | head -c 10 >/dev/null; "$G" pack --hex < many.json | head -c 1 >/dev/null"#;
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(script)
        .env("G", bin())
        .current_dir(env.dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    crate::util::assert_no_panic(&stderr);
    assert!(stderr.is_empty(), "{stderr}");
}

/// Every (sub)command path the tool has, from `--help`'s listing of each.
fn subcommand_paths(env: &Env) -> Vec<String> {
    fn walk(env: &Env, path: &[String], out: &mut Vec<String>) {
        let mut args: Vec<&str> = path.iter().map(String::as_str).collect();
        args.push("--help");
        let help = env.run(&args, "").text();
        let Some(list) = help.split("Commands:\n").nth(1) else {
            return;
        };
        let entries = list.lines().take_while(|l| l.starts_with("  "));
        // a subcommand's line starts at column 2; wrapped descriptions further in
        for line in entries.filter(|l| !l[2..].starts_with(' ')) {
            let name = line.split_whitespace().next().unwrap().to_owned();
            if name == "help" {
                continue;
            }
            let mut sub = path.to_vec();
            sub.push(name);
            out.push(sub.join(" "));
            walk(env, &sub, out);
        }
    }
    let mut out = Vec::new();
    walk(env, &[], &mut out);
    out
}

#[test]
fn every_subcommand_has_a_page_with_every_flag_exit_codes_and_an_example() {
    let env = Env::new();
    let paths = subcommand_paths(&env);
    assert!(paths.len() > 20, "{paths:?}");
    assert!(paths.contains(&"store list".to_owned()));
    for path in &paths {
        let mut args = vec!["man"];
        args.extend(path.split(' '));
        let page = env.ok(&args, "").text();
        let name = format!("gossip-{}", path.replace(' ', "-"));
        assert!(
            page.contains(&format!(".TH {name} 1 ")),
            "{path}: {}",
            &page[..200]
        );
        assert!(page.contains(".SH \"EXIT STATUS\""), "{path}");
        assert!(page.contains(".SH EXAMPLES"), "{path}");
        // every long flag of the subcommand's --help is on its page
        let mut help_args: Vec<&str> = path.split(' ').collect();
        help_args.push("--help");
        let help = env.ok(&help_args, "").text();
        for word in help.split(|c: char| c.is_whitespace() || c == ',' || c == '[' || c == ']') {
            if let Some(flag) = word.strip_prefix("--") {
                let flag = flag.split(['=', '<']).next().unwrap();
                if flag.is_empty() || !flag.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
                    continue;
                }
                let roff = format!("\\-\\-{}", flag.replace('-', "\\-"));
                assert!(page.contains(&roff), "{path}: page lacks --{flag}");
            }
        }
    }
    // the tool's page points at pages that exist
    let top = env.ok(&["man"], "").text();
    assert!(top.contains("gossip\\-relay(1)"));
}

#[test]
fn man_dir_writes_every_page() {
    let env = Env::new();
    let paths = subcommand_paths(&env);
    env.ok(&["man", "--dir", "pages"], "");
    let mut files: Vec<String> = std::fs::read_dir(env.path("pages"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    files.sort();
    let mut want: Vec<String> = paths
        .iter()
        .map(|p| format!("gossip-{}.1", p.replace(' ', "-")))
        .chain(["gossip.1".to_owned()])
        .collect();
    want.sort();
    assert_eq!(files, want);
    let sign = std::fs::read_to_string(env.path("pages/gossip-sign.1")).unwrap();
    assert_eq!(sign, env.ok(&["man", "sign"], "").text());
}

#[test]
fn cipher_values_are_listed_and_completed() {
    let env = Env::new();
    for args in [
        &["sign", "--help"][..],
        &["encrypt", "--help"],
        &["relay", "--help"],
    ] {
        let help = env.ok(args, "").text();
        assert!(help.contains("xsalsa20poly1305:"), "{args:?}");
        assert!(help.contains("xchacha20poly1305:"), "{args:?}");
    }
    let bash = env.ok(&["completions", "bash"], "").text();
    assert!(bash.contains("--cipher)\n                    COMPREPLY=($(compgen -W \"xsalsa20poly1305 xchacha20poly1305\""));
}

#[test]
fn bare_gossip_and_help_start_with_the_same_header() {
    let env = Env::new();
    let bare = env.help_exit(&[], "").stderr;
    let help = env.ok(&["--help"], "").text();
    let short = env.ok(&["-h"], "").text();
    let header = "Make, mine, sign, check and relay gossip-protocol objects in shell pipelines.\n";
    for (what, text) in [
        ("gossip", &bare),
        ("gossip --help", &help),
        ("gossip -h", &short),
    ] {
        assert!(text.starts_with(header), "{what}:\n{text}");
    }
}
