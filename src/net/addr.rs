//! Where a handle listens and what it dials: `HOST:PORT` (TCP) or
//! `unix:PATH` (a Unix-domain socket).

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use super::NetError;

/// A socket address in one of the two forms a handle takes: `HOST:PORT`
/// for TCP (a name or an IP; `[::1]:7000` for IPv6) or `unix:PATH` for a
/// Unix-domain socket.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum NetAddr {
    /// TCP, `HOST:PORT` (resolved when dialed or bound).
    Tcp(String),
    /// A Unix-domain stream socket at this path.
    Unix(PathBuf),
}

impl FromStr for NetAddr {
    type Err = NetError;

    fn from_str(text: &str) -> Result<Self, NetError> {
        let bad = |why: &str| NetError::Address {
            addr: text.to_string(),
            why: why.to_string(),
        };
        if let Some(path) = text.strip_prefix("unix:") {
            if path.is_empty() {
                return Err(bad("unix: needs a path"));
            }
            return Ok(Self::Unix(PathBuf::from(path)));
        }
        let (host, port) = text
            .rsplit_once(':')
            .ok_or_else(|| bad("expected HOST:PORT or unix:PATH"))?;
        if host.is_empty() {
            return Err(bad("no host before the port"));
        }
        port.parse::<u16>()
            .map_err(|_| bad("the port is not a number in 0..=65535"))?;
        Ok(Self::Tcp(text.to_string()))
    }
}

impl fmt::Display for NetAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Tcp(host) => f.write_str(host),
            Self::Unix(path) => write!(f, "unix:{}", path.display()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_forms_parse_and_print_back() {
        for text in [
            "127.0.0.1:7000",
            "[::1]:0",
            "example.org:443",
            "unix:/tmp/g.sock",
        ] {
            assert_eq!(text.parse::<NetAddr>().unwrap().to_string(), text);
        }
        assert_eq!(
            "unix:rel/g.sock".parse::<NetAddr>().unwrap(),
            NetAddr::Unix(PathBuf::from("rel/g.sock"))
        );
    }

    #[test]
    fn malformed_addresses_say_why() {
        for text in [
            "",
            "7000",
            "host",
            ":7000",
            "host:port",
            "host:70000",
            "unix:",
        ] {
            let err = text.parse::<NetAddr>().unwrap_err();
            assert!(matches!(err, NetError::Address { .. }), "{text}: {err}");
        }
    }
}
