//! Taperlog's shared core: everything the phone and the server must agree on.
//!
//! - [`model`]: diary entries, their wire form, validation and the hybrid logical clock.
//! - [`clinical`]: the medication catalogue, versioned MME tables and the scales (NRS, PEG, SOWS).
//! - [`summary`]: daily summaries, trends, flags and follow-up windows, computed once here
//!   for both the phone and the server.
//! - [`store`]: the device's diary on sled.
//! - [`sync`]: the sync protocol's wire types, the transport trait and the client engine.
//!
//! The core has no async runtime and no HTTP server; platforms bring their own HTTP through
//! [`sync::HttpTransport`].

pub mod clinical;
pub mod model;
pub mod store;
pub mod summary;
pub mod sync;
