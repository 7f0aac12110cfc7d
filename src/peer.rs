//! Who is on the other end of a control-plane connection, when mutual TLS says so.
//!
//! The listener verifies client certificates during the handshake (`--tls-client-ca`) and
//! puts the certificate's identity into every request of that connection; the config stream
//! then accepts the node on its certificate alone, and the fleet view names it by it.

use tonic::{Request, Status};

use crate::admin::auth::SecretCheck;

/// The identity of a verified client certificate: its first DNS name, else its common name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerIdentity(pub String);

/// Admission to the config stream: a verified client certificate, or else the node secret
/// (for deployments without mutual TLS).
#[derive(Clone)]
pub struct NodeAuth {
    pub secret: Option<SecretCheck>,
}

impl NodeAuth {
    pub fn check(&self, req: &Request<()>) -> Result<(), Status> {
        if req.extensions().get::<PeerIdentity>().is_some() {
            return Ok(());
        }
        match &self.secret {
            Some(secret) => secret.check(req.metadata(), req.remote_addr().map(|a| a.ip())),
            None => {
                Err(Status::unauthenticated("this control plane admits gateways by client certificate only"))
            }
        }
    }

    /// A tonic interceptor running [`NodeAuth::check`].
    pub fn interceptor(&self) -> impl FnMut(Request<()>) -> Result<Request<()>, Status> + Clone + use<> {
        let auth = self.clone();
        move |req: Request<()>| {
            auth.check(&req)?;
            Ok(req)
        }
    }
}
