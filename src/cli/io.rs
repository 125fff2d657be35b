//! Shared I/O of the subcommands: inputs and outputs ('-' is stdin/stdout),
//! object streams, key files, the clock, and the error type every
//! subcommand returns.

use std::fs::File;
use std::io::{self, BufRead, BufReader, IsTerminal, Read, Write};
use std::path::Path;
use std::process::ExitCode;

use gossip::DecodeError;
use gossip::RawMessage;
use gossip::codec::{Format, Kind, Object, ObjectReader, ReadError, check_size, write_object};
use gossip::crypto::{Identity, address_of};
use gossip::node::ConfigError;
use gossip::pow::MAX_MINEABLE_DIFFICULTY;
use gossip::{Seed, Timestamp, parse_key_file};

use super::exit::Exit;
pub use super::failure::{CmdResult, Failure, write_err};
use super::flags::{FormatArg, InputArgs, NowArgs, OutputArgs, TypeArg};
use super::live;

/// Opens `path` for appending (and reading, when `read`), created with
/// `mode` (exactly, whatever the umask) when it does not exist. A relay's
/// output is never opened through a symbolic link (`O_NOFOLLOW`): a link
/// planted where it writes would make it write wherever the link points.
pub fn open_append_no_follow(path: &Path, mode: u32, read: bool) -> Result<File, Failure> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let existed = std::fs::symlink_metadata(path).is_ok();
    let file = std::fs::OpenOptions::new()
        .read(read)
        .append(true)
        .create(true)
        .mode(mode)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .map_err(|e| open_failure(path, e))?;
    if !existed {
        file.set_permissions(std::fs::Permissions::from_mode(mode))
            .map_err(|e| open_failure(path, e))?;
    }
    Ok(file)
}

/// Why a relay's output at `path` did not open: a symbolic link is said
/// so, with a hint.
pub fn open_failure(path: &Path, e: std::io::Error) -> Failure {
    let what = format!("cannot open {}", path.display());
    if e.raw_os_error() == Some(libc::ELOOP) {
        Failure::io(what, "it is a symbolic link").hint(
            "give the path of the file itself: the relay does not write through symbolic links",
        )
    } else {
        Failure::io(what, e)
    }
}

/// A node config the library refused: a usage error (exit 2) naming the
/// flag that set the value, with a hint at the bound to keep.
pub fn config_failure(e: ConfigError) -> Failure {
    let flag = match e.field() {
        "bulletin_difficulty" => "--bulletin-difficulty",
        "message_difficulty" => "--difficulty",
        "rotate_every" => "--rotate-delivery-code",
        "reconcile_timeout" => "--timeout",
        other => other,
    };
    let failure = Failure::usage(flag, e);
    match e {
        ConfigError::Unmineable { .. } => {
            failure.hint(format!("give at most {MAX_MINEABLE_DIFFICULTY} bits"))
        }
        ConfigError::Zero(_) => failure.hint("give at least 1"),
        _ => failure,
    }
}

/// Opens FILE, or stdin for none or '-'.
pub fn open_input(path: Option<&Path>) -> Result<Box<dyn BufRead + Send>, Failure> {
    match path {
        None => Ok(Box::new(BufReader::with_capacity(1 << 16, live::stdin()))),
        Some(p) if p == Path::new("-") => {
            Ok(Box::new(BufReader::with_capacity(1 << 16, live::stdin())))
        }
        Some(p) => {
            let f = File::open(p)
                .map_err(|e| Failure::io(format!("cannot open {}", p.display()), e))?;
            Ok(Box::new(BufReader::with_capacity(1 << 16, f)))
        }
    }
}

/// Reads a whole input into memory.
pub fn read_all(path: Option<&Path>) -> Result<Vec<u8>, Failure> {
    let mut buf = Vec::new();
    open_input(path)?
        .read_to_end(&mut buf)
        .map_err(|e| Failure::io(describe(path), e))?;
    Ok(buf)
}

/// Reads a whole input of at most `max` bytes, and stops reading at the cap
/// (malformed, exit 3) when there is more.
pub fn read_capped(path: Option<&Path>, max: usize) -> Result<Vec<u8>, Failure> {
    let mut buf = Vec::new();
    open_input(path)?
        .take(max as u64 + 1)
        .read_to_end(&mut buf)
        .map_err(|e| Failure::io(describe(path), e))?;
    if buf.len() > max {
        return Err(Failure::malformed(
            describe(path),
            format!("more than {max} bytes; the limit is {max} bytes"),
        ));
    }
    Ok(buf)
}

/// "stdin" or the path, for messages.
pub fn describe(path: Option<&Path>) -> String {
    match path {
        Some(p) if p != Path::new("-") => p.display().to_string(),
        _ => "stdin".into(),
    }
}

/// Buffered stdout, written out whenever the command would wait for input.
pub fn stdout() -> live::Out {
    live::Out
}

/// An object writer in the chosen format; refuses to put wire bytes on a terminal.
pub struct ObjectWriter {
    out: live::Out,
    format: Format,
}

