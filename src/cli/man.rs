//! `gossip man [SUBCOMMAND…]`: a man page for the tool and each subcommand
//! (every flag from the clap definitions, the exit codes, an example), and
//! `gossip man --dir DIR` to write them all as `gossip-SUB.1` files.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use clap::CommandFactory;

use super::args::{Cli, ManArgs};
use super::exit::Exit;
use super::io::{CmdResult, Failure, stdout, write_err};

/// An example for each page, by the page's subcommand path.
fn example(path: &str) -> Option<&'static str> {
    Some(match path {
        "" => {
            "gossip keygen -o a.key\ngossip bulletin new --topic chat hello | gossip hashcash | gossip sign -k a.key | gossip verify -k a.key"
        }
        "keygen" => "gossip keygen -o a.key",
        "address" => "gossip address -k a.key",
        "topic" => "gossip topic \"test channel\"\ngossip topic --beacon",
        "content-id" => "gossip content-id big.bin",
        "tapehash" => "printf hello | gossip tapehash",
        "bulletin" | "bulletin new" => {
            "gossip bulletin new --topic chat \"hello world\" | gossip hashcash -d 12"
        }
        "message" | "message new" => {
            "gossip bulletin new --topic chat hi | gossip hashcash | gossip message new -k a.key --to \"$(gossip address -k b.key)\""
        }
        "hashcash" => {
            "gossip bulletin new --topic chat hi | gossip hashcash -d 16 -j 2\ngossip hashcash --check -d 16 < b.json"
        }
        "encrypt" => "gossip message new -k a.key --to \"$B\" < b.json | gossip encrypt",
        "decrypt" => "gossip decrypt -k b.key < sealed.json",
        "sign" => {
            "gossip hashcash < b.json | gossip sign -k a.key --to \"$(gossip address -k b.key)\" > m.json"
        }
        "verify" => {
            "gossip verify -k b.key < m.json\nset -o pipefail; nc -l 127.0.0.1 7001 | gossip verify -k b.key"
        }
        "open" => "gossip open -k b.key < m.json | gossip inspect",
        "inspect" => "gossip inspect < m.json\ngossip inspect --format json < m.json",
        "pack" => "gossip pack < m.json > m.bin\ngossip pack --hex < m.json",
        "unpack" => "gossip unpack --type message < m.bin",
        "relay" => {
            "gossip relay -k a.key --peer \"$(gossip address -k b.key)\" --topic chat --deliver -\ngossip relay -k a.key --listen 0.0.0.0:7000 --print-config > relay.toml\ngossip relay --config relay.toml --max-connections 16   # flags override the file; SIGHUP reloads it"
        }
        "sync" => {
            "gossip sync -k a.key --store a.db --connect \"$B@relay.example:7000\" --topic chat --dir both\ngossip sync -k a.key a.db --connect \"$B@127.0.0.1:7000\" --topic chat --format json --timeout 30"
        }
        "store" | "store list" => "gossip store list node.db",
        "store get" => "gossip store get node.db CONTENT_ID",
        "store query" => "gossip store query node.db --topic chat",
        "store purge" => "gossip store purge node.db",
        "store code" => "gossip store code node.db\ngossip store code node.db --format json",
        "store peers" => "gossip store peers node.db",
        "store rotate" => "gossip store rotate node.db",
        "store export" => {
            "gossip store export node.db --topic chat --since 1700000000 > chat.jsonl\ngossip store export old.db | gossip store import new.db"
        }
        "store import" => "gossip store import new.db -i chat.jsonl",
        "store backup" => "gossip store backup node.db --to node-$(date +%F).db",
        "store prune" => "gossip store prune node.db\ngossip store prune node.db --format json",
        "simulate" => "gossip simulate --nodes 64 --bulletins 10 --scenario partition",
        "completions" => "gossip completions bash > /etc/bash_completion.d/gossip",
        "man" => "gossip man sign | man -l -\ngossip man --dir /usr/share/man/man1",
        _ => return None,
    })
}

