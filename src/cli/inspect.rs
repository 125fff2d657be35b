//! `gossip inspect`: objects in human-readable form, with the checks that
//! need no key (content id, proof of work, signature, age).

use std::fmt::Write as _;
use std::io::Write;

use clap::Args;
use gossip::Payload;
use gossip::codec::{Kind, Object};
use gossip::crypto::{PeerKey, SEAL_OVERHEAD};
use gossip::pow::{DEFAULT_BULLETIN_DIFFICULTY, DEFAULT_MESSAGE_DIFFICULTY, fits_original};
use gossip::{Bulletin, CONTENT_TTL};
use gossip::{MESSAGE_TTL, RawMessage};
use serde_json::json;

use super::flags::{InputArgs, NowArgs, TextOutputArgs, TypeArg};
use super::io::{CmdResult, for_each_object, kind, now, stdout, write_err};
use gossip::Timestamp;

#[derive(Args, Debug)]
pub struct InspectArgs {
    #[command(flatten)]
    pub now: NowArgs,
    /// text: a view for people; json: one inspection object per object.
    #[command(flatten)]
    pub output: TextOutputArgs,
    /// Type of wire-format input (JSON input names its type).
    #[arg(long = "type", value_enum, value_name = "TYPE")]
    pub kind: Option<TypeArg>,
    #[command(flatten)]
    pub input: InputArgs,
}

pub fn run(args: InspectArgs) -> CmdResult {
    let now = now(&args.now);
    let mut out = stdout();
    let end = for_each_object(&args.input, kind(Kind::Any, args.kind), |index, obj| {
        let text = match &obj {
            _ if args.output.json() => format!("{}\n", inspection(index, &obj, now)),
            Object::Bulletin(b) => bulletin_text(index, b, now),
            Object::Message(m) => message_text(index, m, now),
        };
        out.write_all(text.as_bytes()).map_err(write_err)
    })?;
    out.flush().map_err(write_err)?;
    Ok(end.exit(0))
}

/// `--format json`: the object and the checks that need no key, as one
/// `inspection` object.
fn inspection(index: u64, obj: &Object, now: Timestamp) -> serde_json::Value {
    let mut v = json!({"type": "inspection", "index": index, "object": obj.to_json()});
    match obj {
        Object::Bulletin(b) => v["checks"] = bulletin_checks(b, now),
        Object::Message(m) => {
            let signature = if m.is_unsigned() {
                "unsigned"
            } else if PeerKey::new(&m.src).is_ok_and(|k| k.verify(&m.signed_bytes(), &m.sig)) {
                "valid"
            } else {
                "bad"
            };
            let bits = m.work().bits();
            let plain = plaintext(m);
            let body = match &plain {
                Some(_) => "plaintext",
                None if m.body.len() >= SEAL_OVERHEAD => "sealed",
                None => "neither",
            };
            v["checks"] = json!({
                "signature": signature,
                "stale": m.is_stale(now),
                "leading_zero_bits": bits,
                "meets_default_difficulty": bits >= DEFAULT_MESSAGE_DIFFICULTY,
                "original_can_read": fits_original(m.ts) && fits_original(m.nonce),
                "body": body,
            });
            if let Some(p) = &plain {
                v["checks"]["op"] = json!(p.op().name());
            }
            if let Some(Payload::Bulletin(_, b)) = &plain {
                v["bulletin"] = Object::Bulletin(b.clone()).to_json();
                v["bulletin_checks"] = bulletin_checks(b, now);
            }
        }
    }
    v
}

fn bulletin_checks(b: &Bulletin, now: Timestamp) -> serde_json::Value {
    let bits = b.work().bits();
    json!({
        "content_id_matches": b.content_id_matches(),
        "expired": b.is_expired(now),
        "expires_at": u64::from(b.ts) + u64::from(CONTENT_TTL),
        "leading_zero_bits": bits,
        "meets_default_difficulty": bits >= DEFAULT_BULLETIN_DIFFICULTY,
        "original_can_read": fits_original(b.ts) && fits_original(b.nonce),
    })
}

/// A message body that is a plain payload (not sealed), if it is one.
fn plaintext(m: &RawMessage) -> Option<Payload> {
    Payload::decode(&m.body).ok().filter(|p| match p {
        Payload::Bulletin(_, b) => b.content_id_matches(),
        _ => m.body.len() < SEAL_OVERHEAD,
    })
}

/// A ts or nonce, marked when the original cannot read it (it unpacks both
/// as signed 32-bit integers).
fn signed(value: u32) -> String {
    if fits_original(value) {
        value.to_string()
    } else {
        format!("{value} (ORIGINAL CANNOT READ: not below 2^31)")
    }
}

