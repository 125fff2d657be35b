//! CLI tests: one module per subcommand, all built into one test binary.
//!
//! Every run goes through `util`, which checks that stderr never shows a
//! panic or a backtrace hint.

#[path = "../support/skip.rs"]
mod skip;
mod util;

mod address;
mod bulletin;
mod caps;
mod completions;
mod content_id;
mod crypt;
mod delivery_code;
mod edges;
mod hashcash;
mod identity;
mod inspect;
mod junk;
mod keygen;
mod live;
mod matrix;
mod message;
mod open;
mod pack;
mod pipelines;
mod relay;
mod relay_config;
mod relay_http;
mod secrets;
mod sign;
mod special_files;
mod store;
mod sync;
mod tapehash;
mod topic;
mod verify;
mod weak_keys;
