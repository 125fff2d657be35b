//! Helpers: run `gossip` in a scratch directory with stdin, check exit
//! codes and error format, make key files, load the reference vectors.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use assert_cmd::Command;
use serde_json::Value;
use tempfile::TempDir;

/// The path of the gossip binary under test.
pub fn bin() -> PathBuf {
    assert_cmd::cargo::cargo_bin("gossip")
}

/// The reference vectors made by the original implementation.
pub fn vectors() -> &'static Value {
    static V: OnceLock<Value> = OnceLock::new();
    V.get_or_init(|| {
        serde_json::from_str(include_str!("../vectors/reference.json")).expect("vectors parse")
    })
}

/// The vectors' fixed "now".
pub fn vectors_now() -> u64 {
    vectors()["now"].as_u64().unwrap()
}

/// The non-empty list of vector cases named `name`.
pub fn cases(name: &str) -> Vec<Value> {
    let list = vectors()[name].as_array().expect(name).clone();
    assert!(!list.is_empty(), "{name} is empty");
    list
}

/// A hex string field of a vector as bytes.
pub fn hx(v: &Value) -> Vec<u8> {
    hex::decode(v.as_str().expect("hex string")).expect("valid hex")
}

/// The outcome of one run.
#[derive(Debug)]
pub struct Out {
    pub code: i32,
    pub stdout: Vec<u8>,
    pub stderr: String,
}

impl Out {
    /// stdout as UTF-8.
    pub fn text(&self) -> String {
        String::from_utf8(self.stdout.clone()).expect("stdout is UTF-8")
    }

    /// stdout's non-empty lines.
    pub fn lines(&self) -> Vec<String> {
        self.text()
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(str::to_owned)
            .collect()
    }

    /// stdout as JSON Lines.
    pub fn json(&self) -> Vec<Value> {
        self.lines()
            .iter()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON line {l}: {e}")))
            .collect()
    }

    /// The only JSON object on stdout.
    pub fn one(&self) -> Value {
        let mut all = self.json();
        assert_eq!(all.len(), 1, "expected one object, got {all:?}");
        all.remove(0)
    }
}

/// Fails the test if stderr shows a panic or a backtrace hint.
pub fn assert_no_panic(stderr: &str) {
    assert!(!stderr.contains("panicked"), "panic on stderr:\n{stderr}");
    assert!(
        !stderr.contains("RUST_BACKTRACE"),
        "backtrace hint on stderr:\n{stderr}"
    );
}

/// Checks the error format: every stderr line is `gossip: ...` or `hint: ...`,
/// and there is at least one `gossip: ` line.
pub fn assert_error_format(stderr: &str) {
    assert!(stderr.starts_with("gossip: "), "stderr:\n{stderr}");
    for line in stderr.lines() {
        assert!(
            line.starts_with("gossip: ") || line.starts_with("hint: "),
            "unexpected stderr line {line:?} in:\n{stderr}"
        );
    }
}

/// A usage error: exactly `gossip: …` then `hint: … see 'gossip … --help'`.
pub fn assert_usage_format(stderr: &str) {
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 2, "two lines expected:\n{stderr}");
    assert!(lines[0].starts_with("gossip: "), "stderr:\n{stderr}");
    assert!(
        lines[1].starts_with("hint: ") && lines[1].ends_with(" --help'"),
        "stderr:\n{stderr}"
    );
}

/// A scratch directory where commands run.
pub struct Env {
    pub dir: TempDir,
}

impl Default for Env {
    fn default() -> Self {
        Self::new()
    }
}

impl Env {
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    /// A path inside the scratch directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Writes a file (mode as created by the umask).
    pub fn write(&self, name: &str, bytes: impl AsRef<[u8]>) -> PathBuf {
        let p = self.path(name);
        std::fs::write(&p, bytes).unwrap();
        p
    }

