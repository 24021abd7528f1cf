//! The sync protocol: wire types, the transport trait the platforms implement, the
//! authenticated session, and the client engine that pushes the outbox and pulls changes.
//!
//! The core performs the protocol; the platform performs the HTTP ([`HttpTransport`]).
//! Every step is idempotent, so a sync interrupted anywhere is finished by the next one.

mod engine;
mod error;
mod retry;
mod session;
mod transport;
mod ureq_transport;
mod wire;

pub use engine::{SyncOptions, SyncReport, sync};
pub use error::SyncError;
pub use retry::RetryPolicy;
pub use session::{Session, Tokens};
pub use transport::{HttpRequest, HttpResponse, HttpTransport, TransportError};
pub use ureq_transport::UreqTransport;
pub use wire::{
    Accepted, DEFAULT_PULL_LIMIT, EnrollRequest, ErrorBody, ErrorEnvelope, LoginRequest,
    MAX_PULL_LIMIT, MAX_PUSH_BYTES, MAX_PUSH_CHANGES, PullResponse, PushRequest, PushResponse,
    RefreshRequest, Rejected, TokenResponse,
};
