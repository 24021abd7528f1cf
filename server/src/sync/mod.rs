//! The server side of sync: validating and applying pushed changes, serving pulls, the
//! server's own hybrid logical clock, and group commit of the flushes behind acknowledgements.

mod group_commit;
mod service;

pub use group_commit::GroupCommit;
pub use service::{PullQuery, SyncError, SyncService};
