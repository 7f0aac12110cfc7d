//! A request body that must end by a deadline, for bodies a framework reads for us (tonic's
//! gRPC messages): past the deadline, the next poll fails instead of waiting for more.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use std::future::Future as _;
use tokio::time::Sleep;

use super::Role;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

pub struct Deadline<B> {
    body: B,
    expires: Pin<Box<Sleep>>,
    role: Role,
}

impl<B> Deadline<B> {
    pub fn new(body: B, within: Duration, role: Role) -> Self {
        Self { body, expires: Box::pin(tokio::time::sleep(within)), role }
    }
}

impl<B> Body for Deadline<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        if let Poll::Ready(frame) = Pin::new(&mut self.body).poll_frame(cx) {
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        match self.expires.as_mut().poll(cx) {
            Poll::Ready(()) => {
                gatehouse_telemetry::metrics::connections::timed_out(self.role, "body");
                let error =
                    std::io::Error::new(std::io::ErrorKind::TimedOut, "request body not received in time");
                Poll::Ready(Some(Err(error.into())))
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use http_body_util::{BodyExt as _, StreamBody};

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_body_that_stalls_fails_at_the_deadline() {
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<Frame<Bytes>, std::io::Error>>(1);
        tx.send(Ok(Frame::data(Bytes::from_static(b"half")))).await.unwrap();
        let body = StreamBody::new(tokio_stream_from(rx));
        let start = tokio::time::Instant::now();
        let result = Deadline::new(body, Duration::from_secs(10), "control_plane").collect().await;
        assert!(result.is_err());
        assert_eq!(start.elapsed(), Duration::from_secs(10));
        drop(tx);
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_that_ends_in_time_is_unchanged() {
        let body = http_body_util::Full::new(Bytes::from_static(b"whole"));
        let collected =
            Deadline::new(body, Duration::from_secs(10), "control_plane").collect().await.unwrap();
        assert_eq!(collected.to_bytes(), Bytes::from_static(b"whole"));
    }

    fn tokio_stream_from<T>(
        mut rx: tokio::sync::mpsc::Receiver<T>,
    ) -> impl futures_util::Stream<Item = T> + Unpin {
        Box::pin(futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx)))
    }
}
