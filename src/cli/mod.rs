//! The command line: clap definitions in `args`, shared I/O in `io`, and one
//! module per subcommand, each with `run(args) -> CmdResult`.

pub mod args;
pub mod exit;
pub mod failure;
pub mod flags;
pub mod io;
pub mod live;
pub mod usage;
pub mod value;

mod address;
mod batch;
mod bulletin;
mod completions;
mod content_id;
mod crypt;
mod hashcash;
mod inspect;
mod keygen;
mod man;
mod message;
mod mine;
mod open;
mod pack;
mod relay;
mod rotation_requests;
mod sign;
mod simulate;
mod store;
mod sync;
mod tapehash;
mod topic;
mod verify;

use args::Command;
use bulletin::BulletinCommand;
use io::CmdResult;
use message::MessageCommand;

/// The command line `args` with a relay's `--config` file read into it
/// (its settings before the flags given, which override them).
pub fn expand_config(args: &[std::ffi::OsString]) -> Result<Vec<std::ffi::OsString>, io::Failure> {
    relay::config::expand(args)
}

/// Runs one subcommand.
pub fn run(command: Command) -> CmdResult {
    match command {
        Command::Keygen(a) => keygen::run(a),
        Command::Address(a) => address::run(a),
        Command::Topic(a) => topic::run(a),
        Command::ContentId(a) => content_id::run(a),
        Command::Tapehash(a) => tapehash::run(a),
        Command::Bulletin(BulletinCommand::New(a)) => bulletin::run(a),
        Command::Message(MessageCommand::New(a)) => message::run(a),
        Command::Hashcash(a) => hashcash::run(a),
        Command::Encrypt(a) => crypt::encrypt(a),
        Command::Decrypt(a) => crypt::decrypt(a),
        Command::Sign(a) => sign::run(a),
        Command::Verify(a) => verify::run(a),
        Command::Open(a) => open::run(a),
        Command::Inspect(a) => inspect::run(a),
        Command::Pack(a) => pack::pack(a),
        Command::Unpack(a) => pack::unpack(a),
        Command::Relay(a) => relay::run(*a),
        Command::Sync(a) => sync::run(a),
        Command::Store(c) => store::run(c),
        Command::Simulate(a) => simulate::run(a),
        Command::Completions(a) => completions::completions(a),
        Command::Man(a) => man::run(a),
    }
}
