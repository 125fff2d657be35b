//! `gossip keygen`: a new seed, written 0600 and never over an existing file without --force.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use gossip::crypto::address_of;
use gossip::{Seed, key_file_text};

use super::io::{CmdResult, Failure, regular_file, stdout, write_err};

#[derive(Args, Debug)]
pub struct KeygenArgs {
    /// Write the key to FILE (mode 0600) instead of stdout; the address goes to stderr.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Overwrite FILE if it exists.
    #[arg(long)]
    pub force: bool,
}

pub fn run(args: KeygenArgs) -> CmdResult {
    let seed = Seed::generate();
    let address = address_of(&seed);
    let text = key_file_text(&seed, &address);
    match &args.output {
        None => {
            let mut out = stdout();
            out.write_all(text.as_bytes())
                .and_then(|_| out.flush())
                .map_err(write_err)?;
        }
        Some(path) => {
            let what = format!("cannot write key file {}", path.display());
            if args.force && std::fs::symlink_metadata(path).is_ok() {
                // Only a regular file is replaced, never a device, a FIFO or
                // a directory. It is removed first so the new file is
                // created 0600, whatever the old mode was.
                regular_file(path, &what)?;
                std::fs::remove_file(path).map_err(|e| Failure::io(&what, e))?;
            }
            let mut options = OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let mut file = options.open(path).map_err(|e| {
                let exists = e.kind() == std::io::ErrorKind::AlreadyExists;
                let f = Failure::io(&what, e);
                if exists {
                    f.hint("pass --force to overwrite it")
                } else {
                    f
                }
            })?;
            if let Err(e) = file
                .write_all(text.as_bytes())
                .and_then(|_| file.sync_all())
            {
                // A failed write (a full disk) leaves no empty or partial
                // key file behind, so a retry is not refused as "exists".
                drop(file);
                let _ = std::fs::remove_file(path);
                return Err(Failure::io(&what, e));
            }
            eprintln!("address: {address}");
        }
    }
    Ok(ExitCode::SUCCESS)
}