    /// A gossip command in the scratch directory, with no key or clock from the environment.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::cargo_bin("gossip").expect("gossip binary");
        c.current_dir(self.dir.path())
            .env_remove("GOSSIP_KEY")
            .env_remove("GOSSIP_NOW")
            .env_remove("RUST_BACKTRACE")
            .env_remove("RUST_LOG")
            .args(args);
        c
    }

    /// Runs gossip with `stdin`; never a panic.
    pub fn run(&self, args: &[&str], stdin: impl AsRef<[u8]>) -> Out {
        run_cmd(self.cmd(args), stdin)
    }

    /// Runs gossip and expects exit 0.
    pub fn ok(&self, args: &[&str], stdin: impl AsRef<[u8]>) -> Out {
        let out = self.run(args, stdin);
        assert_eq!(out.code, 0, "gossip {args:?} failed: {}", out.stderr);
        out
    }

    /// Runs gossip and expects exit `code` with a `gossip: ` error on stderr.
    pub fn fail(&self, args: &[&str], stdin: impl AsRef<[u8]>, code: i32) -> Out {
        let out = self.run(args, stdin);
        assert_eq!(
            out.code, code,
            "gossip {args:?}: expected exit {code}; stderr:\n{}",
            out.stderr
        );
        assert_error_format(&out.stderr);
        out
    }

    /// Runs gossip and expects a usage error: exit 2, one `gossip: …` line
    /// and a hint that points at the command's `--help`.
    pub fn usage(&self, args: &[&str], stdin: impl AsRef<[u8]>) -> Out {
        let out = self.run(args, stdin);
        assert_eq!(out.code, 2, "gossip {args:?}: stderr:\n{}", out.stderr);
        assert_usage_format(&out.stderr);
        assert!(out.stdout.is_empty());
        out
    }

    /// Runs gossip and expects clap to print help on stderr and exit 2
    /// (a command group given no subcommand).
    pub fn help_exit(&self, args: &[&str], stdin: impl AsRef<[u8]>) -> Out {
        let out = self.run(args, stdin);
        assert_eq!(out.code, 2, "gossip {args:?}: stderr:\n{}", out.stderr);
        assert!(
            out.stderr.contains("Usage: gossip"),
            "stderr:\n{}",
            out.stderr
        );
        assert!(out.stdout.is_empty());
        out
    }

    /// `gossip keygen -o NAME`; returns the address it printed.
    pub fn keygen(&self, name: &str) -> String {
        let out = self.ok(&["keygen", "-o", name], "");
        let addr = out
            .stderr
            .trim()
            .strip_prefix("address: ")
            .expect("keygen prints the address")
            .to_owned();
        assert_eq!(addr.len(), 64);
        addr
    }

    /// A 0600 key file holding a bare hex seed.
    pub fn seed_key(&self, name: &str, seed_hex: &str) -> PathBuf {
        let p = self.write(name, format!("{seed_hex}\n"));
        set_mode(&p, 0o600);
        p
    }
}

/// Runs a prepared command with `stdin`; never a panic.
pub fn run_cmd(mut cmd: Command, stdin: impl AsRef<[u8]>) -> Out {
    let output = cmd
        .write_stdin(stdin.as_ref().to_vec())
        .output()
        .expect("gossip runs");
    let out = Out {
        code: output.status.code().expect("exited, not killed"),
        stdout: output.stdout,
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    };
    assert_no_panic(&out.stderr);
    out
}

/// Runs `gossip args` under /usr/bin/time (when there) and returns the
/// outcome, the wall time and the peak RSS in KiB.
pub fn run_measured(
    env: &Env,
    args: &[String],
    stdin: &[u8],
) -> (Out, std::time::Duration, Option<u64>) {
    let time = Path::new("/usr/bin/time");
    let rss_file = env.path("rss.txt");
    let _ = std::fs::remove_file(&rss_file);
    let mut cmd = if time.exists() {
        let mut c = assert_cmd::Command::new(time);
        c.arg("-f").arg("%M").arg("-o").arg(&rss_file).arg(bin());
        c
    } else {
        assert_cmd::Command::new(bin())
    };
    cmd.current_dir(env.dir.path())
        .env_remove("GOSSIP_KEY")
        .env_remove("GOSSIP_NOW")
        .args(args);
    let start = std::time::Instant::now();
    let out = run_cmd(cmd, stdin);
    let took = start.elapsed();
    let rss = std::fs::read_to_string(&rss_file)
        .ok()
        .and_then(|s| s.lines().last().and_then(|l| l.trim().parse().ok()));
    (out, took, rss)
}

