//! `wait-control-plane`: wait for a healthy kubelet (`http://127.0.0.1:10248/healthz`), then for a
//! healthy API server (`/livez` through the admin kubeconfig; `[api-check]`, before v1.33) or
//! for every control-plane component (`[control-plane-check]`, v1.33+), each within its timeout.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

mod components;

pub use components::{ComponentCheck, component_checks, wait_for_components};

/// The kubelet's healthz endpoint kubeadm configures (`healthzBindAddress`:`healthzPort`).
pub const KUBELET_HEALTHZ: &str = "127.0.0.1:10248";

/// How often the waits ask (kubeadm polls every 500 ms).
pub const POLL: Duration = Duration::from_millis(500);

/// Something did not become healthy in time.
#[derive(Debug, thiserror::Error)]
pub enum WaitError {
    /// The kubelet.
    #[error(
        "the kubelet is not healthy after {0:?}: it may not be running (`systemctl status kubelet`, `journalctl -xeu kubelet`), or its configuration is wrong"
    )]
    Kubelet(Duration),
    /// The API server.
    #[error(
        "the API server is not healthy after {0:?}: check the control-plane containers (`crictl --runtime-endpoint … ps -a`, then `crictl logs`)"
    )]
    ApiServer(Duration),
}

/// kubeadm's duration form (`4m0s`).
pub fn go_duration(d: Duration) -> String {
    let secs = d.as_secs();
    match (secs / 3600, secs % 3600 / 60, secs % 60) {
        (0, 0, s) => format!("{s}s"),
        (0, m, s) => format!("{m}m{s}s"),
        (h, m, s) => format!("{h}h{m}m{s}s"),
    }
}

/// Polls `GET /healthz` on `addr` until it answers 200, every `interval`, for at most `timeout`.
/// Returns how long it took.
pub async fn kubelet_healthy(addr: SocketAddr, timeout: Duration, interval: Duration) -> Result<Duration, WaitError> {
    let start = Instant::now();
    loop {
        if healthz_ok(addr).await {
            return Ok(start.elapsed());
        }
        if start.elapsed() >= timeout {
            return Err(WaitError::Kubelet(timeout));
        }
        tokio::time::sleep(interval).await;
    }
}

async fn healthz_ok(addr: SocketAddr) -> bool {
    let attempt = async {
        let mut stream = tokio::net::TcpStream::connect(addr).await.ok()?;
        stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").await.ok()?;
        let mut response = Vec::new();
        stream.read_to_end(&mut response).await.ok()?;
        Some(response.starts_with(b"HTTP/1.1 200") || response.starts_with(b"HTTP/1.0 200"))
    };
    tokio::time::timeout(Duration::from_secs(2), attempt).await.ok().flatten().unwrap_or(false)
}

/// Polls the API server's `/livez` through `client` until it says `ok`, every `interval`, for at
/// most `timeout`. Returns how long it took.
pub async fn api_server_healthy(client: &kube::Client, timeout: Duration, interval: Duration) -> Result<Duration, WaitError> {
    let start = Instant::now();
    loop {
        let request = http::Request::get("/livez").body(Vec::new());
        if let Ok(request) = request
            && let Ok(Ok(body)) = tokio::time::timeout(Duration::from_secs(10), client.request_text(request)).await
            && body.trim() == "ok"
        {
            return Ok(start.elapsed());
        }
        if start.elapsed() >= timeout {
            return Err(WaitError::ApiServer(timeout));
        }
        tokio::time::sleep(interval).await;
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    use super::*;

    #[test]
    fn durations_print_as_go_does() {
        assert_eq!(go_duration(Duration::from_secs(240)), "4m0s");
        assert_eq!(go_duration(Duration::from_secs(5)), "5s");
        assert_eq!(go_duration(Duration::from_secs(3723)), "1h2m3s");
    }

    /// A listener answering 503 `fails` times, then 200 `ok`, as the kubelet's healthz does
    /// while it starts.
    async fn healthz_server(fails: usize) -> SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            for n in 0.. {
                let (mut stream, _) = listener.accept().await.unwrap();
                let mut request = [0u8; 1024];
                let _ = stream.read(&mut request).await;
                let response = if n < fails { "HTTP/1.1 503 Service Unavailable\r\n\r\n" } else { "HTTP/1.1 200 OK\r\n\r\nok" };
                let _ = stream.write_all(response.as_bytes()).await;
            }
        });
        addr
    }

    #[tokio::test]
    async fn kubelet_check_waits_for_200_and_gives_up_at_the_timeout() {
        let addr = healthz_server(3).await;
        let took = kubelet_healthy(addr, Duration::from_secs(5), Duration::from_millis(10)).await.unwrap();
        assert!(took < Duration::from_secs(5));
        let nobody = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
        let err = kubelet_healthy(nobody, Duration::from_millis(100), Duration::from_millis(20)).await.unwrap_err();
        assert!(err.to_string().contains("the kubelet is not healthy after"), "{err}");
    }

    #[tokio::test]
    async fn api_check_polls_livez_until_ok() {
        let (service, handle) = tower_test::mock::pair::<http::Request<kube::client::Body>, http::Response<kube::client::Body>>();
        let server = tokio::spawn(async move {
            let mut handle = std::pin::pin!(handle);
            for answer in [(500, "[-]etcd failed"), (200, "ok")] {
                let (request, send) = handle.next_request().await.unwrap();
                assert_eq!(request.method(), http::Method::GET);
                assert_eq!(request.uri().path(), "/livez");
                send.send_response(
                    http::Response::builder().status(answer.0).body(kube::client::Body::from(answer.1.as_bytes().to_vec())).unwrap(),
                );
            }
        });
        let client = kube::Client::new(service, "default");
        api_server_healthy(&client, Duration::from_secs(5), Duration::from_millis(10)).await.unwrap();
        server.await.unwrap();
    }
}
