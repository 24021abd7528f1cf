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
        // Each round settles every change it sends, so the outbox shrinks unless the app keeps
        // writing; the bound stops a server that answers without settling anything. A round
        // that sends changes again under fresh stamps earns one more, and so does a round the
        // server found too large.
        // Every round settles at least one change (or halves a refused push), so one round
        // per pending change, and a few more, always suffice: batches may be cut by size.
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
mod tests {
    use super::*;
    use crate::store::test_util::{ManualClock, NOON_MILLIS, note, open, pain};
    use crate::sync::{HttpRequest, HttpResponse, HttpTransport, Tokens, TransportError};
    use std::sync::Arc;
    use time::macros::datetime;

    /// A server that refuses every change for its `rev`, whatever the stamp.
    struct RefusesEveryRev;

    impl HttpTransport for RefusesEveryRev {
        fn send(&self, request: HttpRequest) -> Result<HttpResponse, TransportError> {
            let server_hlc = format!("{NOON_MILLIS:012x}-0000-server");
            let body = if request.method == "POST" {
                let push: serde_json::Value = serde_json::from_slice(&request.body).unwrap();
                let rejected: Vec<serde_json::Value> = push["changes"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|c| {
                        serde_json::json!({"id": c["id"], "rev": c["rev"], "error": {
                            "code": "validation_failed", "field": "rev", "message": "no"}})
                    })
                    .collect();
                serde_json::json!({"accepted": [], "rejected": rejected, "server_hlc": server_hlc})
            } else {
                serde_json::json!({"changes": [], "cursor": "0", "more": false, "server_hlc": server_hlc})
            };
            Ok(HttpResponse {
                status: 200,
                headers: vec![("content-type".into(), "application/json".into())],
                body: serde_json::to_vec(&body).unwrap(),
            })
        }
    }

    #[test]
    fn a_fresh_stamp_refused_again_ends_on_the_rejected_list_and_is_not_resent_every_sync() {
        let dir = tempfile::tempdir().unwrap();
        let clock = ManualClock::at(NOON_MILLIS + 3 * 86_400_000);
        let store = open(dir.path(), clock.clone());
        let entry = store
            .record(datetime!(2026-11-22 08:00 UTC), pain(4))
            .unwrap();
        clock.set(NOON_MILLIS);
        let session = logged_in(Arc::new(RefusesEveryRev), "p1");
        let report = sync(&store, &session, &SyncOptions::default()).unwrap();
        assert_eq!(
            (report.pushed, report.rejected, report.restamped),
            (0, 1, 1)
        );
        let refused = store.rejected().unwrap();
        assert_eq!(refused.len(), 1);
        assert!(
            refused[0].entry.rev < entry.rev,
            "the fresh stamp was refused"
        );
        assert_eq!(store.pending_count(), 0);
        // The refused stamp is already as early as this device can make: no resending.
        let report = sync(&store, &session, &SyncOptions::default()).unwrap();
        assert_eq!(
            (report.pushed, report.rejected, report.restamped),
            (0, 0, 0)
        );
        assert_eq!(store.rejected().unwrap().len(), 1);
    }

    /// A server that takes every change of a push whose body fits in `limit` bytes and
    /// answers a larger one 413, as the real one does; it notes (bytes, changes) of each push
    /// it took, and how many it refused.
    struct BodyLimited {
        limit: usize,
        taken: std::sync::Mutex<Vec<(usize, usize)>>,
        refused: std::sync::atomic::AtomicUsize,
    }

    impl HttpTransport for BodyLimited {
        fn send(&self, request: HttpRequest) -> Result<HttpResponse, TransportError> {
            let server_hlc = format!("{NOON_MILLIS:012x}-0000-server");
            let (status, body) = if request.method != "POST" {
                let body = serde_json::json!({"changes": [], "cursor": "0", "more": false,
                    "server_hlc": server_hlc});
                (200, body)
            } else if request.body.len() > self.limit {
                self.refused
                    .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let body = serde_json::json!({"error": {"code": "payload_too_large",
                    "message": "too large"}});
                (413, body)
            } else {
                let push: serde_json::Value = serde_json::from_slice(&request.body).unwrap();
                let changes = push["changes"].as_array().unwrap();
                self.taken
                    .lock()
                    .unwrap()
                    .push((request.body.len(), changes.len()));
                let accepted: Vec<serde_json::Value> = changes
                    .iter()
                    .map(|c| serde_json::json!({"id": c["id"], "rev": c["rev"]}))
                    .collect();
                let body = serde_json::json!({"accepted": accepted, "rejected": [],
                    "server_hlc": server_hlc});
                (200, body)
            };
            Ok(HttpResponse {
                status,
                headers: vec![("content-type".into(), "application/json".into())],
                body: serde_json::to_vec(&body).unwrap(),
            })
        }
    }

