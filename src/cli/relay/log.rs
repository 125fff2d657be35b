//! The relay's log: `tracing` events on stderr, one per fact, with fields
//! (peer, remote, reason, counts).
//!
//! `--log-format text` (the default) prints each event as the line a
//! person reads, `gossip: relay: MESSAGE`, as the relay always has;
//! `--log-format json` prints one JSON object per event: timestamp, level,
//! target, the message and every field. The status line (`--status-every`)
//! is JSON of its own and is printed as it is in both. `--log-level`, else
//! `RUST_LOG` (`info`, or `target=level` directives), else `info`, says
//! what is printed.

use std::fmt::{self, Write as _};

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::fmt::format::{Format, Json, JsonFields, Writer};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;

use crate::cli::io::Failure;
use crate::cli::relay::args::{LogFormatArg, LogLevelArg};

/// The target of the status line's event: printed as it is.
pub const STATUS: &str = "relay_status";

/// Installs the log for this process: `format`, at `level` (else
/// RUST_LOG's directives, else info). A RUST_LOG that does not parse is a
/// usage error.
pub fn init(format: LogFormatArg, level: Option<LogLevelArg>) -> Result<(), Failure> {
    let filter = match (level, std::env::var("RUST_LOG")) {
        (Some(level), _) => Targets::new().with_default(Level::from(level)),
        (None, Ok(directives)) if !directives.trim().is_empty() => {
            directives.parse::<Targets>().map_err(|e| {
                Failure::usage(format!("RUST_LOG={directives}"), e)
                    .hint("give a level (error, warn, info, debug, trace) or target=level directives, or use --log-level")
            })?
        }
        _ => Targets::new().with_default(LevelFilter::INFO),
    };
    let layer = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let installed = match format {
        LogFormatArg::Text => {
            let subscriber = tracing_subscriber::registry()
                .with(layer.event_format(Text))
                .with(filter);
            tracing::subscriber::set_global_default(subscriber)
        }
        LogFormatArg::Json => {
            let json = Format::default().json().flatten_event(true);
            let subscriber = tracing_subscriber::registry()
                .with(
                    layer
                        .fmt_fields(JsonFields::new())
                        .event_format(StatusAsIs(json)),
                )
                .with(filter);
            tracing::subscriber::set_global_default(subscriber)
        }
    };
    // Already installed (a second relay in one process): that one stays.
    drop(installed);
    Ok(())
}

impl From<LogLevelArg> for Level {
    fn from(level: LogLevelArg) -> Self {
        match level {
            LogLevelArg::Error => Level::ERROR,
            LogLevelArg::Warn => Level::WARN,
            LogLevelArg::Info => Level::INFO,
            LogLevelArg::Debug => Level::DEBUG,
            LogLevelArg::Trace => Level::TRACE,
        }
    }
}

/// An event's message.
#[derive(Default)]
struct Message(String);

impl Visit for Message {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "message" {
            // A message's Debug is its text.
            let _ = write!(self.0, "{value:?}");
        }
    }
}

fn message(event: &Event<'_>) -> String {
    let mut m = Message::default();
    event.record(&mut m);
    m.0
}

/// `gossip: relay: MESSAGE` (its fields are in its text); the status line
/// as it is.
struct Text;

impl<S, N> FormatEvent<S, N> for Text
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _: &FmtContext<'_, S, N>,
        mut w: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let text = message(event);
        if event.metadata().target() == STATUS {
            writeln!(w, "{text}")
        } else {
            writeln!(w, "gossip: relay: {text}")
        }
    }
}

/// JSON events, and the status line as it is (it is JSON already).
struct StatusAsIs(Format<Json>);

impl<S, N> FormatEvent<S, N> for StatusAsIs
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut w: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        if event.metadata().target() == STATUS {
            writeln!(w, "{}", message(event))
        } else {
            self.0.format_event(ctx, w, event)
        }
    }
}
