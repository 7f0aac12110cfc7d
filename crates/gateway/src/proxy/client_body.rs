//! The client's request body on its way upstream, with its failures told apart from the
//! upstream's: a broken chunked encoding or a client that hangs up mid-upload is the client's
//! fault (400), not an upstream error (502); a client that stops sending mid-body meets an idle
//! timeout (408), so a stalled upload cannot hold an upstream connection for as long as the
//! client likes.

use std::future::Future as _;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use tokio::time::{Instant, Sleep};

/// The inbound body, forwarded as is; its error type changes, and it ends in an error when no
/// frame arrives for the idle timeout.
pub struct ClientBody {
    body: Incoming,
    /// `None` for a request without a body: nothing to wait for, so no timer.
    idle: Option<IdleTimer>,
}

/// The time between two frames of the client's body.
struct IdleTimer {
    timeout: Duration,
    /// Boxed because the pooled client wants an `Unpin` body; made on the first poll, so that
    /// the time spent connecting to the upstream (the body is not read meanwhile) is not taken
    /// for the client's silence.
    sleep: Option<Pin<Box<Sleep>>>,
}

impl ClientBody {
    /// `idle_timeout`: the longest wait for the next frame of the body.
    pub fn new(body: Incoming, idle_timeout: Duration) -> Self {
        let idle = (!body.is_end_stream()).then_some(IdleTimer { timeout: idle_timeout, sleep: None });
        Self { body, idle }
    }
}

/// Reading the client's body failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientBodyError {
    /// Malformed framing, or the connection closed early.
    #[error("reading the client's request body failed")]
    Read(#[source] hyper::Error),
    /// The client sent nothing for this long in the middle of its body.
    #[error("no request body data for {0:?}")]
    Idle(Duration),
}

impl Body for ClientBody {
    type Data = Bytes;
    type Error = ClientBodyError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, ClientBodyError>>> {
        let this = self.get_mut();
        match Pin::new(&mut this.body).poll_frame(cx) {
            Poll::Ready(Some(frame)) => {
                if let Some(IdleTimer { timeout, sleep: Some(sleep) }) = &mut this.idle {
                    sleep.as_mut().reset(Instant::now() + *timeout);
                }
                Poll::Ready(Some(frame.map_err(ClientBodyError::Read)))
            }
            Poll::Ready(None) => {
                this.idle = None;
                Poll::Ready(None)
            }
            Poll::Pending => {
                let Some(idle) = &mut this.idle else { return Poll::Pending };
                let timeout = idle.timeout;
                let sleep = idle.sleep.get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
                if sleep.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                // Reported once: the request ends with this error, whether or not the upstream
                // had answered already.
                this.idle = None;
                gatehouse_telemetry::metrics::connections::timed_out("gateway", "body");
                Poll::Ready(Some(Err(ClientBodyError::Idle(timeout))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
