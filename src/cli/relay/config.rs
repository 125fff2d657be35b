//! `gossip relay --config FILE`: the relay's flags in a TOML file.
//!
//! Each key is a long flag of `gossip relay` as written on the command line
//! (`max-connections = 64`), a repeatable flag takes an array
//! (`connect = ["ADDR@HOST:PORT"]`), a switch takes `true` or `false`. The
//! keys and their values are checked by the flags' own parsers (clap's), so
//! the file, `--help` and `--print-config` agree. The file's settings go
//! before the command line's: a flag, `GOSSIP_KEY` or `GOSSIP_NOW` given
//! overrides the file's, and a list flag given replaces the file's list.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use clap::parser::ValueSource;
use clap::{Arg, ArgAction, ArgMatches, Command, CommandFactory, FromArgMatches};
use toml::Spanned;
use toml::de::{DeTable, DeValue};

use crate::cli::args::Cli;
use crate::cli::io::Failure;
use crate::cli::relay::args::RelayArgs;

/// The subcommand, as clap names it.
const RELAY: &str = "relay";

/// Flags that are no setting: the file itself, and what only prints.
const NOT_KEYS: [&str; 4] = ["config", "print-config", "help", "version"];

/// Value names of the flags that take a whole number, printed bare.
const NUMBERS: [&str; 4] = ["N", "SECS", "BYTES", "BITS"];

/// The relay's settings in effect: its arguments, and each setting as
/// `--print-config` prints it (key, then its TOML value, or None when unset).
pub struct Effective {
    pub args: RelayArgs,
    pub settings: BTreeMap<String, Option<String>>,
    /// The settings in the relay's flag order, as printed.
    pub text: String,
}

/// `gossip relay` with `--key` optional: the command line alone may leave
/// it to the file.
fn relaxed() -> Command {
    Cli::command().mut_subcommand(RELAY, |s| s.mut_arg("key", |a| a.required(false)))
}

/// The relay's flags a file may set.
fn keys(relay: &Command) -> impl Iterator<Item = &Arg> {
    relay.get_arguments().filter(|a| {
        !a.is_hide_set()
            && a.get_long()
                .is_some_and(|l| !NOT_KEYS.contains(&l) && a.get_id() != "command_line")
    })
}

/// The command line `argv` with the settings of its relay's `--config`
/// file put in before the relay's own flags (those a flag or the
/// environment already sets left out); `argv` as it is when it runs no
/// relay with `--config`, or does not parse (clap then says why).
pub fn expand(argv: &[OsString]) -> Result<Vec<OsString>, Failure> {
    let cmd = relaxed();
    let Ok(matches) = cmd.clone().try_get_matches_from(argv) else {
        return Ok(argv.to_vec());
    };
    let Some((RELAY, given)) = matches.subcommand() else {
        return Ok(argv.to_vec());
    };
    let Some(path) = given.get_one::<PathBuf>("config") else {
        return Ok(argv.to_vec());
    };
    let relay = cmd
        .find_subcommand(RELAY)
        .ok_or_else(|| Failure::io("relay", "no relay subcommand"))?;
    let text = std::fs::read_to_string(path).map_err(|e| {
        Failure::io(
            format!("relay: cannot read config file {}", path.display()),
            e,
        )
        .hint("give --config the path of a readable TOML file; 'gossip relay --print-config' prints one to start from")
    })?;
    let file = ConfigFile { path, text: &text };
    let tokens = file.tokens(relay, given)?;
    let at = argv
        .iter()
        .position(|a| a == RELAY)
        .map_or(argv.len(), |i| i + 1);
    let mut out = argv[..at].to_vec();
    out.extend(tokens);
    out.extend_from_slice(&argv[at..]);
    Ok(out)
}

/// The settings in effect for the command line `argv` (as given: its
/// `--config` file is read now).
pub fn effective(argv: &[OsString]) -> Result<Effective, Failure> {
    let argv = expand(argv)?;
    let cmd = Cli::command();
    let matches = cmd
        .clone()
        .try_get_matches_from(&argv)
        .map_err(|e| crate::cli::usage::failure(e, &cmd, &argv))?;
    let cli = Cli::from_arg_matches(&matches).map_err(|e| Failure::usage("relay", e))?;
    let (Some((RELAY, given)), crate::cli::args::Command::Relay(args)) =
        (matches.subcommand(), cli.command)
    else {
        return Err(Failure::usage("relay", "not a relay command line"));
    };
    let relay = cmd
        .find_subcommand(RELAY)
        .ok_or_else(|| Failure::io("relay", "no relay subcommand"))?;
    let mut settings = BTreeMap::new();
    let mut text = String::from(
        "# gossip relay: the settings in effect (the config file, then the\n\
         # environment and the flags over it, then the defaults).\n",
    );
    for arg in keys(relay) {
        let (key, value) = setting(arg, given);
        match &value {
            Some(v) => text.push_str(&format!("{key} = {v}\n")),
            None => text.push_str(&format!("# {key}: not set\n")),
        }
        settings.insert(key, value);
    }
    Ok(Effective {
        args: *args,
        settings,
        text,
    })
}

