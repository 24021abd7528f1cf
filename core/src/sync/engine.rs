//! The client sync: push the outbox in batches until it is empty, then pull until the
//! server has nothing more (and push again what a clock jump had kept on the rejected
//! list). Each step is idempotent and leaves the store consistent.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use super::error::SyncError;
use super::session::Session;
use super::wire::{
    DEFAULT_PULL_LIMIT, MAX_PULL_LIMIT, MAX_PUSH_BYTES, MAX_PUSH_CHANGES, PullResponse,
    PushRequest, PushResponse,
};
use crate::model::{Entry, EntryId, Stamp};
use crate::store::{DeviceStore, Restamp};

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
    /// Changes the server refused as stamped too far ahead of its clock (this device's clock
    /// had run ahead), sent again under a fresh stamp once the clock was right; counted in
    /// `pushed` when the server took them.
    pub restamped: usize,
    /// Revisions sent again because the server had lost changes it had acknowledged
    /// (restored from an earlier backup, see [`DeviceStore::resend_all`]); counted in
    /// `pushed` when the server took them.
    pub resent: usize,
    /// How long it took.
    pub duration: Duration,
}

/// Whether a refusal may be about the change's `rev` being too far ahead of the server's
/// clock ([`crate::model::validate_rev_not_ahead`]): the device's clock, not the patient's
/// entry, was wrong, so a fresh stamp can fix it. Other refusals of the field (a malformed
/// stamp, which this device does not make) are told apart by
/// [`DeviceStore::restamp_refused`]: it sends a fresh stamp only if it is well below the
/// refused one.
fn may_be_clock_refusal(code: &str, field: Option<&str>) -> bool {
    code == VALIDATION_FAILED && field == Some("rev")
}

/// The error code of a change the server refused as invalid.
const VALIDATION_FAILED: &str = "validation_failed";

/// One sync under way.
struct Run<'a> {
    store: &'a DeviceStore,
    session: &'a Session,
    report: SyncReport,
    /// The latest `server_hlc`.
    server_hlc: Option<Stamp>,
    /// Entries given a fresh stamp in this sync. Each gets one at most, so a server that
    /// refuses the fresh stamp too cannot keep the sync going round.
    restamped: HashSet<EntryId>,
    /// Whether every revision was queued again in this sync, for a server that had lost
    /// changes (see [`DeviceStore::resend_all`]); once per sync.
    resent_all: bool,
}

