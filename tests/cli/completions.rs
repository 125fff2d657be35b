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
    env.usage(&["man", "extra"], "");
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
