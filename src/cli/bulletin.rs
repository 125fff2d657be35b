//! `gossip bulletin new`: an unmined bulletin from text, a file or stdin.

use std::io::IsTerminal;
use std::process::ExitCode;

use gossip::Bulletin;
use gossip::codec::{MAX_BULLETIN, Object};
use gossip::{TopicId, topic_id};

use super::args::BulletinNewArgs;
use super::io::{CmdResult, Failure, ObjectWriter, read_capped, ts_or_now};

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