impl Run<'_> {
    /// Gives a change refused for its stamp a fresh one if the wall clock allows; returns
    /// whether it did.
    fn restamp(&mut self, id: EntryId, rev: &Stamp, server_hlc: &Stamp) -> Result<bool, SyncError> {
        if self.restamped.contains(&id) {
            return Ok(false);
        }
        match self.store.restamp_refused(id, rev, server_hlc)? {
            Restamp::Restamped(_) => {
                self.restamped.insert(id);
                self.report.restamped += 1;
                Ok(true)
            }
            Restamp::Moot | Restamp::WallClockAhead => Ok(false),
        }
    }

    /// Settles one push answer in the store; returns how many sent changes it settled
    /// (acknowledged, rejected or sent again under a fresh stamp).
    fn settle(
        &mut self,
        sent: &[(EntryId, Stamp)],
        answer: &PushResponse,
    ) -> Result<usize, SyncError> {
        let accepted: Vec<(EntryId, Stamp)> = answer
            .accepted
            .iter()
            .map(|a| (a.id, a.rev.clone()))
            .collect();
        self.store
            .acknowledge_at(&accepted, answer.log_position.as_deref())?;
        self.report.pushed += accepted.len();
        let mut settled = accepted.len();
        for refusal in &answer.rejected {
            // Match by what we sent: a refusal we cannot place was not about one of our changes.
            let Some((id, rev)) = sent.iter().find(|(id, rev)| {
                refusal.id.as_deref() == Some(id.to_string().as_str())
                    && refusal.rev.as_deref() == Some(rev.to_string().as_str())
            }) else {
                continue;
            };
            let error = &refusal.error;
            if may_be_clock_refusal(&error.code, error.field.as_deref())
                && self.restamp(*id, rev, &answer.server_hlc)?
            {
                settled += 1;
                continue;
            }
            // Settled either way: a refusal of a revision edited since is moot.
            settled += 1;
            if self.store.reject(
                *id,
                rev,
                &error.code,
                &error.message,
                error.field.as_deref(),
            )? {
                self.report.rejected += 1;
            }
        }
        self.note_server_hlc(&answer.server_hlc)?;
        Ok(settled)
    }

    fn note_server_hlc(&mut self, server_hlc: &Stamp) -> Result<(), SyncError> {
        self.store.merge_clock(server_hlc)?;
        self.server_hlc = Some(server_hlc.clone());
        Ok(())
    }

    fn push_all(&mut self, batch: usize) -> Result<(), SyncError> {
        // Each round settles at least one change it sends, so the outbox shrinks unless the
        // app keeps writing: one round per pending change and a few more always suffice,
        // however batches are cut by size. The bound stops a server that answers without
        // settling anything. A round that sends changes again under fresh stamps earns one
        // more, and so does a push the server found too large (halved, at most ~10 times).
        let mut rounds_left = self.store.pending_count() + 16;
        let mut batch = batch;
        loop {
            let changes = self.store.pending_changes(batch)?;
            if changes.is_empty() {
                return Ok(());
            }
            if rounds_left == 0 {
                return Err(SyncError::Protocol(
                    "pushes are not emptying the outbox".into(),
                ));
            }
            rounds_left -= 1;
            let (body, sent) = push_body(&self.store.device_id().to_string(), &changes)?;
            let answer: PushResponse = match self.session.call("POST", "/v1/sync/push", body) {
                // A server with a smaller body limit than this core's: smaller pushes, rather
                // than the same refused one on every sync.
                Err(SyncError::Server { status: 413, .. }) if sent.len() > 1 => {
                    batch = sent.len() / 2;
                    rounds_left += 1;
                    continue;
                }
                other => other?,
            };
            let restamped_before = self.report.restamped;
            if self.settle(&sent, &answer)? == 0 {
                return Err(SyncError::Protocol(
                    "the server settled none of the pushed changes".into(),
                ));
            }
            if self.report.restamped > restamped_before {
                rounds_left += 1;
            }
        }
    }

    fn pull_all(&mut self, limit: usize) -> Result<(), SyncError> {
        loop {
            let cursor = self.store.cursor()?;
            let acked = self.store.acked_position()?;
            let mut path = format!("/v1/sync/pull?limit={limit}");
            if let Some(cursor) = &cursor {
                path.push_str(&format!("&since={}", encode_query(cursor)));
            }
            if let Some(acked) = &acked {
                path.push_str(&format!("&acked={}", encode_query(acked)));
            }
            let answer: PullResponse = match self.session.call("GET", &path, Vec::new()) {
                // The server's change log is not the one this device read or was
                // acknowledged by: it was restored from an earlier backup and lost changes it
                // had acknowledged. It gets back all this device holds, and its log is read
                // again from the beginning.
                Err(SyncError::Server { status: 409, .. })
                    if (cursor.is_some() || acked.is_some()) && !self.resent_all =>
                {
                    self.report.resent += self.store.resend_all()?;
                    self.resent_all = true;
                    continue;
                }
                other => other?,
            };
            self.report.pulled += self.store.apply_pulled(&answer.changes, &answer.cursor)?;
            self.note_server_hlc(&answer.server_hlc)?;
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

    /// Gives the changes on the rejected list that were refused only for their stamp (in an
    /// earlier sync, while the wall clock was still ahead) a fresh one; returns how many.
    fn restamp_rejected(&mut self) -> Result<usize, SyncError> {
        let Some(server_hlc) = self.server_hlc.clone() else {
            return Ok(0);
        };
        let mut restamped = 0;
        for rejection in self.store.rejected()? {
            if may_be_clock_refusal(&rejection.code, rejection.field.as_deref())
                && self.restamp(rejection.entry.id, &rejection.entry.rev, &server_hlc)?
            {
                restamped += 1;
            }
        }
        Ok(restamped)
    }
}

/// The (id, rev) of each change a push sent, in order.
type SentChanges = Vec<(EntryId, Stamp)>;

/// The body of a push of the longest prefix of `changes` that fits in [`MAX_PUSH_BYTES`]
/// (at least one change: a valid entry is far smaller), and the (id, rev) of those sent.
/// Long notes can fill the limit with far fewer than [`MAX_PUSH_CHANGES`] changes.
fn push_body(device_id: &str, changes: &[Entry]) -> Result<(Vec<u8>, SentChanges), SyncError> {
    let encode = |request: &PushRequest| {
        serde_json::to_vec(request).map_err(|e| SyncError::Protocol(e.to_string()))
    };
    let mut request = PushRequest {
        device_id: device_id.to_string(),
        changes: Vec::new(),
    };
    let mut size = encode(&request)?.len();
    let mut sent = Vec::new();
    for change in changes {
        let json = change.to_json();
        // The change, and the comma before it from the second one on.
        let added = serde_json::to_vec(&json)
            .map_err(|e| SyncError::Protocol(e.to_string()))?
            .len()
            + usize::from(!sent.is_empty());
        if !sent.is_empty() && size + added > MAX_PUSH_BYTES {
            break;
        }
        size += added;
        request.changes.push(json);
        sent.push((change.id, change.rev.clone()));
    }
    let body = encode(&request)?;
    debug_assert_eq!(body.len(), size);
    Ok((body, sent))
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
///
/// A change refused because this device's clock had run more than a day ahead is sent again
/// under a fresh stamp once the wall clock is right (see [`DeviceStore::restamp_refused`]),
/// in this sync or the first one after the clock was put right.
pub fn sync(
    store: &DeviceStore,
    session: &Session,
    options: &SyncOptions,
) -> Result<SyncReport, SyncError> {
    let started = Instant::now();
    if let Some(patient) = session.tokens().and_then(|tokens| tokens.patient_id)
        && !store.bind_patient(&patient)?
    {
        return Err(SyncError::OtherPatient);
    }
    let batch = options.push_batch.clamp(1, MAX_PUSH_CHANGES);
    let mut run = Run {
        store,
        session,
        report: SyncReport::default(),
        server_hlc: None,
        restamped: HashSet::new(),
        resent_all: false,
    };
    run.push_all(batch)?;
    run.pull_all(options.pull_limit.clamp(1, MAX_PULL_LIMIT))?;
    if run.restamp_rejected()? > 0 || run.resent_all {
        run.push_all(batch)?;
    }
    run.report.duration = started.elapsed();
    Ok(run.report)
}

#[cfg(test)]
#[path = "engine_tests.rs"]
mod tests;
