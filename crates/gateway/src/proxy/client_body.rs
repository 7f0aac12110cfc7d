//! The client's request body on its way upstream, with its failures told apart from the
//! upstream's: a broken chunked encoding or a client that hangs up mid-upload is the client's
//! fault (400), not an upstream error (502).

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;

/// The inbound body, forwarded as is; only its error type changes.
pub struct ClientBody(Incoming);

impl ClientBody {
    pub fn new(body: Incoming) -> Self {
        Self(body)
    }
}

/// Reading the client's body failed (malformed framing, connection closed early).
#[derive(Debug, thiserror::Error)]
#[error("reading the client's request body failed")]
pub struct ClientBodyError(#[source] hyper::Error);

impl Body for ClientBody {
    type Data = Bytes;
    type Error = ClientBodyError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, ClientBodyError>>> {
        Pin::new(&mut self.0).poll_frame(cx).map_err(ClientBodyError)
    }

    fn is_end_stream(&self) -> bool {
        self.0.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.0.size_hint()
    }
}
