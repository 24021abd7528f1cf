//! The audit log: reads by others and changes are recorded; the chain verifies through the
//! command line and a record altered on disk is named.

use serde_json::json;
use taperlog_server::role::Role;
use taperlog_tests::{ChildServer, TEST_PASSWORD, TestServer, get, patch, post, run_cli};

#[test]
fn reads_by_others_and_changes_are_recorded_but_a_patients_own_reads_are_not() {
    let server = TestServer::start();
    let team = server.create_care_team("A");
    let other_team = server.create_care_team("B");
    let clinician = server.create_clinician(team);
    let outsider = server.create_clinician(other_team);
    let patient = server.enrolled_patient(&clinician, team);
    let pid = patient.patient_id.unwrap();
    let patient_url = server.url(&format!("/v1/patients/{pid}"));
    let audit_url = server.url(&format!("/v1/admin/audit?patient_id={pid}"));
    let count = |action: &str| {
        let reply = get(&audit_url, server.admin.token());
        assert_eq!(reply.status, 200, "{}", reply.text);
        reply
            .body
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["action"] == action)
            .cloned()
            .collect::<Vec<_>>()
    };

    assert_eq!(get(&patient_url, patient.token()).status, 200);
    assert!(
        count("patient.read").is_empty(),
        "a patient's own read is not audited"
    );

    assert_eq!(get(&patient_url, clinician.token()).status, 200);
    let reads = count("patient.read");
    assert_eq!(reads.len(), 1);
    assert_eq!(reads[0]["user_id"], clinician.user_id.to_string());
    assert_eq!(reads[0]["role"], "clinician");
    assert_eq!(reads[0]["patient_id"], pid.to_string());
    assert_eq!(reads[0]["outcome"], "ok");
    assert!(reads[0]["at"].as_str().unwrap().contains('T'));

    assert_eq!(
        get(&server.url("/v1/patients"), clinician.token()).status,
        200
    );
    assert_eq!(count("patient.list").len(), 1);

    assert_eq!(get(&patient_url, outsider.token()).status, 404);
    let denied = count("patient.access");
    assert_eq!(denied.len(), 1);
    assert_eq!(denied[0]["outcome"], "denied");

    let reply = patch(
        &patient_url,
        clinician.token(),
        &json!({"research_consent": false}),
    );
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body["research_consent"], false);
    let consent = count("patient.consent");
    assert_eq!(consent.len(), 1);
    assert!(
        consent[0]["detail"]
            .as_str()
            .unwrap()
            .contains("true -> false")
    );
    assert_eq!(count("patient.create").len(), 1);
    assert_eq!(count("patient.enroll").len(), 1);

    // Filters by time: nothing before 2000, everything in a wide window.
    let old = get(
        &server.url("/v1/admin/audit?to=1999-12-31"),
        server.admin.token(),
    );
    assert_eq!(old.body, json!([]));
    let all = get(
        &server.url("/v1/admin/audit?from=2000-01-01"),
        server.admin.token(),
    );
    assert!(all.body.as_array().unwrap().len() >= 6);
    let bad = get(
        &server.url("/v1/admin/audit?from=yesterday"),
        server.admin.token(),
    );
    assert_eq!(
        (bad.status, bad.body["error"]["field"].as_str()),
        (422, Some("from"))
    );
    let accounts = all.body.as_array().unwrap();
    assert!(accounts.iter().any(|r| r["action"] == "user.create"));
    assert!(
        accounts
            .iter()
            .any(|r| r["action"] == "care_team.add_member")
    );
}

#[test]
fn the_chain_verifies_and_a_record_altered_on_disk_is_named() {
    let temp = tempfile::tempdir().unwrap();
    let data = temp.path().join("data");
    let data_arg = data.to_str().unwrap();
    let (status, out, err) = run_cli(
        &[
            "admin",
            "create-user",
            "--data-dir",
            data_arg,
            "--username",
            "root",
            "--role",
            "admin",
        ],
        &format!("{TEST_PASSWORD}\n"),
    );
    assert!(status.success(), "{out}{err}");

    let child = ChildServer::spawn(&data, &[]);
    let login = post(
        &child.url("/v1/auth/login"),
        None,
        &json!({"username": "root", "password": TEST_PASSWORD}),
    );
    assert_eq!(login.status, 200);
    let token = login.body["access_token"].as_str().unwrap().to_string();
    for name in ["one", "two", "three"] {
        let reply = post(
            &child.url("/v1/admin/care-teams"),
            Some(&token),
            &json!({"name": name}),
        );
        assert_eq!(reply.status, 201);
    }
    let reply = post(
        &child.url("/v1/admin/users"),
        Some(&token),
        &json!({"username": "res", "password": TEST_PASSWORD, "role": Role::Researcher}),
    );
    assert_eq!(reply.status, 201);
    assert!(child.terminate().success());

    let (status, out, _) = run_cli(&["admin", "verify-audit", "--data-dir", data_arg], "");
    assert!(status.success(), "{out}");
    assert!(out.contains("audit chain ok: 5 records"), "{out}");

    // Alter record 3 on disk the way someone with file access would: same length, new text.
    {
        let db = sled::open(data.join("db")).unwrap();
        let tree = db.open_tree("audit_by_seq").unwrap();
        let key = 3u64.to_be_bytes();
        let value = tree.get(key).unwrap().unwrap().to_vec();
        let text = String::from_utf8(value[1..].to_vec()).unwrap();
        assert!(text.contains("`two`"), "{text}");
        let mut forged = vec![value[0]];
        forged.extend_from_slice(text.replace("`two`", "`TWO`").as_bytes());
        tree.insert(key, forged).unwrap();
        db.flush().unwrap();
    }
    let (status, out, _) = run_cli(&["admin", "verify-audit", "--data-dir", data_arg], "");
    assert!(!status.success(), "{out}");
    assert!(out.contains("broken at record 3"), "{out}");
}

#[test]
fn every_bad_audit_parameter_is_a_422_naming_it() {
    let server = TestServer::start();
    let audit = |query: &str| {
        get(
            &server.url(&format!("/v1/admin/audit?{query}")),
            server.admin.token(),
        )
    };
    let cases = [
        ("patient_id=nope", "patient_id"),
        ("limit=abc", "limit"),
        ("limit=-1", "limit"),
        ("limit=0", "limit"),
        ("limit=10001", "limit"),
        ("from=2026-11-20&to=2026-11-01", "from"),
        ("to=never", "to"),
        ("limit=1&limit=2", "limit"),
        ("colour=red", "colour"),
    ];
    for (query, field) in cases {
        let reply = audit(query);
        assert_eq!(reply.status, 422, "{query}: {}", reply.text);
        assert_eq!(reply.error_code(), Some("validation_failed"), "{query}");
        assert_eq!(
            reply.body["error"]["field"], field,
            "{query}: {}",
            reply.text
        );
        let message = reply.body["error"]["message"].as_str().unwrap();
        assert!(
            !message.contains("Failed to deserialize"),
            "{query}: {message}"
        );
    }
    // Good parameters still work: limit=1 gives one record, a day range up to itself.
    let one = audit("limit=1&from=2000-01-01&to=2999-12-31");
    assert_eq!(one.status, 200, "{}", one.text);
    assert_eq!(one.body.as_array().map(Vec::len), Some(1), "{}", one.text);
    assert_eq!(audit("from=2026-11-01&to=2026-11-01").status, 200);
}
