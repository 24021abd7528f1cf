//! A TCP proxy on loopback that loses answers: it lets each request through, and on a chosen
//! share of its reads of the server's bytes (up to 16 KiB each) it drops the connection, so
//! the server has acted but the client never hears of it, or hears only the start of the
//! answer. The choice is made per read, not per connection, so pooled keep-alive connections
//! are as exposed as fresh ones, and a long answer (a pull page) more than a short one.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

/// A running proxy; stops on drop.
pub struct LossyProxy {
    /// Where clients connect.
    pub addr: SocketAddr,
    dropped: Arc<AtomicUsize>,
    connections: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

/// A tiny deterministic generator, so a failing run can be replayed from its seed.
fn next(state: &AtomicU64) -> u64 {
    let mut x = state
        .fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::SeqCst)
        .wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

impl LossyProxy {
    /// Proxies to `upstream`, dropping the connection at `drop_percent`% of the reads of
    /// the server's answers.
    pub fn start(upstream: SocketAddr, drop_percent: u64, seed: u64) -> LossyProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        listener.set_nonblocking(true).expect("nonblocking");
        let addr = listener.local_addr().expect("proxy addr");
        let dropped = Arc::new(AtomicUsize::new(0));
        let connections = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let rng = Arc::new(AtomicU64::new(seed));
        let (d, c, s) = (
            Arc::clone(&dropped),
            Arc::clone(&connections),
            Arc::clone(&stop),
        );
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((client, _)) => {
                        c.fetch_add(1, Ordering::SeqCst);
                        let (d, rng) = (Arc::clone(&d), Arc::clone(&rng));
                        std::thread::spawn(move || relay(client, upstream, drop_percent, &rng, &d));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(2)),
                }
            }
        });
        LossyProxy {
            addr,
            dropped,
            connections,
            stop,
            thread: Some(thread),
        }
    }

    /// `http://ADDR`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Answers lost so far.
    pub fn dropped(&self) -> usize {
        self.dropped.load(Ordering::SeqCst)
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

impl Drop for LossyProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn relay(
    client: TcpStream,
    upstream: SocketAddr,
    drop_percent: u64,
    rng: &AtomicU64,
    dropped: &AtomicUsize,
) {
    let Ok(server) = TcpStream::connect(upstream) else {
        return;
    };
    let (Ok(mut client_read), Ok(mut server_write)) = (client.try_clone(), server.try_clone())
    else {
        return;
    };
    let upstream_copy = std::thread::spawn(move || {
        let _ = std::io::copy(&mut client_read, &mut server_write);
        let _ = server_write.shutdown(Shutdown::Write);
    });
    let mut server_read = server;
    let mut client_write = client;
    let mut buffer = [0u8; 16 * 1024];
    loop {
        match server_read.read(&mut buffer) {
            Ok(0) | Err(_) => break,
            // The server has answered (it acted on the request): lose the answer.
            Ok(_) if next(rng) % 100 < drop_percent => {
                dropped.fetch_add(1, Ordering::SeqCst);
                break;
            }
            Ok(n) => {
                if client_write.write_all(&buffer[..n]).is_err() {
                    break;
                }
            }
        }
    }
    let _ = client_write.shutdown(Shutdown::Both);
    let _ = server_read.shutdown(Shutdown::Both);
    let _ = upstream_copy.join();
}
