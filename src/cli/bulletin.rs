//! `gossip bulletin new`: an unmined bulletin from text, a file or stdin.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use gossip::Bulletin;
use gossip::codec::{MAX_BULLETIN, Object};
use gossip::{TopicId, topic_id};

use super::flags::{InboxArgs, NowArgs, OutputArgs};
use super::io::{CmdResult, Failure, ObjectWriter, read_capped, ts_or_now};
use super::value::{self, HexBytes};

#[derive(Subcommand, Debug)]
pub enum BulletinCommand {
    /// Build an unmined bulletin (nonce 0); pipe it to `gossip hashcash`.
    New(BulletinNewArgs),
}

#[derive(Args, Debug)]
#[command(group = clap::ArgGroup::new("topic_src").required(true).args(["topic", "topic_id", "inbox"]))]
#[command(group = clap::ArgGroup::new("content_src").args(["text", "file"]))]
pub struct BulletinNewArgs {
    /// Topic descriptor; its SHA-256 is the topic id.
    #[arg(long, value_name = "DESC")]
    pub topic: Option<String>,
    /// Topic id as 64 hex digits.
    #[arg(long, value_name = "HEX", value_parser = value::parsed::<HexBytes<32>>("--topic-id"))]
    pub topic_id: Option<HexBytes<32>>,
    #[command(flatten)]
    pub inbox: InboxArgs,
    /// Timestamp (default: --now, else the system clock).
    #[arg(long, value_name = "N")]
    pub ts: Option<u32>,
    #[command(flatten)]
    pub now: NowArgs,
    /// Nonce (default 0).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub nonce: u32,
    /// The content as text (default: read stdin).
    pub text: Option<String>,
    /// Read the content from FILE.
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    pub file: Option<PathBuf>,
    #[command(flatten)]
    pub output: OutputArgs,
}

pub fn run(args: BulletinNewArgs) -> CmdResult {
    let topic = match (&args.topic, args.topic_id, args.inbox.topic()) {
        (Some(desc), ..) => topic_id(desc.as_bytes()),
        (None, Some(id), _) => TopicId::from_bytes(id.0),
        (None, None, Some(inbox)) => inbox,
        (None, None, None) => unreachable!("clap requires --topic, --topic-id or --inbox"),
    };
    let max = MAX_BULLETIN - gossip::BULLETIN_HEADER_LEN;
    let content = match (&args.text, &args.file) {
        (Some(text), _) => text.as_bytes().to_vec(),
        (None, None) if std::io::stdin().is_terminal() => {
            return Err(
                Failure::usage("no content given", "stdin is a terminal").hint(
                    "give the content as TEXT (\"\" for an empty bulletin), -f FILE, or pipe it in",
                ),
            );
        }
        (None, file) => read_capped(file.as_deref(), max)?,
    };
    if content.len() > max {
        return Err(Failure::malformed(
            "content too large",
            format!("{} bytes; the limit is {max} bytes", content.len()),
        ));
    }
    let ts = ts_or_now(args.ts, &args.now)?;
    let mut bulletin = Bulletin::new(topic, content, ts);
    bulletin.nonce = args.nonce;
    let mut out = ObjectWriter::new(&args.output)?;
    out.write(&Object::Bulletin(bulletin))?;
    out.finish()?;
    Ok(ExitCode::SUCCESS)
}