/// One setting as a TOML value, from what clap parsed (None when unset).
fn setting(arg: &Arg, given: &ArgMatches) -> (String, Option<String>) {
    let key = arg.get_long().unwrap_or_default().to_owned();
    let id = arg.get_id().as_str();
    let raw: Vec<String> = given
        .get_raw(id)
        .into_iter()
        .flatten()
        .map(|v| v.to_string_lossy().into_owned())
        .collect();
    let number = arg
        .get_value_names()
        .and_then(|n| n.first())
        .is_some_and(|n| NUMBERS.contains(&n.as_str()));
    let scalar = |v: &String| match v.parse::<u64>() {
        Ok(n) if number => n.to_string(),
        _ => toml::Value::String(v.clone()).to_string(),
    };
    let value = match arg.get_action() {
        ArgAction::SetTrue => Some(given.get_flag(id).to_string()),
        ArgAction::Append => Some(format!(
            "[{}]",
            raw.iter().map(scalar).collect::<Vec<_>>().join(", ")
        )),
        _ => raw.first().map(scalar),
    };
    (key, value)
}

/// A config file's text, and where it is (for errors).
struct ConfigFile<'a> {
    path: &'a Path,
    text: &'a str,
}

impl ConfigFile<'_> {
    /// The file's settings as flags (`--key=value`), each checked by its
    /// flag's parser: those the command line or the environment sets are
    /// left out.
    fn tokens(&self, relay: &Command, given: &ArgMatches) -> Result<Vec<OsString>, Failure> {
        let table = DeTable::parse(self.text)
            .map_err(|e| self.bad(e.span().map_or(0, |s| s.start), e.message(), None))?;
        let mut tokens = Vec::new();
        for (key, value) in table.get_ref() {
            let name = key.get_ref().as_ref();
            let arg = keys(relay).find(|a| {
                a.get_long() == Some(name)
                    || a.get_all_aliases().is_some_and(|all| all.contains(&name))
            });
            let Some(arg) = arg else {
                return Err(self.unknown(relay, name, key.span().start));
            };
            let id = arg.get_id().as_str();
            let mine = self.flags(arg, name, value)?;
            // Each setting alone through its flag's parser, so a bad value
            // is named with its line.
            let alone = std::iter::once(OsString::from(RELAY)).chain(mine.iter().cloned());
            if let Err(e) = relaxed_relay(relay).try_get_matches_from(alone) {
                return Err(self.refused(name, value.span().start, &e));
            }
            let overridden = matches!(
                given.value_source(id),
                Some(ValueSource::CommandLine | ValueSource::EnvVariable)
            );
            if !overridden {
                tokens.extend(mine);
            }
        }
        Ok(tokens)
    }

    /// A key's value as flags, by the kind of flag it is.
    fn flags(
        &self,
        arg: &Arg,
        name: &str,
        value: &Spanned<DeValue<'_>>,
    ) -> Result<Vec<OsString>, Failure> {
        let long = arg.get_long().unwrap_or(name);
        let flag = |v: String| OsString::from(format!("--{long}={v}"));
        let at = value.span().start;
        match (arg.get_action(), value.get_ref()) {
            (ArgAction::SetTrue, DeValue::Boolean(on)) => Ok(on
                .then(|| OsString::from(format!("--{long}")))
                .into_iter()
                .collect()),
            (ArgAction::SetTrue, _) => Err(self.bad(
                at,
                &format!("{name} is a switch"),
                Some(format!("write {name} = true or {name} = false")),
            )),
            (ArgAction::Append, DeValue::Array(items)) => items
                .iter()
                .map(|item| scalar(item.get_ref()).map(flag).ok_or(item.span().start))
                .collect::<Result<_, _>>()
                .map_err(|at| {
                    self.bad(
                        at,
                        &format!("{name} takes a list of strings"),
                        Some(format!("write {name} = [\"...\", \"...\"]")),
                    )
                }),
            (ArgAction::Append, _) => Err(self.bad(
                at,
                &format!("{name} takes a list"),
                Some(format!("write {name} = [\"...\"], even for one")),
            )),
            (_, v) => scalar(v).map(|v| vec![flag(v)]).ok_or_else(|| {
                self.bad(
                    at,
                    &format!("{name} takes one value, a string or a whole number"),
                    Some(format!("see --{long} in 'gossip relay --help'")),
                )
            }),
        }
    }

    /// Where `offset` is, as `FILE:LINE`.
    fn place(&self, offset: usize) -> String {
        let before = self.text.get(..offset).unwrap_or(self.text);
        let line = before.matches('\n').count() + 1;
        format!("{}:{line}", self.path.display())
    }

    /// A usage failure at `offset` of the file.
    fn bad(&self, offset: usize, why: &str, hint: Option<String>) -> Failure {
        let failure = Failure::usage(format!("relay: {}", self.place(offset)), why);
        let hint = hint.unwrap_or_else(|| {
            "the file is TOML: key = value lines, each key a long flag of 'gossip relay'".into()
        });
        // As clap's usage errors: the hint ends with where to read more.
        match hint.ends_with(" --help'") {
            true => failure.hint(hint),
            false => failure.hint(format!("{hint}; see 'gossip relay --help'")),
        }
    }

    /// An unknown key, with the nearest known one.
    fn unknown(&self, relay: &Command, name: &str, offset: usize) -> Failure {
        let nearest = keys(relay)
            .filter_map(Arg::get_long)
            .map(|k| (distance(name, k), k))
            .min();
        let hint = match nearest {
            _ if NOT_KEYS.contains(&name) => {
                format!("{name} is not a setting; give it on the command line")
            }
            Some((d, k)) if d <= 3 => {
                format!("a similar key exists: '{k}'")
            }
            _ => "the keys are the relay's long flags, without the dashes".into(),
        };
        self.bad(offset, &format!("unknown key '{name}'"), Some(hint))
    }

    /// A value its flag's parser refused, as the parser says.
    fn refused(&self, name: &str, offset: usize, e: &clap::Error) -> Failure {
        if let Some(bad) = std::error::Error::source(e)
            .and_then(|s| s.downcast_ref::<crate::cli::value::BadValue>())
        {
            let why = format!("{name}: {}", bad.why);
            let hint = bad.hint.map_or_else(
                || format!("see --{name} in 'gossip relay --help'"),
                str::to_owned,
            );
            return self.bad(offset, &why, Some(hint));
        }
        let text = e.render().to_string();
        let mut paragraphs = text.split("\n\n");
        let first = paragraphs.next().unwrap_or_default();
        let why = first
            .strip_prefix("error: ")
            .unwrap_or(first)
            .split_whitespace();
        let why = why.collect::<Vec<_>>().join(" ");
        let hint = paragraphs
            .filter_map(|p| {
                p.strip_prefix("  [possible values: ")
                    .map(|v| v.trim_end_matches([']', '\n']))
            })
            .next()
            .map_or_else(
                || format!("see --{name} in 'gossip relay --help'"),
                |v| format!("{name} is one of {v}"),
            );
        self.bad(offset, &why, Some(hint))
    }
}