    /// A session of the patient `patient` with `server`.
    fn logged_in(server: Arc<impl HttpTransport + 'static>, patient: &str) -> Session {
        let session = Session::new("http://server.invalid", server);
        session.restore(Tokens {
            access_token: "token".into(),
            refresh_token: "refresh".into(),
            access_expires_at: u64::MAX / 2,
            user_id: "u".into(),
            role: "patient".into(),
            patient_id: Some(patient.into()),
            username: None,
        });
        session
    }

    /// Syncs `count` notes of 4,000 characters (4 kB each) to a server taking bodies of at
    /// most `limit` bytes; returns the pushes it took and how many it refused.
    fn sync_long_notes(count: usize, limit: usize) -> (Vec<(usize, usize)>, usize) {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path(), ManualClock::at(NOON_MILLIS));
        for n in 0..count {
            let text = format!("{n:04}{}", "x".repeat(3996));
            store
                .record(datetime!(2026-11-22 08:00 UTC), note(&text))
                .unwrap();
        }
        let server = Arc::new(BodyLimited {
            limit,
            taken: Default::default(),
            refused: Default::default(),
        });
        let session = logged_in(server.clone(), "p1");
        let report = sync(&store, &session, &SyncOptions::default()).unwrap();
        assert_eq!((report.pushed, report.rejected), (count, 0));
        assert_eq!(store.pending_count(), 0);
        let taken = server.taken.lock().unwrap().clone();
        assert_eq!(taken.iter().map(|(_, n)| n).sum::<usize>(), count);
        (
            taken,
            server.refused.load(std::sync::atomic::Ordering::SeqCst),
        )
    }

    #[test]
    fn pushes_are_cut_to_the_body_limit() {
        let (taken, refused) = sync_long_notes(300, MAX_PUSH_BYTES);
        assert_eq!(refused, 0, "a push over the limit was sent");
        assert!(taken.len() >= 2, "{taken:?}");
        // Cut by size, not by count: the first push is nearly full.
        assert!(taken[0].0 > MAX_PUSH_BYTES - 5_000, "{taken:?}");
    }

    #[test]
    fn a_server_with_a_smaller_body_limit_gets_smaller_pushes() {
        // About 36 notes fit a push: far more rounds than full pushes of 500 would need.
        let (taken, refused) = sync_long_notes(700, 150_000);
        assert!(taken.len() >= 700 / 40, "{taken:?}");
        assert!(refused > 0 && refused < 10, "{refused} pushes refused");
    }

    #[test]
    fn a_diary_does_not_sync_under_another_patients_login() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path(), ManualClock::at(NOON_MILLIS));
        let server = Arc::new(BodyLimited {
            limit: MAX_PUSH_BYTES,
            taken: Default::default(),
            refused: Default::default(),
        });
        store
            .record(datetime!(2026-11-22 08:00 UTC), pain(3))
            .unwrap();
        sync(
            &store,
            &logged_in(server.clone(), "p1"),
            &SyncOptions::default(),
        )
        .unwrap();
        store
            .record(datetime!(2026-11-22 09:00 UTC), pain(4))
            .unwrap();
        let other = sync(
            &store,
            &logged_in(server.clone(), "p2"),
            &SyncOptions::default(),
        );
        assert!(matches!(other, Err(SyncError::OtherPatient)), "{other:?}");
        assert_eq!(server.taken.lock().unwrap().len(), 1, "pushed under p2");
        assert_eq!(store.pending_count(), 1);
        sync(
            &store,
            &logged_in(server.clone(), "p1"),
            &SyncOptions::default(),
        )
        .unwrap();
        assert_eq!(store.pending_count(), 0);
    }

    #[test]
    fn cursors_are_percent_encoded() {
        assert_eq!(encode_query("abc-1_2.~"), "abc-1_2.~");
        assert_eq!(encode_query("a+b/c=d"), "a%2Bb%2Fc%3Dd");
    }
}