impl ObjectWriter {
    pub fn new(args: &OutputArgs) -> Result<Self, Failure> {
        let format = match args.format {
            FormatArg::Json => Format::Json,
            FormatArg::Wire => Format::Wire,
        };
        refuse_binary_on_terminal(format == Format::Wire)?;
        Ok(Self {
            out: stdout(),
            format,
        })
    }

    pub fn write(&mut self, obj: &Object) -> Result<(), Failure> {
        write_object(&mut self.out, obj, self.format).map_err(write_err)
    }

    pub fn finish(mut self) -> Result<(), Failure> {
        self.out.flush().map_err(write_err)
    }
}

/// Errors out when binary output would go to a terminal.
pub fn refuse_binary_on_terminal(binary: bool) -> Result<(), Failure> {
    refuse_binary_on_terminal_or(binary, "--format json")
}

/// [`refuse_binary_on_terminal`] for a command whose text output is
/// chosen by `text_flags`, which the hint names.
pub fn refuse_binary_on_terminal_or(binary: bool, text_flags: &str) -> Result<(), Failure> {
    if binary && io::stdout().is_terminal() {
        return Err(Failure::usage(
            "refusing to write binary output to a terminal",
            "stdout is a terminal",
        )
        .hint(format!(
            "redirect stdout to a file or pipe, or use {text_flags}"
        )));
    }
    Ok(())
}

/// The reader kind for a command that takes `default`, refined by `--type`.
pub fn kind(default: Kind, arg: Option<TypeArg>) -> Kind {
    match arg {
        Some(TypeArg::Bulletin) => Kind::Bulletin,
        Some(TypeArg::Message) => Kind::Message,
        None => default,
    }
}

/// How a stream ended: counts of objects read and of malformed ones.
#[derive(Debug, Default)]
pub struct StreamEnd {
    pub objects: u64,
    pub malformed: u64,
}

impl StreamEnd {
    /// [`Exit::Malformed`] when any object was malformed, else
    /// [`Exit::Invalid`] when the command `rejected` any, else success.
    pub fn exit(&self, rejected: u64) -> ExitCode {
        if self.malformed > 0 {
            Exit::Malformed.into()
        } else if rejected > 0 {
            Exit::Invalid.into()
        } else {
            ExitCode::SUCCESS
        }
    }
}

/// Runs `f` on each object of the input. A malformed object is reported
/// and skipped; objects before and after it are still processed. `f` may
/// fail the whole command (e.g. a broken pipe).
pub fn for_each_object(
    input: &InputArgs,
    kind: Kind,
    mut f: impl FnMut(u64, Object) -> Result<(), Failure>,
) -> Result<StreamEnd, Failure> {
    let path = input.input.as_deref();
    let mut reader = ObjectReader::new(open_input(path)?, kind).refuse_binary();
    let mut end = StreamEnd::default();
    while let Some(item) = reader.next() {
        match item {
            Ok(obj) => {
                end.objects += 1;
                f(reader.index, obj)?;
            }
            Err(ReadError::Io(e)) if e.kind() == io::ErrorKind::BrokenPipe => {
                return Err(write_err(e));
            }
            Err(ReadError::Io(e)) => {
                return Err(Failure::io(format!("reading {}", describe(path)), e));
            }
            Err(ReadError::Decode { error, fatal }) => {
                end.malformed += 1;
                let what = format!("{} object {}", describe(path), reader.index);
                let binary = matches!(error, DecodeError::UnknownFormat(_));
                let mut failure = Failure::malformed(what, error);
                if binary {
                    failure = failure.hint(
                        "bare packed bytes (`gossip pack --raw`) have no framing and name no type: \
                         read them with `gossip unpack --raw --type bulletin|message`",
                    );
                } else if fatal && reader.index == 1 {
                    // The first frame already broken: bare packed bytes
                    // whose first byte happens to look like a length prefix.
                    failure = failure.hint(
                        "the stream was not read: its framing cannot be trusted; if it is bare \
                         packed bytes (`gossip pack --raw`), read them with \
                         `gossip unpack --raw --type bulletin|message`",
                    );
                } else if fatal {
                    failure = failure
                        .hint("the rest of the stream was not read: its framing cannot be trusted");
                }
                failure.report();
            }
        }
    }
    Ok(end)
}

/// Runs a command that turns each input object into an output object. An
/// `Err` rejects that one object: it is reported as `<source> object N: …`,
/// the stream goes on, and the command exits 1 at the end (3 when objects
/// were malformed).
pub fn map_objects(
    input: &InputArgs,
    output: &OutputArgs,
    kind: Kind,
    mut f: impl FnMut(u64, Object) -> Result<Object, Failure>,
) -> CmdResult {
    let mut out = ObjectWriter::new(output)?;
    let source = describe(input.input.as_deref());
    let mut rejected = 0u64;
    // An object over the cap is never written: no reader would take it.
    let mut f = |index, obj| {
        f(index, obj).and_then(|obj| match check_size(&obj) {
            Ok(()) => Ok(obj),
            Err(e) => Err(Failure::invalid("", e)),
        })
    };
    let end = for_each_object(input, kind, |index, obj| match f(index, obj) {
        Ok(obj) => out.write(&obj),
        Err(failure) => {
            rejected += 1;
            report_rejected(&source, index, failure);
            Ok(())
        }
    })?;
    out.finish()?;
    Ok(end.exit(rejected))
}

