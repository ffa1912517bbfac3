//! A small HTTP proxy in front of a real registry that fails chosen requests, for retry and
//! error-path tests. It forces `Connection: close` upstream so it sees every request line.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;

/// A fault to inject.
#[derive(Debug, Clone)]
pub enum Fault {
    /// Answer the first `times` requests whose request line contains `pattern` with `status`.
    Status { pattern: String, status: u16, times: usize },
    /// Close the first `times` matching connections without answering.
    Reset { pattern: String, times: usize },
}

struct Shared {
    faults: Mutex<Vec<Fault>>,
    log: Mutex<Vec<String>>,
    upstream: String,
    stop: AtomicBool,
}

/// A running proxy; stopped on drop.
pub struct FaultProxy {
    addr: String,
    shared: Arc<Shared>,
}

impl FaultProxy {
    /// Proxies `127.0.0.1:<free port>` to `upstream` (`host:port`), injecting `faults`.
    pub fn start(upstream: &str, faults: Vec<Fault>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let shared = Arc::new(Shared {
            faults: Mutex::new(faults),
            log: Mutex::new(vec![]),
            upstream: upstream.into(),
            stop: AtomicBool::new(false),
        });
        let accept_shared = shared.clone();
        thread::spawn(move || {
            for stream in listener.incoming() {
                if accept_shared.stop.load(Ordering::SeqCst) {
                    break;
                }
                if let Ok(stream) = stream {
                    let shared = accept_shared.clone();
                    thread::spawn(move || handle(stream, &shared));
                }
            }
        });
        Self { addr, shared }
    }

    /// `127.0.0.1:PORT`.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// Request lines seen so far (`GET /v2/... HTTP/1.1`).
    pub fn requests(&self) -> Vec<String> {
        self.shared.log.lock().unwrap().clone()
    }

    /// How many requests contained `pattern`.
    pub fn count(&self, pattern: &str) -> usize {
        self.requests().iter().filter(|r| r.contains(pattern)).count()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(&self.addr);
    }
}

fn handle(mut client: TcpStream, shared: &Shared) {
    let Some((head, rest)) = read_head(&mut client) else { return };
    let request_line = head.lines().next().unwrap_or_default().to_owned();
    shared.log.lock().unwrap().push(request_line.clone());
    if let Some(fault) = take_fault(shared, &request_line) {
        match fault {
            Fault::Status { status, .. } => {
                let body = format!("injected {status}");
                let _ = write!(
                    client,
                    "HTTP/1.1 {status} Injected\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
            Fault::Reset { .. } => {}
        }
        let _ = client.shutdown(Shutdown::Both);
        return;
    }
    let Ok(mut upstream) = TcpStream::connect(&shared.upstream) else { return };
    let head: String =
        head.lines().filter(|l| !l.to_ascii_lowercase().starts_with("connection:") && !l.is_empty()).map(|l| format!("{l}\r\n")).collect();
    if upstream.write_all(format!("{head}Connection: close\r\n\r\n").as_bytes()).is_err() || upstream.write_all(&rest).is_err() {
        return;
    }
    let (mut client_read, mut upstream_write) = (client.try_clone().unwrap(), upstream.try_clone().unwrap());
    thread::spawn(move || {
        let _ = std::io::copy(&mut client_read, &mut upstream_write);
    });
    let _ = std::io::copy(&mut upstream, &mut client);
    let _ = client.shutdown(Shutdown::Both);
}

fn take_fault(shared: &Shared, request_line: &str) -> Option<Fault> {
    let mut faults = shared.faults.lock().unwrap();
    for fault in faults.iter_mut() {
        let (pattern, times) = match fault {
            Fault::Status { pattern, times, .. } | Fault::Reset { pattern, times } => (pattern, times),
        };
        if *times > 0 && request_line.contains(pattern.as_str()) {
            *times -= 1;
            return Some(fault.clone());
        }
    }
    None
}

fn read_head(stream: &mut TcpStream) -> Option<(String, Vec<u8>)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = stream.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end + 2]).into_owned();
            return Some((head, buf[end + 4..].to_vec()));
        }
        if buf.len() > 64 * 1024 {
            return None;
        }
    }
}
