//! The server's binary as a child process: started on a port of its own, stopped with
//! SIGTERM or SIGKILL, and its command line run with standard input.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};

/// The command-line binary the end-to-end tests spawn: `taperlog-server-e2e` next to the
/// running test (built by cargo with this crate, from the current server code).
pub fn server_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>");
    let name = format!("taperlog-server-e2e{}", std::env::consts::EXE_SUFFIX);
    let path = profile_dir.join(name);
    assert!(path.exists(), "{} is not built", path.display());
    path
}

/// The server's binary running as a child process.
pub struct ChildServer {
    /// `http://127.0.0.1:PORT` from its `listening on` line.
    pub base_url: String,
    /// Lines it printed on standard output before the `listening on` line.
    pub stdout_before_listening: Vec<String>,
    child: Option<Child>,
}

impl ChildServer {
    /// Runs `serve --data-dir DIR --listen 127.0.0.1:0` plus `extra_args`, and waits for
    /// its `listening on` line.
    pub fn spawn(data_dir: &Path, extra_args: &[&str]) -> ChildServer {
        let mut child = Command::new(server_binary())
            .arg("serve")
            .arg("--data-dir")
            .arg(data_dir)
            .args(["--listen", "127.0.0.1:0"])
            .args(extra_args)
            .env("TAPERLOG_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn server");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let mut before = Vec::new();
        let base_url = loop {
            match lines.next() {
                Some(Ok(line)) => match line.strip_prefix("listening on ") {
                    Some(url) => break url.trim().to_string(),
                    None => before.push(line),
                },
                _ => {
                    let status = child.wait().expect("wait");
                    panic!("server exited before listening ({status}); printed {before:?}");
                }
            }
        };
        // Keep draining stdout so the child never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        ChildServer {
            base_url,
            stdout_before_listening: before,
            child: Some(child),
        }
    }

    /// The full URL of `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, |c| c.id())
    }

    /// Sends SIGTERM and waits for the exit.
    pub fn terminate(mut self) -> ExitStatus {
        let mut child = self.child.take().expect("child");
        let status = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .expect("kill -TERM");
        assert!(status.success());
        child.wait().expect("wait")
    }

    /// Sends SIGKILL and waits (a crash).
    pub fn kill(mut self) -> ExitStatus {
        let mut child = self.child.take().expect("child");
        let _ = child.kill();
        child.wait().expect("wait")
    }
}

impl Drop for ChildServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Runs the binary with `args` and `stdin`; returns (exit status, stdout, stderr).
pub fn run_cli(args: &[&str], stdin: &str) -> (ExitStatus, String, String) {
    use std::io::Write;
    let mut child = Command::new(server_binary())
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn cli");
    // A command refused before it reads standard input closes the pipe: not our failure.
    let _ = child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes());
    let out = child.wait_with_output().expect("wait");
    (
        out.status,
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
