//! The client sync: push the outbox in batches until it is empty, then pull until the
//! server has nothing more. Each step is idempotent and leaves the store consistent.

use std::time::{Duration, Instant};

use super::error::SyncError;
use super::session::Session;
use super::wire::{
    DEFAULT_PULL_LIMIT, MAX_PULL_LIMIT, MAX_PUSH_CHANGES, PullResponse, PushRequest, PushResponse,
};
use crate::model::{EntryId, Stamp};
use crate::store::DeviceStore;

/// How a sync runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyncOptions {
    /// Changes per push (at most [`MAX_PUSH_CHANGES`]).
    pub push_batch: usize,
    /// Changes per pull (at most [`MAX_PULL_LIMIT`]).
    pub pull_limit: usize,
}

impl Default for SyncOptions {
    fn default() -> Self {
        SyncOptions {
            push_batch: MAX_PUSH_CHANGES,
            pull_limit: DEFAULT_PULL_LIMIT,
        }
    }
}

/// What a sync did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SyncReport {
    /// Changes the server acknowledged.
    pub pushed: usize,
    /// Changes pulled from the server that replaced a local revision.
    pub pulled: usize,
    /// Changes the server refused, now on the rejected list.
    pub rejected: usize,
    /// How long it took.
    pub duration: Duration,
}

/// Settles one push answer in the store; returns (acknowledged, rejected).
fn settle(
    store: &DeviceStore,
    sent: &[(EntryId, Stamp)],
    answer: &PushResponse,
) -> Result<(usize, usize), SyncError> {
    let accepted: Vec<(EntryId, Stamp)> = answer
        .accepted
        .iter()
        .map(|a| (a.id, a.rev.clone()))
        .collect();
    store.acknowledge(&accepted)?;
    let mut rejected = 0;
    for refusal in &answer.rejected {
        // Match by what we sent: a refusal we cannot place was not about one of our changes.
        let Some((id, rev)) = sent.iter().find(|(id, rev)| {
            refusal.id.as_deref() == Some(id.to_string().as_str())
                && refusal.rev.as_deref() == Some(rev.to_string().as_str())
        }) else {
            continue;
        };
        let error = &refusal.error;
        if store.reject(
            *id,
            rev,
            &error.code,
            &error.message,
            error.field.as_deref(),
        )? {
            rejected += 1;
        }
    }
    store.merge_clock(&answer.server_hlc)?;
    Ok((accepted.len(), rejected))
}

fn push_all(
    store: &DeviceStore,
    session: &Session,
    batch: usize,
    report: &mut SyncReport,
) -> Result<(), SyncError> {
    // Each round settles every change it sends, so the outbox shrinks unless the app keeps
    // writing; the bound stops a server that answers without settling anything.
    let mut rounds_left = store.pending_count() / batch + 16;
    loop {
        let changes = store.pending_changes(batch)?;
        if changes.is_empty() {
            return Ok(());
        }
        if rounds_left == 0 {
            return Err(SyncError::Protocol(
                "pushes are not emptying the outbox".into(),
            ));
        }
        rounds_left -= 1;
        let sent: Vec<(EntryId, Stamp)> = changes.iter().map(|c| (c.id, c.rev.clone())).collect();
        let request = PushRequest {
            device_id: store.device_id().to_string(),
            changes: changes.iter().map(|c| c.to_json()).collect(),
        };
        let body = serde_json::to_vec(&request).map_err(|e| SyncError::Protocol(e.to_string()))?;
        let answer: PushResponse = session.call("POST", "/v1/sync/push", body)?;
        let (pushed, rejected) = settle(store, &sent, &answer)?;
        if pushed + rejected == 0 {
            return Err(SyncError::Protocol(
                "the server settled none of the pushed changes".into(),
            ));
        }
        report.pushed += pushed;
        report.rejected += rejected;
    }
}

fn pull_all(
    store: &DeviceStore,
    session: &Session,
    limit: usize,
    report: &mut SyncReport,
) -> Result<(), SyncError> {
    loop {
        let path = match store.cursor()? {
            Some(cursor) => format!(
                "/v1/sync/pull?since={}&limit={limit}",
                encode_query(&cursor)
            ),
            None => format!("/v1/sync/pull?limit={limit}"),
        };
        let answer: PullResponse = session.call("GET", &path, Vec::new())?;
        report.pulled += store.apply_pulled(&answer.changes, &answer.cursor)?;
        store.merge_clock(&answer.server_hlc)?;
        if !answer.more {
            return Ok(());
        }
        if answer.changes.is_empty() {
            return Err(SyncError::Protocol(
                "the server said more but sent nothing".into(),
            ));
        }
    }
}

/// Percent-encodes a cursor for a query string (cursors are opaque).
fn encode_query(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

/// Pushes the outbox, then pulls everything new. Any failure leaves the store consistent
/// (acknowledged changes settled, pulled batches applied with their cursor) and the next
/// sync finishes the job.
pub fn sync(
    store: &DeviceStore,
    session: &Session,
    options: &SyncOptions,
) -> Result<SyncReport, SyncError> {
    let started = Instant::now();
    let mut report = SyncReport::default();
    push_all(
        store,
        session,
        options.push_batch.clamp(1, MAX_PUSH_CHANGES),
        &mut report,
    )?;
    pull_all(
        store,
        session,
        options.pull_limit.clamp(1, MAX_PULL_LIMIT),
        &mut report,
    )?;
    report.duration = started.elapsed();
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_are_percent_encoded() {
        assert_eq!(encode_query("abc-1_2.~"), "abc-1_2.~");
        assert_eq!(encode_query("a+b/c=d"), "a%2Bb%2Fc%3Dd");
    }
}
