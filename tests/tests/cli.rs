//! The command line: `serve` and its flags, `admin create-user`, `--demo`, graceful shutdown.

use std::time::Duration;

use serde_json::json;
use taperlog_tests::{ChildServer, TEST_PASSWORD, get, post, run_cli, server_binary};

#[test]
fn create_user_reads_the_password_from_stdin_and_the_server_accepts_it() {
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
            "Ops",
            "--role",
            "clinician",
        ],
        &format!("{TEST_PASSWORD}\n"),
    );
    assert!(status.success(), "{out}{err}");
    assert!(out.contains("created clinician `ops`"), "{out}");
    let (status, _, err) = run_cli(
        &[
            "admin",
            "create-user",
            "--data-dir",
            data_arg,
            "--username",
            "weak",
            "--role",
            "admin",
        ],
        "short\n",
    );
    assert!(!status.success());
    assert!(err.contains("password"), "{err}");
    let (status, _, err) = run_cli(
        &[
            "admin",
            "create-user",
            "--data-dir",
            data_arg,
            "--username",
            "x1",
            "--role",
            "wizard",
        ],
        &format!("{TEST_PASSWORD}\n"),
    );
    assert!(!status.success(), "{err}");

    let child = ChildServer::spawn(&data, &[]);
    let health = get(&child.url("/healthz"), None);
    assert_eq!(
        health.body,
        json!({"status": "ok", "version": env!("CARGO_PKG_VERSION")})
    );
    let login = post(
        &child.url("/v1/auth/login"),
        None,
        &json!({"username": "ops", "password": TEST_PASSWORD}),
    );
    assert_eq!(login.status, 200, "{}", login.text);

    // The data dir is held by the running server: the command line says so.
    let (status, _, err) = run_cli(
        &[
            "admin",
            "create-user",
            "--data-dir",
            data_arg,
            "--username",
            "late",
            "--role",
            "admin",
        ],
        &format!("{TEST_PASSWORD}\n"),
    );
    assert!(!status.success());
    assert!(err.contains("in use"), "{err}");
    assert!(child.terminate().success());
}

#[test]
fn sigterm_finishes_the_request_in_flight_and_exits_zero() {
    let temp = tempfile::tempdir().unwrap();
    let data = temp.path().join("data");
    let (status, ..) = run_cli(
        &[
            "admin",
            "create-user",
            "--data-dir",
            data.to_str().unwrap(),
            "--username",
            "user1",
            "--role",
            "admin",
        ],
        &format!("{TEST_PASSWORD}\n"),
    );
    assert!(status.success());
    let child = ChildServer::spawn(&data, &[]);
    let url = child.url("/v1/auth/login");
    // A login takes an argon2 verification: long enough to be in flight at SIGTERM.
    let in_flight = std::thread::spawn(move || {
        post(
            &url,
            None,
            &json!({"username": "user1", "password": TEST_PASSWORD}),
        )
    });
    std::thread::sleep(Duration::from_millis(15));
    let exit = child.terminate();
    let reply = in_flight.join().unwrap();
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(exit.code(), Some(0));
    // Everything was flushed: a new server on the same dir has the login's user.
    let again = ChildServer::spawn(&data, &[]);
    let login = post(
        &again.url("/v1/auth/login"),
        None,
        &json!({"username": "user1", "password": TEST_PASSWORD}),
    );
    assert_eq!(login.status, 200);
}

