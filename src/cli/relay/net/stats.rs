//! Where an operator reads the relay's counters: the `--metrics` file.
//! The text is the library's ([`gossip::net::prometheus`]).

use std::path::Path;

/// Writes the Prometheus file whole, mode 0644 (metrics are not secret, and
/// the collector may run as another user): to a new temporary file beside
/// it, then renamed over it, so the collector never reads half a file. The
/// temporary has a name no one can guess and is created exclusively
/// (`O_EXCL`, `O_NOFOLLOW`), so a file or link planted beside FILE is never
/// written through; the rename replaces FILE itself, even a link.
pub fn write_metrics(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(
        ".{}.{:016x}.tmp",
        std::process::id(),
        rand::random::<u64>()
    ));
    let tmp = std::path::PathBuf::from(tmp);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o644)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&tmp)?;
    let written = file
        .set_permissions(std::fs::Permissions::from_mode(0o644))
        .and_then(|()| file.write_all(text.as_bytes()))
        .and_then(|()| std::fs::rename(&tmp, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}
