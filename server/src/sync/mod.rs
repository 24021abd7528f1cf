//! The server side of sync: validating and applying pushed changes, serving pulls, the
//! server's own hybrid logical clock, and group commit of the flushes behind acknowledgements.

mod cursor;
mod group_commit;
mod service;
mod writer;

pub use cursor::Cursor;
pub use group_commit::GroupCommit;
pub use service::{PullQuery, ReadPush, SyncError, SyncService, read_push};
pub use writer::{DiaryWriter, MAX_GROUP_CHANGES};