/// "in 5 s" / "5 s ago".
fn relative(ts: u64, now: Timestamp) -> String {
    let now = now.as_secs();
    if ts >= now {
        format!("in {} s", ts - now)
    } else {
        format!("{} s ago", now - ts)
    }
}

fn bulletin_text(index: u64, b: &Bulletin, now: Timestamp) -> String {
    let mut s = format!("bulletin {index}\n");
    let id_state = if b.content_id_matches() {
        "matches content"
    } else {
        "MISMATCH: not SHA-256 of the content"
    };
    let expiry = u64::from(b.ts) + u64::from(CONTENT_TTL);
    let expiry_state = if b.is_expired(now) {
        "EXPIRED"
    } else {
        "expires"
    };
    let bits = b.work().bits();
    let work_state = if bits >= DEFAULT_BULLETIN_DIFFICULTY {
        "meets"
    } else {
        "BELOW"
    };
    let _ = writeln!(s, "  topic       {}", hex::encode(b.topic));
    let _ = writeln!(
        s,
        "  content id  {} ({id_state})",
        hex::encode(b.content_id)
    );
    let _ = writeln!(
        s,
        "  ts          {} ({}; {expiry_state} {})",
        signed(b.ts),
        relative(b.ts.into(), now),
        relative(expiry, now)
    );
    let _ = writeln!(s, "  nonce       {}", signed(b.nonce));
    let _ = writeln!(
        s,
        "  work        {bits} leading zero bits ({work_state} the default {DEFAULT_BULLETIN_DIFFICULTY})"
    );
    let _ = writeln!(
        s,
        "  content     {} bytes: {}",
        b.content.len(),
        preview(&b.content)
    );
    s
}

fn message_text(index: u64, m: &RawMessage, now: Timestamp) -> String {
    let mut s = format!("message {index}\n");
    let sig_state = if m.is_unsigned() {
        "UNSIGNED"
    } else if PeerKey::new(&m.src).is_ok_and(|k| k.verify(&m.signed_bytes(), &m.sig)) {
        "valid"
    } else {
        "BAD"
    };
    let age_state = if m.is_stale(now) { "STALE" } else { "fresh" };
    let bits = m.work().bits();
    let work_state = if bits >= DEFAULT_MESSAGE_DIFFICULTY {
        "meets"
    } else {
        "BELOW"
    };
    let _ = writeln!(s, "  dst         {}", m.dst);
    let _ = writeln!(s, "  src         {}", m.src);
    let _ = writeln!(
        s,
        "  ts          {} ({}; {age_state}, message TTL {MESSAGE_TTL} s)",
        signed(m.ts),
        relative(m.ts.into(), now)
    );
    let _ = writeln!(s, "  nonce       {}", signed(m.nonce));
    let _ = writeln!(s, "  sig         {} ({sig_state})", hex::encode(m.sig));
    let _ = writeln!(
        s,
        "  work        {bits} leading zero bits ({work_state} the default {DEFAULT_MESSAGE_DIFFICULTY})"
    );
    let plain = plaintext(m);
    let body = match &plain {
        Some(p) => format!("{} bytes, plaintext {}", m.body.len(), p.op()),
        None if m.body.len() >= SEAL_OVERHEAD => format!(
            "{} bytes, sealed (open with `gossip open -k KEY`)",
            m.body.len()
        ),
        None => format!("{} bytes, neither a sealed box nor a payload", m.body.len()),
    };
    let _ = writeln!(s, "  body        {body}");
    if let Some(Payload::Bulletin(_, b)) = &plain {
        for line in bulletin_text(index, b, now).lines().skip(1) {
            let _ = writeln!(s, "  {line}");
        }
    }
    s
}

/// Printable UTF-8 as a quoted string, anything else as (truncated) hex.
fn preview(content: &[u8]) -> String {
    const MAX: usize = 200;
    match std::str::from_utf8(content) {
        Ok(text)
            if !text
                .chars()
                .any(|c| c.is_control() && c != '\n' && c != '\t') =>
        {
            let shown: String = text.chars().take(MAX).collect();
            let more = if text.chars().count() > MAX {
                "…"
            } else {
                ""
            };
            format!("{shown:?}{more}")
        }
        _ => {
            let more = if content.len() > MAX / 2 { "…" } else { "" };
            format!(
                "hex {}{more}",
                hex::encode(&content[..content.len().min(MAX / 2)])
            )
        }
    }
}
