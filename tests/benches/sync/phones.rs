//! The 200 phones of the burst as one light load generator: a single thread with a
//! current-thread tokio runtime, one keep-alive connection per phone, requests written as
//! prepared bytes. Real phones are other machines; here they share the server's 2 cores, so
//! the less CPU they take, the closer the latencies are to what the server itself causes.

use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use taperlog_core::sync::PushResponse;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// One phone: its connection and its prepared requests (warm-up first, then one per round).
pub(crate) struct Phone {
    pub(crate) requests: Vec<Vec<u8>>,
    pub(crate) changes_per_push: usize,
}

/// The generator thread: `round()` sends every phone's next push at once and returns the
/// acknowledgement latencies.
pub(crate) struct Phones {
    go: Option<mpsc::Sender<()>>,
    done: mpsc::Receiver<Vec<Duration>>,
    thread: Option<JoinHandle<()>>,
}

/// A `POST` of `body` to `path` with a bearer token, as HTTP/1.1 keep-alive bytes.
pub(crate) fn push_request(host: &str, path: &str, token: &str, body: &[u8]) -> Vec<u8> {
    let mut request = format!(
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(body);
    request
}

impl Phones {
    /// Connects every phone to `addr` and sends its warm-up push; returns once all are
    /// connected and warmed.
    pub(crate) fn start(addr: String, phones: Vec<Phone>) -> Phones {
        let (go_tx, go_rx) = mpsc::channel::<()>();
        let (done_tx, done_rx) = mpsc::channel::<Vec<Duration>>();
        let thread = std::thread::Builder::new()
            .name("phones".into())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("runtime");
                runtime.block_on(generate(addr, phones, go_rx, done_tx));
            })
            .expect("generator thread");
        let phones = Phones {
            go: Some(go_tx),
            done: done_rx,
            thread: Some(thread),
        };
        // The warm-up round's latencies are not kept.
        phones.done.recv().expect("phones did not warm up");
        phones
    }

    /// Every phone pushes its next request at once; the latencies of the round.
    pub(crate) fn round(&self) -> Vec<Duration> {
        self.go
            .as_ref()
            .expect("generator running")
            .send(())
            .expect("generator stopped");
        self.done.recv().expect("generator stopped")
    }
}

impl Drop for Phones {
    fn drop(&mut self) {
        self.go.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn generate(
    addr: String,
    phones: Vec<Phone>,
    go: mpsc::Receiver<()>,
    done: mpsc::Sender<Vec<Duration>>,
) {
    let mut connections = Vec::with_capacity(phones.len());
    for _ in &phones {
        let stream = TcpStream::connect(&addr).await.expect("connect");
        stream.set_nodelay(true).expect("nodelay");
        connections.push(Some(stream));
    }
    let rounds = phones.iter().map(|p| p.requests.len()).min().unwrap_or(0);
    for round in 0..rounds {
        if round > 0 && go.recv().is_err() {
            return;
        }
        let mut tasks = Vec::with_capacity(phones.len());
        for (phone, connection) in phones.iter().zip(&mut connections) {
            let mut stream = connection.take().expect("connection back from last round");
            let request = phone.requests[round].clone();
            let expected = phone.changes_per_push;
            tasks.push(tokio::spawn(async move {
                let started = Instant::now();
                stream.write_all(&request).await.expect("send push");
                let answer = read_response(&mut stream).await;
                (stream, started.elapsed(), answer, expected)
            }));
        }
        let mut latencies = Vec::with_capacity(tasks.len());
        let mut answers = Vec::with_capacity(tasks.len());
        for (task, connection) in tasks.into_iter().zip(&mut connections) {
            let (stream, latency, answer, expected) = task.await.expect("phone task");
            *connection = Some(stream);
            latencies.push(latency);
            answers.push((answer, expected));
        }
        // Checked once every answer is in: reading them on this one thread would otherwise
        // delay the phones still waiting.
        for (answer, expected) in answers {
            check_accepted(&answer, expected);
        }
        if done.send(latencies).is_err() {
            return;
        }
    }
}

/// Reads one HTTP/1.1 response with a `Content-Length` body; panics unless it is a 200.
async fn read_response(stream: &mut TcpStream) -> Vec<u8> {
    let mut buffer = Vec::with_capacity(4096);
    let mut chunk = [0u8; 4096];
    loop {
        let read = stream.read(&mut chunk).await.expect("read answer");
        assert!(read > 0, "server closed the connection");
        buffer.extend_from_slice(&chunk[..read]);
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut response = httparse::Response::new(&mut headers);
        let httparse::Status::Complete(head) = response.parse(&buffer).expect("HTTP answer") else {
            continue;
        };
        assert_eq!(
            response.code,
            Some(200),
            "push answered {:?}",
            response.code
        );
        let length: usize = response
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case("content-length"))
            .and_then(|h| std::str::from_utf8(h.value).ok()?.parse().ok())
            .expect("a Content-Length");
        while buffer.len() < head + length {
            let read = stream.read(&mut chunk).await.expect("read answer");
            assert!(read > 0, "server closed the connection");
            buffer.extend_from_slice(&chunk[..read]);
        }
        assert_eq!(buffer.len(), head + length, "one answer per request");
        return buffer.split_off(head);
    }
}

/// Panics unless every change of the push was accepted.
fn check_accepted(body: &[u8], expected: usize) {
    let answer: PushResponse = serde_json::from_slice(body).expect("push answer");
    assert!(
        answer.rejected.is_empty() && answer.accepted.len() == expected,
        "push not fully accepted: {:?}",
        answer.rejected.first()
    );
}
