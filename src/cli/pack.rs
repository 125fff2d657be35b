//! `gossip pack` / `gossip unpack`: objects to and from their exact packed
//! bytes: wire frames by default, or bare bytes (--raw) and their text forms
//! (--hex, --base64), which is what the original implementation's pack()
//! gives and takes.

use std::io::Write;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use clap::Args;
use gossip::codec::{
    Format, Kind, Line, MAX_OBJECT, Object, read_line_capped, write_frame, write_object,
};

use super::exit::Exit;
use super::flags::{InputArgs, TypeArg};
use super::io::{
    CmdResult, Failure, StreamEnd, describe, for_each_object, open_input, read_capped,
    refuse_binary_on_terminal_or, report_rejected, stdout, write_err,
};

/// Text encodings of bare packed bytes.
#[derive(Args, Debug)]
#[command(group = clap::ArgGroup::new("encoding").args(["raw", "hex", "base64"]))]
pub struct PackedEncoding {
    /// Bare packed bytes of one object, no length prefix (as the original's pack()).
    #[arg(long)]
    pub raw: bool,
    /// Packed bytes as hex, one object per line.
    #[arg(long)]
    pub hex: bool,
    /// Packed bytes as base64, one object per line.
    #[arg(long)]
    pub base64: bool,
}

#[derive(Args, Debug)]
pub struct PackArgs {
    #[command(flatten)]
    pub encoding: PackedEncoding,
    #[command(flatten)]
    pub input: InputArgs,
}

#[derive(Args, Debug)]
pub struct UnpackArgs {
    /// What the packed bytes are.
    #[arg(long = "type", value_enum, value_name = "TYPE")]
    pub kind: TypeArg,
    #[command(flatten)]
    pub encoding: PackedEncoding,
    #[command(flatten)]
    pub input: InputArgs,
}

pub fn pack(args: PackArgs) -> CmdResult {
    let enc = &args.encoding;
    refuse_binary_on_terminal_or(!enc.hex && !enc.base64, "--hex or --base64")?;
    let mut out = stdout();
    let end = for_each_object(&args.input, Kind::Any, |index, obj| {
        let packed = obj.pack();
        let written = if enc.hex {
            writeln!(out, "{}", hex::encode(&packed))
        } else if enc.base64 {
            writeln!(out, "{}", B64.encode(&packed))
        } else if enc.raw {
            if index > 1 {
                return Err(Failure::malformed(
                    "pack --raw",
                    "more than one object: bare packed bytes have no boundaries",
                )
                .hint("use the default wire frames, or --hex/--base64 (one object per line)"));
            }
            out.write_all(&packed)
        } else {
            write_frame(&mut out, &packed)
        };
        written.map_err(write_err)
    })?;
    out.flush().map_err(write_err)?;
    Ok(end.exit(0))
}

pub fn unpack(args: UnpackArgs) -> CmdResult {
    let kind = match args.kind {
        TypeArg::Bulletin => Kind::Bulletin,
        TypeArg::Message => Kind::Message,
    };
    let enc = &args.encoding;
    if !enc.raw && !enc.hex && !enc.base64 {
        let mut out = stdout();
        let source = describe(args.input.input.as_deref());
        let mut wrong = 0;
        let end = for_each_object(&args.input, kind, |index, obj| {
            match parses_as_asked(&obj) {
                Ok(()) => write_object(&mut out, &obj, Format::Json).map_err(write_err),
                Err(failure) => {
                    wrong += 1;
                    report_rejected(&source, index, failure);
                    Ok(())
                }
            }
        })?;
        out.flush().map_err(write_err)?;
        return Ok(if wrong > 0 {
            Exit::Malformed.into()
        } else {
            end.exit(0)
        });
    }
    let path = args.input.input.as_deref();
    let source = describe(path);
    let mut out = stdout();
    let mut end = StreamEnd::default();
    let mut emit = |index: usize, packed: Result<Vec<u8>, String>| -> Result<(), Failure> {
        let obj = packed
            .and_then(|p| Object::from_packed(&p, kind).map_err(|e| e.to_string()))
            .map_err(|why| Failure::malformed("", why))
            .and_then(|obj| parses_as_asked(&obj).map(|()| obj));
        match obj {
            Ok(obj) => {
                end.objects += 1;
                write_object(&mut out, &obj, Format::Json).map_err(write_err)
            }
            Err(failure) => {
                end.malformed += 1;
                report_rejected(&source, index as u64, failure);
                Ok(())
            }
        }
    };
    if enc.raw {
        emit(1, Ok(read_capped(path, MAX_OBJECT)?))?;
    } else {
        // Each line is read under the cap of its encoding, and a line over
        // it or not UTF-8 is one malformed object: the stream goes on.
        let cap = if enc.hex {
            2 * MAX_OBJECT
        } else {
            MAX_OBJECT.div_ceil(3) * 4
        };
        let decode = |line: &[u8]| -> Result<Vec<u8>, String> {
            let line = std::str::from_utf8(line).map_err(|e| format!("not UTF-8 text: {e}"))?;
            if enc.hex {
                hex::decode(line).map_err(|e| format!("bad hex: {e}"))
            } else {
                B64.decode(line).map_err(|e| format!("bad base64: {e}"))
            }
        };
        let mut input = open_input(path)?;
        let mut line = Vec::new();
        let mut index = 0;
        while let Some(got) = read_line_capped(&mut input, cap, &mut line)
            .map_err(|e| Failure::io(format!("reading {source}"), e))?
        {
            let text = line.trim_ascii();
            if got == Line::Whole && text.is_empty() {
                continue;
            }
            index += 1;
            let packed = match got {
                Line::Whole => decode(text),
                Line::TooLong(len) => {
                    Err(format!("line of {len} bytes exceeds the {cap}-byte limit"))
                }
            };
            emit(index, packed)?;
        }
    }
    out.flush().map_err(write_err)?;
    Ok(end.exit(0))
}

/// Packed bytes name no type, so any 72 bytes read as a bulletin and any 136
/// as a message: refuses a bulletin whose content id is not its content's
/// hash, and a "message" whose bytes are those of a bulletin.
fn parses_as_asked(obj: &Object) -> Result<(), Failure> {
    match obj {
        Object::Bulletin(b) if !b.content_id_matches() => {
            let mut failure = Failure::malformed(
                "not a bulletin",
                "its content id is not the SHA-256 of its content",
            );
            if b.pack().len() >= gossip::MESSAGE_HEADER_LEN {
                failure = failure.hint("is it a message? try `gossip unpack --type message`");
            }
            Err(failure)
        }
        Object::Message(m)
            if Object::from_packed(&m.pack(), Kind::Any)
                .is_ok_and(|o| matches!(o, Object::Bulletin(_))) =>
        {
            Err(Failure::malformed(
                "not a message",
                "its bytes are a bulletin's (the content id is the SHA-256 of the content)",
            )
            .hint("try `gossip unpack --type bulletin`"))
        }
        _ => Ok(()),
    }
}
