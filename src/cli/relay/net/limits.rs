//! The relay's limits per source, from its flags (`--max-connections-per-ip`,
//! `--rate-per-ip`, `--allow`, `--deny`, `--limits-shadow`, ...). The limits
//! themselves are the library's [`gossip::session::Limiter`], run by
//! [`gossip::net::Network`], which reports them in the log
//! ([`gossip::net::NoticeLog`]).

use std::time::Duration;

use gossip::session::{AccessList, LimitsConfig, Rate};

use crate::cli::io::Failure;
use crate::cli::relay::args::LimitsArgs;

/// The limits the flags ask for; each default limits nothing.
pub fn limits_config(args: &LimitsArgs) -> Result<LimitsConfig, Failure> {
    let rate = |per_second: Option<u64>, burst: Option<u64>| {
        per_second.and_then(|r| Rate::new(r)?.with_burst(burst.unwrap_or(r)))
    };
    let list = |entries: &[String], flag: &str| {
        let mut list = AccessList::default();
        for entry in entries {
            list.add(entry)
                .map_err(|e| Failure::usage(format!("relay: {flag} {entry}"), e))?;
        }
        Ok::<_, Failure>(list)
    };
    let mut config = LimitsConfig::default();
    config.connections_per_ip = args.max_connections_per_ip;
    config.messages_per_ip = rate(args.rate_per_ip, args.burst);
    config.bytes_per_ip = rate(args.bytes_per_ip, args.byte_burst);
    config.messages_per_peer = rate(args.rate_per_peer, args.burst);
    config.bytes_per_peer = rate(args.bytes_per_peer, args.byte_burst);
    config.allow = list(&args.allow, "--allow")?;
    config.deny = list(&args.deny, "--deny")?;
    config.shadow = args.limits_shadow;
    config.report_every = Duration::from_secs(args.limits_log_every);
    Ok(config)
}