#[test]
fn demo_prints_working_logins_and_only_loads_into_an_empty_dir() {
    let temp = tempfile::tempdir().unwrap();
    let data = temp.path().join("data");
    let child = ChildServer::spawn(&data, &["--demo"]);
    let logins: Vec<(String, String, String)> = child
        .stdout_before_listening
        .iter()
        .filter_map(|line| {
            let parts: Vec<_> = line.split_whitespace().collect();
            (parts.len() == 3 && line.starts_with("  ")).then(|| {
                (
                    parts[0].to_string(),
                    parts[1].to_string(),
                    parts[2].to_string(),
                )
            })
        })
        .collect();
    let roles: Vec<_> = logins.iter().map(|l| l.0.as_str()).collect();
    for role in ["admin", "clinician", "researcher", "patient"] {
        assert!(roles.contains(&role), "{:?}", child.stdout_before_listening);
    }
    assert!(roles.iter().filter(|r| **r == "patient").count() >= 4);
    let (_, clinician, password) = logins.iter().find(|l| l.0 == "clinician").unwrap();
    let login = post(
        &child.url("/v1/auth/login"),
        None,
        &json!({"username": clinician, "password": password}),
    );
    assert_eq!(login.status, 200);
    let token = login.body["access_token"].as_str().unwrap();
    let patients = get(&child.url("/v1/patients"), Some(token));
    let rows = patients.body.as_array().unwrap();
    assert_eq!(
        rows.len(),
        roles.iter().filter(|r| **r == "patient").count()
    );
    assert!(
        rows.iter()
            .any(|r| r["baseline_mme"].is_number() && r["baseline_source"] == "set")
    );
    let (_, patient, password) = logins.iter().find(|l| l.0 == "patient").unwrap();
    let login = post(
        &child.url("/v1/auth/login"),
        None,
        &json!({"username": patient, "password": password}),
    );
    assert_eq!(login.status, 200);
    assert!(child.terminate().success());

    // Again on the same (demo) dir: it serves, without loading twice.
    let again = ChildServer::spawn(&data, &["--demo"]);
    assert!(again.stdout_before_listening.is_empty());
    assert!(again.terminate().success());

    // A dir with other data: refused.
    let other = temp.path().join("other");
    let (status, ..) = run_cli(
        &[
            "admin",
            "create-user",
            "--data-dir",
            other.to_str().unwrap(),
            "--username",
            "admin1",
            "--role",
            "admin",
        ],
        &format!("{TEST_PASSWORD}\n"),
    );
    assert!(status.success());
    let out = std::process::Command::new(server_binary())
        .args([
            "serve",
            "--demo",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
            other.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("empty data dir"));
}

#[test]
fn environment_variables_set_the_data_dir_and_address() {
    let temp = tempfile::tempdir().unwrap();
    let data = temp.path().join("from-env");
    let mut child = std::process::Command::new(server_binary())
        .env("TAPERLOG_DATA_DIR", &data)
        .env("TAPERLOG_LISTEN", "127.0.0.1:0")
        .env("TAPERLOG_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.as_mut().unwrap()),
        &mut line,
    )
    .unwrap();
    assert!(line.starts_with("listening on http://127.0.0.1:"), "{line}");
    let url = format!(
        "{}/healthz",
        line.trim().trim_start_matches("listening on ")
    );
    assert_eq!(get(&url, None).status, 200);
    assert!(data.join("db").exists());
    assert!(data.join("jwt.secret").exists());
    std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert_eq!(child.wait().unwrap().code(), Some(0));
}

#[test]
fn logs_are_json_lines_without_passwords_tokens_or_bodies() {
    let temp = tempfile::tempdir().unwrap();
    let data = temp.path().join("data");
    let (status, ..) = run_cli(
        &[
            "admin",
            "create-user",
            "--data-dir",
            data.to_str().unwrap(),
            "--username",
            "logger",
            "--role",
            "admin",
        ],
        &format!("{TEST_PASSWORD}\n"),
    );
    assert!(status.success());
    let log_path = temp.path().join("stderr.log");
    let mut child = std::process::Command::new(server_binary())
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--log-format",
            "json",
            "--data-dir",
        ])
        .arg(&data)
        .env("TAPERLOG_LOG", "debug")
        .stdout(std::process::Stdio::piped())
        .stderr(std::fs::File::create(&log_path).unwrap())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.as_mut().unwrap()),
        &mut line,
    )
    .unwrap();
    let base = line.trim().trim_start_matches("listening on ").to_string();
    let login = post(
        &format!("{base}/v1/auth/login"),
        None,
        &json!({"username": "logger", "password": TEST_PASSWORD}),
    );
    assert_eq!(login.status, 200);
    let access = login.body["access_token"].as_str().unwrap().to_string();
    let refresh = login.body["refresh_token"].as_str().unwrap().to_string();
    assert_eq!(get(&format!("{base}/v1/me"), Some(&access)).status, 200);
    let team = post(
        &format!("{base}/v1/admin/care-teams"),
        Some(&access),
        &json!({"name": "secret-team-name-in-a-body"}),
    );
    assert_eq!(team.status, 201);
    assert_eq!(
        get(&format!("{base}/v1/me"), Some("forged.token.value")).status,
        401
    );
    std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert_eq!(child.wait().unwrap().code(), Some(0));

    let logs = std::fs::read_to_string(&log_path).unwrap();
    assert!(logs.contains("/v1/me"), "requests are logged: {logs}");
    for line in logs.lines().filter(|l| !l.trim().is_empty()) {
        serde_json::from_str::<serde_json::Value>(line)
            .unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"));
    }
    for secret in [
        TEST_PASSWORD,
        &access,
        &refresh,
        "forged.token.value",
        "secret-team-name-in-a-body",
    ] {
        assert!(!logs.contains(secret), "the log shows `{secret}`");
    }
    let lower = logs.to_lowercase();
    assert!(
        !lower.contains("bearer"),
        "the log shows an Authorization header"
    );
}