/// Sets a file's permission bits.
pub fn set_mode(p: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// A file's permission bits.
pub fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

/// One wire frame: 4-byte big-endian length, then the bytes.
pub fn frame(packed: &[u8]) -> Vec<u8> {
    let mut out = (packed.len() as u32).to_be_bytes().to_vec();
    out.extend_from_slice(packed);
    out
}

/// A bulletin JSON line made by `bulletin new` at a fixed ts.
pub fn bulletin_line(env: &Env, topic: &str, text: &str, ts: u32) -> String {
    env.ok(
        &[
            "bulletin",
            "new",
            "--topic",
            topic,
            "--ts",
            &ts.to_string(),
            text,
        ],
        "",
    )
    .text()
}

/// A bulletin "hi" on `topic` at `ts`, mined, signed by `key` to `to` at
/// `ts` (JSON line).
pub fn signed_bulletin(env: &Env, topic: &str, ts: u32, key: &str, to: &str) -> String {
    let b = env
        .ok(&["hashcash"], bulletin_line(env, topic, "hi", ts))
        .text();
    let now = ts.to_string();
    env.ok(&["sign", "-k", key, "--to", to, "--now", &now], &b)
        .text()
}

/// A 64-hex address that is a valid Ed25519 point (from a fixed seed).
pub fn fixed_address(env: &Env, seed_byte: u8) -> String {
    let name = format!("fixed{seed_byte}.key");
    env.seed_key(&name, &format!("{seed_byte:02x}").repeat(32));
    env.ok(&["address", "-k", &name], "")
        .text()
        .trim()
        .to_owned()
}

/// A vector field as a decimal string.
pub fn num(v: &Value) -> String {
    v.as_u64().expect("integer").to_string()
}

/// A gossip command whose stdin stays open, its stdout read by a thread as
/// it comes (each chunk one `read`).
pub struct Live {
    pub child: std::process::Child,
    stdin: Option<std::process::ChildStdin>,
    chunks: std::sync::mpsc::Receiver<Vec<u8>>,
}

/// How long a test waits for any one thing before it fails.
pub const PATIENCE: std::time::Duration = std::time::Duration::from_secs(120);

impl Live {
    /// Starts `gossip ARGS` in the scratch directory and writes `input`.
    pub fn start(env: &Env, args: &[&str], input: &str) -> Self {
        use std::io::{Read, Write};
        use std::process::{Command, Stdio};
        let mut child = Command::new(bin())
            .current_dir(env.dir.path())
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn gossip");
        let mut stdin = child.stdin.take().expect("stdin");
        stdin.write_all(input.as_bytes()).expect("write input");
        let mut stdout = child.stdout.take().expect("stdout");
        let (tx, chunks) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 1 << 20];
            while let Ok(n @ 1..) = stdout.read(&mut buf) {
                if tx.send(buf[..n].to_vec()).is_err() {
                    return;
                }
            }
        });
        Self {
            child,
            stdin: Some(stdin),
            chunks,
        }
    }

    /// The next chunk of stdout, failing after [`PATIENCE`].
    pub fn next_chunk(&self) -> Vec<u8> {
        self.chunks
            .recv_timeout(PATIENCE)
            .expect("no output in time")
    }

    /// Closes stdin (unless already), waits for the end and returns the
    /// exit code, the whole rest of stdout and stderr.
    pub fn finish(mut self) -> (Option<i32>, Vec<u8>, String) {
        use std::io::Read;
        drop(self.stdin.take());
        let mut rest = Vec::new();
        while let Ok(chunk) = self.chunks.recv_timeout(PATIENCE) {
            rest.extend(chunk);
        }
        let status = self.child.wait().expect("wait");
        let mut err = String::new();
        if let Some(mut e) = self.child.stderr.take() {
            let _ = e.read_to_string(&mut err);
        }
        (status.code(), rest, err)
    }
}
