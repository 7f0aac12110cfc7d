//! A stream that reports every read which brought bytes, and passes writes straight through.
//!
//! The connection watchdog (request heads arriving) and the upgrade tunnel (its idle timeout)
//! both need "something arrived" without owning the read loop, so both wrap the stream in an
//! [`Observed`] and differ only in what the [`ReadObserver`] records.

use std::io::IoSlice;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Told about each read that returned at least one byte; called on the read path, so it must
/// be cheap (an atomic store, not a timer reset).
pub trait ReadObserver {
    fn bytes_read(&self);
}

/// `io` with each non-empty read reported to `observer`.
pub struct Observed<T, O> {
    io: T,
    observer: O,
}

impl<T, O> Observed<T, O> {
    pub fn new(io: T, observer: O) -> Self {
        Self { io, observer }
    }
}

impl<T: AsyncRead + Unpin, O: ReadObserver + Unpin> AsyncRead for Observed<T, O> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.io).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.observer.bytes_read();
        }
        polled
    }
}

impl<T: AsyncWrite + Unpin, O: Unpin> AsyncWrite for Observed<T, O> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use tokio::io::{AsyncReadExt, AsyncWriteExt, duplex};

    use super::*;

    #[derive(Default)]
    struct Count(AtomicUsize);

    impl ReadObserver for &Count {
        fn bytes_read(&self) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    #[tokio::test]
    async fn reads_with_bytes_are_reported_and_end_of_stream_is_not() {
        let count = Count::default();
        let (near, mut far) = duplex(64);
        let mut observed = Observed::new(near, &count);
        far.write_all(b"abc").await.unwrap();
        let mut buf = [0u8; 8];
        assert_eq!(observed.read(&mut buf).await.unwrap(), 3);
        assert_eq!(count.0.load(Ordering::Relaxed), 1);
        observed.write_all(b"xy").await.unwrap();
        assert_eq!(count.0.load(Ordering::Relaxed), 1, "writes are not reads");
        drop(far);
        assert_eq!(observed.read(&mut buf).await.unwrap(), 0);
        assert_eq!(count.0.load(Ordering::Relaxed), 1, "end of stream brought no bytes");
    }
}