/// The relay subcommand alone, `--key` optional, to check one setting.
fn relaxed_relay(relay: &Command) -> Command {
    relay.clone().mut_arg("key", |a| a.required(false))
}

/// A string or an integer as a flag's text; None for any other value.
fn scalar(value: &DeValue<'_>) -> Option<String> {
    match value {
        DeValue::String(s) => Some(s.to_string()),
        DeValue::Integer(i) => {
            let digits = i.as_str().replace('_', "");
            i128::from_str_radix(&digits, i.radix())
                .ok()
                .map(|n| n.to_string())
        }
        _ => None,
    }
}

/// Edits between two keys (Levenshtein), for "did you mean".
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let next = (row[j + 1] + 1)
                .min(row[j] + 1)
                .min(diagonal + usize::from(ca != *cb));
            diagonal = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distance_counts_edits() {
        assert_eq!(distance("max-conections", "max-connections"), 1);
        assert_eq!(distance("", "abc"), 3);
        assert_eq!(distance("same", "same"), 0);
    }

    #[test]
    fn every_key_is_a_long_flag_and_none_is_the_file_itself() {
        let cmd = relaxed();
        let relay = cmd.find_subcommand(RELAY).unwrap();
        let names: Vec<_> = keys(relay).filter_map(Arg::get_long).collect();
        assert!(names.contains(&"max-connections") && names.contains(&"connect"));
        assert!(!names.contains(&"config") && !names.contains(&"print-config"));
        assert!(!names.contains(&"json"), "a hidden flag is no key");
    }
}
