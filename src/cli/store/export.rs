//! `gossip store export`: a store's bulletins as an object stream, from one
//! snapshot, beside a running relay if need be.

use std::process::ExitCode;

use gossip::CONTENT_TTL;
use gossip::codec::Object;
use gossip::{TopicId, topic_id};

use super::super::io::{CmdResult, ObjectWriter, now};
use super::args::StoreExportArgs;
use super::open_read_only;
use gossip::Timestamp;

/// The oldest ts still unexpired at `now` (a bulletin expires at ts + 3600).
fn first_unexpired(now: Timestamp) -> u32 {
    u32::try_from(now.as_secs().saturating_sub(u64::from(CONTENT_TTL) - 1)).unwrap_or(u32::MAX)
}

pub fn run(args: StoreExportArgs) -> CmdResult {
    let store = open_read_only(args.db.path())?;
    let mut topics: Vec<TopicId> = args
        .topic
        .iter()
        .map(|desc| topic_id(desc.as_bytes()))
        .chain(args.topic_id.iter().map(|id| TopicId::from_bytes(id.0)))
        .collect();
    topics.sort_unstable();
    topics.dedup();
    let fresh = if args.include_expired {
        0
    } else {
        first_unexpired(now(&args.now))
    };
    let since = args.since.unwrap_or(0).max(fresh);
    let mut out = ObjectWriter::new(&args.output)?;
    store.export_each(&topics, since, |b| out.write(&Object::Bulletin(b)))?;
    out.finish()?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use gossip::Bulletin;

    #[test]
    fn first_unexpired_is_the_expiry_boundary() {
        let b = Bulletin::new(TopicId::from_bytes([1; 32]), Vec::new(), 1_700_000_000);
        for now in [1_700_000_000, 1_700_003_599, 1_700_003_600, 1_700_009_000] {
            assert_eq!(
                b.ts >= first_unexpired(Timestamp::from_secs(now)),
                !b.is_expired(Timestamp::from_secs(now)),
                "now {now}"
            );
        }
        assert_eq!(first_unexpired(Timestamp::from_secs(0)), 0);
        assert_eq!(first_unexpired(Timestamp::from_secs(u64::MAX)), u32::MAX);
    }
}
