//! Forged and doctored access tokens are all refused with 401; the same claims re-signed
//! properly are accepted (so each refusal is due to the one thing changed).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use serde_json::{Value, json};
use taperlog_server::role::Role;
use taperlog_tests::{TEST_JWT_SECRET, TestServer, get};

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

fn claims_of(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

fn sign(alg: Algorithm, claims: &Value, key: &[u8]) -> String {
    encode(&Header::new(alg), claims, &EncodingKey::from_secret(key)).unwrap()
}

fn raw(header: &Value, claims: &Value, signature: &str) -> String {
    format!(
        "{}.{}.{signature}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    )
}

#[test]
fn forged_and_doctored_tokens_get_401() {
    let server = TestServer::start();
    let user = server.create_user(Role::Clinician);
    let me = |token: &str| get(&server.url("/v1/me"), Some(token));
    let claims = claims_of(&user.access_token);
    let key = TEST_JWT_SECRET.as_bytes();

    // Control: the same claims, properly signed, are accepted.
    assert_eq!(me(&sign(Algorithm::HS256, &claims, key)).status, 200);

    let with = |field: &str, value: Value| {
        let mut c = claims.clone();
        c[field] = value;
        c
    };
    let without = |field: &str| {
        let mut c = claims.clone();
        c.as_object_mut().unwrap().remove(field);
        c
    };
    let mut cases: Vec<(&str, String)> = vec![
        (
            "alg none",
            raw(&json!({"alg": "none", "typ": "JWT"}), &claims, ""),
        ),
        ("alg None with a signature", {
            let good = sign(Algorithm::HS256, &claims, key);
            let sig = good.rsplit('.').next().unwrap().to_string();
            raw(&json!({"alg": "None", "typ": "JWT"}), &claims, &sig)
        }),
        (
            "HS512 instead of HS256",
            sign(Algorithm::HS512, &claims, key),
        ),
        ("RS256 header over an HMAC signature", {
            let good = sign(Algorithm::HS256, &claims, key);
            let sig = good.rsplit('.').next().unwrap().to_string();
            raw(&json!({"alg": "RS256", "typ": "JWT"}), &claims, &sig)
        }),
        (
            "wrong key",
            sign(
                Algorithm::HS256,
                &claims,
                b"some-other-secret-of-enough-length-xyz",
            ),
        ),
        (
            "expired",
            sign(Algorithm::HS256, &with("exp", json!(now() - 600)), key),
        ),
        (
            "expired five seconds ago (no leeway)",
            sign(Algorithm::HS256, &with("exp", json!(now() - 5)), key),
        ),
        (
            "a lifetime of ten years",
            sign(
                Algorithm::HS256,
                &with("exp", json!(now() + 10 * 366 * 86_400)),
                key,
            ),
        ),
        (
            "not yet valid",
            sign(Algorithm::HS256, &with("nbf", json!(now() + 3600)), key),
        ),
        (
            "issued in the future",
            sign(Algorithm::HS256, &with("iat", json!(now() + 3600)), key),
        ),
        (
            "wrong aud",
            sign(Algorithm::HS256, &with("aud", json!("someone-else")), key),
        ),
        (
            "wrong iss",
            sign(Algorithm::HS256, &with("iss", json!("evil")), key),
        ),
        ("no exp", sign(Algorithm::HS256, &without("exp"), key)),
        ("no aud", sign(Algorithm::HS256, &without("aud"), key)),
        ("no iss", sign(Algorithm::HS256, &without("iss"), key)),
        ("no jti", sign(Algorithm::HS256, &without("jti"), key)),
        ("no iat", sign(Algorithm::HS256, &without("iat"), key)),
        (
            "unknown login (fam)",
            sign(
                Algorithm::HS256,
                &with("fam", json!(uuid::Uuid::new_v4())),
                key,
            ),
        ),
        (
            "someone else's login (sub)",
            sign(
                Algorithm::HS256,
                &with("sub", json!(uuid::Uuid::new_v4())),
                key,
            ),
        ),
        (
            "patient role without pid",
            sign(Algorithm::HS256, &with("role", json!("patient")), key),
        ),
        ("refresh token as access token", user.refresh_token.clone()),
        ("garbage", "not.a.jwt".to_string()),
    ];
    // Payload changed (role → admin) under the original signature.
    let original_sig = user.access_token.rsplit('.').next().unwrap().to_string();
    let header: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(user.access_token.split('.').next().unwrap())
            .unwrap(),
    )
    .unwrap();
    cases.push((
        "tampered payload",
        raw(&header, &with("role", json!("admin")), &original_sig),
    ));

    let mut accepted = Vec::new();
    for (name, token) in &cases {
        let reply = me(token);
        if reply.status != 401 || reply.error_code() != Some("unauthorized") {
            accepted.push(format!("{name}: {} {}", reply.status, reply.text));
        }
    }
    assert!(accepted.is_empty(), "{accepted:#?}");
    // Elevation through a forged admin token is refused on an admin route too.
    let forged_admin = raw(&header, &with("role", json!("admin")), &original_sig);
    assert_eq!(
        get(&server.url("/v1/admin/audit"), Some(&forged_admin)).status,
        401
    );
}

#[test]
fn a_validly_signed_token_whose_role_or_patient_differs_from_the_account_gets_401() {
    let server = TestServer::start();
    let team = server.create_care_team("Roles");
    let clinician = server.create_clinician(team);
    let patient = server.enrolled_patient(&clinician, team);
    let other = server.enrolled_patient(&clinician, team);
    let key = TEST_JWT_SECRET.as_bytes();
    let audit = server.url("/v1/admin/audit");
    let patients = server.url("/v1/patients");
    let me = server.url("/v1/me");

    // Controls: the same claims re-signed are accepted.
    let patient_claims = claims_of(&patient.access_token);
    let clinician_claims = claims_of(&clinician.access_token);
    assert_eq!(
        get(&me, Some(&sign(Algorithm::HS256, &patient_claims, key))).status,
        200
    );
    assert_eq!(
        get(
            &patients,
            Some(&sign(Algorithm::HS256, &clinician_claims, key))
        )
        .status,
        200
    );

    let mut patient_as_admin = patient_claims.clone();
    patient_as_admin["role"] = json!("admin");
    patient_as_admin.as_object_mut().unwrap().remove("pid");
    let mut clinician_as_admin = clinician_claims.clone();
    clinician_as_admin["role"] = json!("admin");
    let mut other_patients_pid = patient_claims.clone();
    other_patients_pid["pid"] = json!(other.patient_id.unwrap());
    let mut clinician_as_patient = clinician_claims.clone();
    clinician_as_patient["role"] = json!("patient");
    clinician_as_patient["pid"] = json!(patient.patient_id.unwrap());
    let cases = [
        ("patient as admin", &patient_as_admin, &audit),
        ("clinician as admin", &clinician_as_admin, &audit),
        ("patient with another's pid", &other_patients_pid, &me),
        ("clinician as a patient", &clinician_as_patient, &me),
    ];
    for (name, claims, url) in cases {
        let reply = get(url, Some(&sign(Algorithm::HS256, claims, key)));
        assert_eq!(reply.status, 401, "{name}: {}", reply.text);
        assert_eq!(reply.error_code(), Some("unauthorized"), "{name}");
    }
}
