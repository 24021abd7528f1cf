//! A server restored from an earlier backup, against real phones over loopback: their
//! cursors are beyond its change log, so they read it again from the beginning and give it
//! back the changes it had acknowledged and lost.

use std::path::Path;
use std::sync::Arc;

use taperlog_core::model::Entry;
use taperlog_core::sync::{
    HttpRequest, HttpResponse, HttpTransport, Session, SyncOptions, TransportError, UreqTransport,
    sync,
};
use taperlog_tests::devices::{
    Device, TEST_RETRY, assert_converged, oxycodone, pain, server_changes,
};
use taperlog_tests::{Actor, TEST_PASSWORD, TestOptions, TestServer, get};
use uuid::Uuid;

/// The phone's network, lost for every pull: a push goes through and is acknowledged, the
/// pull after it never arrives.
struct PullsLost(UreqTransport);

impl HttpTransport for PullsLost {
    fn send(&self, request: HttpRequest) -> Result<HttpResponse, TransportError> {
        if request.method == "GET" {
            return Err(TransportError {
                message: "network lost".into(),
            });
        }
        self.0.send(request)
    }
}

/// Copies a stopped server's data directory, as a file-level backup does.
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for item in std::fs::read_dir(from).unwrap() {
        let item = item.unwrap();
        let target = to.join(item.file_name());
        if item.file_type().unwrap().is_dir() {
            copy_dir(&item.path(), &target);
        } else {
            std::fs::copy(item.path(), target).unwrap();
        }
    }
}

/// A server whose data directory can be backed up and restored, as an operator does with
/// files while it is stopped.
struct Restorable {
    _data: tempfile::TempDir,
    live: std::path::PathBuf,
    backup: std::path::PathBuf,
}

impl Restorable {
    fn new() -> Restorable {
        let data = tempfile::tempdir().unwrap();
        let (live, backup) = (data.path().join("server"), data.path().join("backup"));
        Restorable {
            _data: data,
            live,
            backup,
        }
    }

    fn start(&self) -> TestServer {
        TestServer::start_with(TestOptions {
            data_dir: Some(self.live.clone()),
            ..TestOptions::default()
        })
    }

    /// Stops `server`, copies its data directory and starts it again.
    fn back_up(&self, server: TestServer) -> TestServer {
        server.stop().unwrap();
        copy_dir(&self.live, &self.backup);
        self.start()
    }

    /// Stops `server` and starts it again from the backup.
    fn restore(&self, server: TestServer) -> TestServer {
        server.stop().unwrap();
        std::fs::remove_dir_all(&self.live).unwrap();
        copy_dir(&self.backup, &self.live);
        self.start()
    }
}

/// A fresh server with a patient enrolled through a phone: the server, the patient's
/// clinician, the patient id, the phone and the patient's username.
fn enrolled(restorable: &Restorable, phone: &str) -> (TestServer, Actor, Uuid, Device, String) {
    let mut server = restorable.start();
    server.admin = server.login(&server.admin.username.clone(), TEST_PASSWORD);
    let team = server.create_care_team("restore team");
    let clinician = server.create_clinician(team);
    let (patient_id, code) = server.create_patient(&clinician, team);
    let device = Device::new(phone, &server.base_url);
    let username = device
        .session
        .enroll(&code, TEST_PASSWORD, Some(phone))
        .unwrap()
        .username
        .unwrap();
    (server, clinician, patient_id, device, username)
}

#[test]
fn phones_give_a_server_restored_from_a_backup_back_what_it_lost() {
    let restorable = Restorable::new();
    let (server, clinician, patient_id, mut a, username) = enrolled(&restorable, "phone-a");
    let mut b = Device::new("phone-b", &server.base_url);
    b.login(&username, TEST_PASSWORD);
    let before: Vec<Entry> = (0..3).map(|n| a.record(pain(n))).collect();
    a.sync();
    b.sync();

    // The nightly backup.
    let server = restorable.back_up(server);
    a.reconnect(&server.base_url, TEST_RETRY);
    b.reconnect(&server.base_url, TEST_RETRY);

    // Acknowledged after the backup: five doses from one phone, a deletion from the other.
    let lost: Vec<Entry> = (0..5)
        .map(|n| b.record(oxycodone(5.0 + f64::from(n))))
        .collect();
    b.sync();
    a.sync();
    a.store.delete(before[0].id).unwrap();
    a.sync();
    b.sync();

    // The disk fails; the server comes back from the backup, without those changes, and a
    // phone writes before anyone noticed.
    let server = restorable.restore(server);
    a.reconnect(&server.base_url, TEST_RETRY);
    b.reconnect(&server.base_url, TEST_RETRY);
    let after = b.record(pain(9));
    let report = b.sync();
    assert!(report.resent >= lost.len(), "{report:?}");
    // The log has grown past this phone's cursor again, with other changes: it still notices.
    let report = a.sync();
    assert!(report.resent > 0, "{report:?}");
    b.sync();
    let converged = assert_converged(&[a, b]);
    for entry in lost.iter().chain([&after]).chain(&before[1..]) {
        assert!(converged.contains_key(&entry.id), "{entry:?} is missing");
    }
    assert!(
        !converged.contains_key(&before[0].id),
        "the deletion was lost"
    );

    // The care team sees it all again.
    assert_eq!(
        server.entries_around_today(patient_id, &clinician).len(),
        converged.len()
    );
}

#[test]
fn a_change_acknowledged_after_the_last_pull_is_given_back_too() {
    let restorable = Restorable::new();
    let (server, _, _, mut phone, _) = enrolled(&restorable, "phone-c");
    phone.record(pain(2));
    phone.record(pain(3));
    phone.sync();

    let server = restorable.back_up(server);
    phone.reconnect(&server.base_url, TEST_RETRY);

    // Acknowledged after the backup, but the pull after it is lost: the phone's cursor
    // still points inside what the backup holds.
    let dose = phone.record(oxycodone(10.0));
    let cut = Session::new(
        &server.base_url,
        Arc::new(PullsLost(UreqTransport::default())),
    )
    .with_retry(TEST_RETRY);
    cut.restore(phone.session.tokens().unwrap());
    let cursor = phone.store.cursor().unwrap();
    assert!(sync(&phone.store, &cut, &SyncOptions::default()).is_err());
    assert_eq!(phone.store.pending_count(), 0, "the push was acknowledged");
    assert_eq!(phone.store.cursor().unwrap(), cursor);

    let server = restorable.restore(server);
    phone.reconnect(&server.base_url, TEST_RETRY);
    assert!(!server_changes(&phone.session).contains_key(&dose.id));
    let report = phone.sync();
    assert!(report.resent >= 1, "{report:?}");
    assert!(server_changes(&phone.session).contains_key(&dose.id));
    assert_converged(&[phone]);
}

#[test]
fn a_cursor_beyond_the_change_log_is_a_conflict() {
    let server = TestServer::start();
    let team = server.create_care_team("cursor team");
    let clinician = server.create_clinician(team);
    let patient = server.enrolled_patient(&clinician, team);
    let reply = get(&server.url("/v1/sync/pull?since=999999"), patient.token());
    assert_eq!(reply.status, 409, "{}", reply.text);
    assert_eq!(reply.error_code(), Some("conflict"));
    let reply = get(&server.url("/v1/sync/pull?since=0"), patient.token());
    assert_eq!(reply.status, 200, "{}", reply.text);
}