/// Every page: the subcommand path of each (sub)command, the tool first.
pub fn pages() -> Vec<(String, clap::Command)> {
    fn walk(cmd: &clap::Command, path: &str, out: &mut Vec<(String, clap::Command)>) {
        out.push((path.to_owned(), cmd.clone()));
        for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
            let sub_path = match path {
                "" => sub.get_name().to_owned(),
                p => format!("{p} {}", sub.get_name()),
            };
            walk(sub, &sub_path, out);
        }
    }
    let mut cmd = Cli::command().disable_help_subcommand(true);
    cmd.build();
    let mut out = Vec::new();
    walk(&cmd, "", &mut out);
    out
}

/// Escapes text for a roff line.
fn roff(text: &str) -> String {
    let text = text.replace('\\', "\\e").replace('-', "\\-");
    if text.starts_with(['.', '\'']) {
        format!("\\&{text}")
    } else {
        text
    }
}

/// One page in roff: clap's (every flag), with the exit codes, an example
/// and a pointer to the tool's page put in before its version section.
fn render(path: &str, cmd: clap::Command, w: &mut dyn Write) -> std::io::Result<()> {
    let mut page = Vec::new();
    clap_mangen::Man::new(cmd)
        .source(concat!("gossip ", env!("CARGO_PKG_VERSION")))
        .manual("gossip manual")
        .render(&mut page)?;
    let page = String::from_utf8_lossy(&page);
    let at = page.find(".SH VERSION").unwrap_or(page.len());
    let mut extra = String::from(".SH \"EXIT STATUS\"\n");
    extra += &format!(
        ".TP\n0\n{}\n",
        roff("success; for verify, every object valid")
    );
    for exit in Exit::ALL {
        extra += &format!(".TP\n{}\n{}\n", exit as u8, roff(exit.meaning()));
    }
    if let Some(example) = example(path) {
        extra += ".SH EXAMPLES\n.nf\n.RS\n";
        for line in example.lines() {
            extra += &roff(line);
            extra += "\n";
        }
        extra += ".RE\n.fi\n";
    }
    if !path.is_empty() {
        extra += ".SH \"SEE ALSO\"\ngossip(1)\n";
    }
    write!(w, "{}{extra}{}", &page[..at], &page[at..])
}

/// The file name of a page: `gossip-store-list.1`.
fn file_name(path: &str) -> String {
    match path {
        "" => "gossip.1".to_owned(),
        p => format!("gossip-{}.1", p.replace(' ', "-")),
    }
}

pub fn run(args: ManArgs) -> CmdResult {
    let wanted = args.subcommand.join(" ");
    let pages = pages();
    if let Some(dir) = &args.dir {
        return write_all(&pages, dir);
    }
    let Some((path, cmd)) = pages.into_iter().find(|(p, _)| *p == wanted) else {
        return Err(
            Failure::usage(format!("no page for '{wanted}'"), "not a subcommand")
                .hint("see 'gossip --help' for the subcommands"),
        );
    };
    let mut out = stdout();
    render(&path, cmd, &mut out).map_err(write_err)?;
    out.flush().map_err(write_err)?;
    Ok(ExitCode::SUCCESS)
}

fn write_all(pages: &[(String, clap::Command)], dir: &Path) -> CmdResult {
    std::fs::create_dir_all(dir)
        .map_err(|e| Failure::io(format!("cannot create {}", dir.display()), e))?;
    for (path, cmd) in pages {
        let file = dir.join(file_name(path));
        let mut text = Vec::new();
        render(path, cmd.clone(), &mut text)
            .and_then(|()| std::fs::write(&file, &text))
            .map_err(|e| Failure::io(format!("cannot write {}", file.display()), e))?;
    }
    eprintln!(
        "gossip: man: wrote {} pages to {}",
        pages.len(),
        dir.display()
    );
    Ok(ExitCode::SUCCESS)
}
