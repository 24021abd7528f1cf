//! The diary writer: one thread applies every push, taking all the pushes waiting at that
//! moment as one group written in one atomic batch.
//!
//! When 200 devices push at once, their pushes queue while a group is being written and go
//! in together as the next group, so the cost of a write (sled's per-batch work, the lock,
//! the thread hand-offs) is paid per group rather than per push. Group commit
//! ([`GroupCommit`]) then makes each group durable with shared flushes.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;

use taperlog_core::clinical::MmeTable;
use taperlog_core::model::Entry;
use time::OffsetDateTime;
use tokio::sync::oneshot;
use uuid::Uuid;

use super::group_commit::GroupCommit;
use crate::store::{ChangeOutcome, PushToApply, ServerStore, StoreError};

/// Most changes written in one group: bounds the batch and the wait of its first push.
pub const MAX_GROUP_CHANGES: usize = 5_000;

/// What a push gets back: its outcomes (or its error) and the group-commit ticket of the
/// write that carried it.
type Reply = (Result<Vec<ChangeOutcome>, StoreError>, u64);

struct Job {
    patient: Uuid,
    changes: Vec<Entry>,
    received_at: OffsetDateTime,
    reply: oneshot::Sender<Reply>,
}

/// Hands pushes to the writer thread.
pub struct DiaryWriter {
    jobs: Option<mpsc::Sender<Job>>,
    groups: Arc<AtomicU64>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for DiaryWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DiaryWriter").finish_non_exhaustive()
    }
}

impl DiaryWriter {
    /// Starts the writer thread over `store`.
    pub fn start(
        store: Arc<ServerStore>,
        table: &'static MmeTable,
        commit: Arc<GroupCommit>,
    ) -> std::io::Result<DiaryWriter> {
        let (jobs, queue) = mpsc::channel::<Job>();
        let groups = Arc::new(AtomicU64::new(0));
        let counted = Arc::clone(&groups);
        let thread = std::thread::Builder::new()
            .name("diary-writer".into())
            .spawn(move || write_groups(&queue, &store, table, &commit, &counted))?;
        Ok(DiaryWriter {
            jobs: Some(jobs),
            groups,
            thread: Some(thread),
        })
    }

    /// How many groups were written (for benchmarks: pushes per group show the batching).
    pub fn group_count(&self) -> u64 {
        self.groups.load(Ordering::Relaxed)
    }

    /// Applies one patient's validated changes with the next group; returns their outcomes
    /// and the ticket to wait on for durability. The write happens even if the caller stops
    /// waiting (a client that hung up): the changes then count for the next flush.
    pub async fn apply(
        &self,
        patient: Uuid,
        changes: Vec<Entry>,
        received_at: OffsetDateTime,
    ) -> Result<(Vec<ChangeOutcome>, u64), StoreError> {
        let stopped = || StoreError::WriteFailed("the diary writer has stopped".into());
        let (reply, answer) = oneshot::channel();
        let job = Job {
            patient,
            changes,
            received_at,
            reply,
        };
        self.jobs
            .as_ref()
            .ok_or_else(stopped)?
            .send(job)
            .map_err(|_| stopped())?;
        let (outcomes, ticket) = answer.await.map_err(|_| stopped())?;
        Ok((outcomes?, ticket))
    }
}

impl Drop for DiaryWriter {
    fn drop(&mut self) {
        // Closing the queue ends the thread once it has written what was queued.
        self.jobs.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn write_groups(
    queue: &mpsc::Receiver<Job>,
    store: &ServerStore,
    table: &MmeTable,
    commit: &GroupCommit,
    groups: &AtomicU64,
) {
    while let Ok(first) = queue.recv() {
        let mut size = first.changes.len();
        let mut group = vec![first];
        while size < MAX_GROUP_CHANGES {
            match queue.try_recv() {
                Ok(job) => {
                    size += job.changes.len();
                    group.push(job);
                }
                Err(_) => break,
            }
        }
        let pushes: Vec<PushToApply<'_>> = group
            .iter()
            .map(|job| PushToApply {
                patient: job.patient,
                changes: &job.changes,
                received_at: job.received_at,
            })
            .collect();
        // A panic while applying (a bug, not bad input) fails this group's pushes, not the
        // writer: every later push would otherwise fail until a restart.
        let (written, ticket) = commit.write(|| {
            std::panic::catch_unwind(AssertUnwindSafe(|| store.apply_pushes(&pushes, table)))
                .unwrap_or_else(|_| {
                    tracing::error!("applying a group of pushes panicked; the group failed");
                    Err(StoreError::WriteFailed(
                        "applying the push failed unexpectedly".into(),
                    ))
                })
        });
        drop(pushes);
        groups.fetch_add(1, Ordering::Relaxed);
        match written {
            Ok(outcomes) => {
                for (job, outcome) in group.into_iter().zip(outcomes) {
                    let _ = job.reply.send((outcome, ticket));
                }
            }
            Err(error) => {
                let message = error.to_string();
                for job in group {
                    let _ = job
                        .reply
                        .send((Err(StoreError::WriteFailed(message.clone())), ticket));
                }
            }
        }
    }
}