/// Reports one rejected object as `<source> object N: …`; the stream goes on.
pub fn report_rejected(source: &str, index: u64, mut failure: Failure) {
    failure.what = match failure.what.as_str() {
        "" => format!("{source} object {index}"),
        w => format!("{source} object {index}: {w}"),
    };
    failure.report();
}

/// [`map_objects`] for commands that turn messages into messages.
pub fn map_messages(
    input: &InputArgs,
    output: &OutputArgs,
    mut f: impl FnMut(RawMessage) -> Result<RawMessage, Failure>,
) -> CmdResult {
    map_objects(input, output, Kind::Message, |_, obj| match obj {
        Object::Message(m) => f(m).map(Object::Message),
        other => Err(Failure::malformed(other.type_name(), "expected a message")),
    })
}

/// The time to check against: --now / GOSSIP_NOW, else the system clock.
pub fn now(args: &NowArgs) -> Timestamp {
    args.now.map_or_else(Timestamp::now, Timestamp::from_secs)
}

/// A timestamp for a new object: `--ts` as given, else `--now`/GOSSIP_NOW,
/// else the clock, which must be below 2^31 (the original's signed ts).
pub fn ts_or_now(ts: Option<u32>, args: &NowArgs) -> Result<u32, Failure> {
    match ts {
        Some(ts) => Ok(ts),
        None => now_ts(args),
    }
}

/// `--now`/GOSSIP_NOW or the clock as a ts the original can read.
pub fn now_ts(args: &NowArgs) -> Result<u32, Failure> {
    u32::try_from(now(args).as_secs())
        .ok()
        .filter(|&ts| gossip::pow::fits_original(ts))
        .ok_or_else(|| {
            Failure::usage(
                "time",
                "does not fit the original's signed 32-bit timestamp (below 2^31)",
            )
        })
}

/// Loads a key file, refusing files others can read and anything but a
/// regular file (a FIFO would hang the read).
pub fn load_seed(path: &Path) -> Result<Seed, Failure> {
    let what = format!("key file {}", shown_key_path(path));
    let meta = regular_file(path, &what).map_err(|f| {
        if !path.exists() {
            f.hint("create one with `gossip keygen -o FILE`")
        } else {
            f
        }
    })?;
    check_private(path, &meta, &what)?;
    let mut text = zeroize::Zeroizing::new(String::new());
    File::open(path)
        .and_then(|f| f.take(1 << 16).read_to_string(&mut text))
        .map_err(|e| Failure::io(&what, e))?;
    parse_key_file(&text, address_of).map_err(|e| Failure::io(what, e))
}

/// A key argument as it may be printed: never a run of 64 hex digits,
/// which is what a seed given by mistake for a path looks like.
fn shown_key_path(path: &Path) -> String {
    let text = path.display().to_string();
    let longest_hex_run = text
        .split(|c: char| !c.is_ascii_hexdigit())
        .map(str::len)
        .max()
        .unwrap_or(0);
    if longest_hex_run >= 64 {
        "<64 hex digits, not shown: -k/GOSSIP_KEY takes a key file's path, not a seed>".into()
    } else {
        text
    }
}

/// The metadata of `path` (symlinks followed), which must be a regular
/// file: a FIFO, a device, a socket or a directory is refused by name.
pub fn regular_file(path: &Path, what: &str) -> Result<std::fs::Metadata, Failure> {
    let meta = std::fs::metadata(path).map_err(|e| Failure::io(what, e))?;
    if meta.is_file() {
        return Ok(meta);
    }
    if meta.is_dir() {
        return Err(Failure::io(what, "is a directory"));
    }
    let kind = special_kind(&meta);
    Err(Failure::io(what, format!("{kind}, not a regular file")))
}

#[cfg(unix)]
fn special_kind(meta: &std::fs::Metadata) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    let t = meta.file_type();
    if t.is_fifo() {
        "is a FIFO"
    } else if t.is_char_device() || t.is_block_device() {
        "is a device"
    } else if t.is_socket() {
        "is a socket"
    } else {
        "is a special file"
    }
}

#[cfg(not(unix))]
fn special_kind(_: &std::fs::Metadata) -> &'static str {
    "is a special file"
}

#[cfg(unix)]
fn check_private(path: &Path, meta: &std::fs::Metadata, what: &str) -> Result<(), Failure> {
    use std::os::unix::fs::PermissionsExt;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(Failure::io(
            what,
            format!("permissions {mode:03o} let others read the secret"),
        )
        .hint(format!("chmod 600 {}", path.display())));
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_private(_: &Path, _: &std::fs::Metadata, _: &str) -> Result<(), Failure> {
    Ok(())
}

/// Loads a key file into an identity.
pub fn load_identity(path: &Path) -> Result<Identity, Failure> {
    Ok(Identity::from_seed(&load_seed(path)?))
}
