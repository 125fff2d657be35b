//! The stream transports under a handle: one small trait, [`Transport`],
//! and its two implementations, [`Tcp`] and [`Unix`]. A transport binds,
//! accepts and dials; what flows over its streams (length-delimited
//! frames) is the same whatever it is.

use std::future::Future;
use std::io;

use tokio::io::{AsyncRead, AsyncWrite};

use super::NetAddr;

/// A byte stream a connection runs over, whatever the transport.
pub(crate) trait Io: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Io for T {}

/// A stream transport: it listens on, accepts from and dials addresses of
/// its own form. A connection is a reliable, ordered byte stream both
/// ways; framing, identification and bounds are the handle's.
pub trait Transport: Send + Sync + 'static {
    /// A connected stream.
    type Stream: AsyncRead + AsyncWrite + Send + Unpin + 'static;
    /// A bound listener.
    type Listener: Send + 'static;

    /// Binds a listener at `addr`; returns it with the address it is bound
    /// to (a TCP port 0 becomes the port given).
    fn listen(
        &self,
        addr: &NetAddr,
    ) -> impl Future<Output = io::Result<(Self::Listener, NetAddr)>> + Send;

    /// The next connection to `listener`, and a description of the remote
    /// end for logs.
    fn accept(
        &self,
        listener: &mut Self::Listener,
    ) -> impl Future<Output = io::Result<(Self::Stream, String)>> + Send;

    /// Dials `addr`; returns the stream and a description of the remote
    /// end for logs.
    fn dial(
        &self,
        addr: &NetAddr,
    ) -> impl Future<Output = io::Result<(Self::Stream, String)>> + Send;
}

fn wrong_form(addr: &NetAddr, want: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("{addr} is not a {want} address"),
    )
}

/// TCP, addresses `HOST:PORT`. Nagle's algorithm is off: frames are
/// written whole and flushed.
#[derive(Clone, Copy, Debug, Default)]
pub struct Tcp;

impl Transport for Tcp {
    type Stream = tokio::net::TcpStream;
    type Listener = tokio::net::TcpListener;

    async fn listen(&self, addr: &NetAddr) -> io::Result<(Self::Listener, NetAddr)> {
        let NetAddr::Tcp(host) = addr else {
            return Err(wrong_form(addr, "TCP"));
        };
        let listener = tokio::net::TcpListener::bind(host.as_str()).await?;
        let bound = NetAddr::Tcp(listener.local_addr()?.to_string());
        Ok((listener, bound))
    }

    async fn accept(&self, listener: &mut Self::Listener) -> io::Result<(Self::Stream, String)> {
        let (stream, remote) = listener.accept().await?;
        stream.set_nodelay(true)?;
        Ok((stream, remote.to_string()))
    }

    async fn dial(&self, addr: &NetAddr) -> io::Result<(Self::Stream, String)> {
        let NetAddr::Tcp(host) = addr else {
            return Err(wrong_form(addr, "TCP"));
        };
        let stream = tokio::net::TcpStream::connect(host.as_str()).await?;
        stream.set_nodelay(true)?;
        let remote = stream.peer_addr()?.to_string();
        Ok((stream, remote))
    }
}

/// Unix-domain stream sockets, addresses `unix:PATH`. A listener's socket
/// file is removed when the handle shuts down; binding fails while a file
/// is at the path (a live socket or a stale one: the caller decides).
#[cfg(unix)]
#[derive(Clone, Copy, Debug, Default)]
pub struct Unix;

#[cfg(unix)]
impl Transport for Unix {
    type Stream = tokio::net::UnixStream;
    type Listener = tokio::net::UnixListener;

    async fn listen(&self, addr: &NetAddr) -> io::Result<(Self::Listener, NetAddr)> {
        let NetAddr::Unix(path) = addr else {
            return Err(wrong_form(addr, "Unix-socket"));
        };
        Ok((tokio::net::UnixListener::bind(path)?, addr.clone()))
    }

    async fn accept(&self, listener: &mut Self::Listener) -> io::Result<(Self::Stream, String)> {
        let (stream, _) = listener.accept().await?;
        // A Unix peer has no address of its own; the socket's path says
        // where it came in.
        let at = listener.local_addr()?;
        let path = at.as_pathname().map(|p| p.display().to_string());
        Ok((stream, format!("unix:{}", path.unwrap_or_default())))
    }

    async fn dial(&self, addr: &NetAddr) -> io::Result<(Self::Stream, String)> {
        let NetAddr::Unix(path) = addr else {
            return Err(wrong_form(addr, "Unix-socket"));
        };
        let stream = tokio::net::UnixStream::connect(path).await?;
        Ok((stream, addr.to_string()))
    }
}
