//! The monitoring endpoint (Beats' `http.*` options, port 5066 by default): `GET /metrics`
//! (Prometheus text), `/healthz` (200 unless a worker or the output died), `/readyz` (200 while
//! capturing), `/` (an index). One small thread with a single-threaded tokio runtime; requests
//! are read with a size limit and a timeout, answered, and the connection closed.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::expose;
use super::registry::Telemetry;

/// Largest request head accepted.
const MAX_REQUEST: usize = 8 << 10;
/// Time a client has to send its request.
const READ_TIMEOUT: Duration = Duration::from_secs(5);
/// Connections served at once; more wait in the kernel's backlog.
const MAX_CONNECTIONS: usize = 32;

/// A running endpoint; the thread ends with the process.
#[derive(Debug)]
pub struct Server {
    /// The bound address (useful with port 0).
    pub addr: SocketAddr,
}

/// Bind `host:port` now (errors are start-up errors) and serve in the background.
pub fn serve(host: &str, port: u16, t: Arc<Telemetry>) -> Result<Server> {
    spawn(bind(host, port)?, t)
}

/// Bind the endpoint's socket (before privileges are dropped, the thread comes later).
pub fn bind(host: &str, port: u16) -> Result<std::net::TcpListener> {
    let l = std::net::TcpListener::bind((host, port)).with_context(|| {
        format!("cannot listen on {host}:{port} for the monitoring endpoint (http.host/http.port)")
    })?;
    l.set_nonblocking(true)?;
    Ok(l)
}

/// Serve a bound socket from a background thread.
pub fn spawn(std_listener: std::net::TcpListener, t: Arc<Telemetry>) -> Result<Server> {
    let addr = std_listener.local_addr()?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    std::thread::Builder::new()
        .name("http".into())
        .spawn(move || {
            rt.block_on(async move {
                let listener = match tokio::net::TcpListener::from_std(std_listener) {
                    Ok(l) => l,
                    Err(e) => {
                        eprintln!("sensor: monitoring endpoint: {e}");
                        return;
                    }
                };
                let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
                loop {
                    let Ok(permit) = slots.clone().acquire_owned().await else {
                        return;
                    };
                    let (sock, _) = match listener.accept().await {
                        Ok(c) => c,
                        Err(_) => {
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            continue;
                        }
                    };
                    let t = t.clone();
                    tokio::spawn(async move {
                        let _ = tokio::time::timeout(READ_TIMEOUT, handle(sock, &t)).await;
                        drop(permit);
                    });
                }
            });
        })?;
    Ok(Server { addr })
}

async fn handle(mut sock: tokio::net::TcpStream, t: &Telemetry) -> std::io::Result<()> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    let path = loop {
        let n = sock.read(&mut chunk).await?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(chunk.get(..n).unwrap_or_default());
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut req = httparse::Request::new(&mut headers);
        match req.parse(&buf) {
            Ok(httparse::Status::Complete(_)) => {
                let method = req.method.unwrap_or_default();
                if method != "GET" && method != "HEAD" {
                    return respond(&mut sock, 405, "text/plain", "only GET\n", false).await;
                }
                break req.path.unwrap_or("/").to_owned();
            }
            Ok(httparse::Status::Partial) if buf.len() < MAX_REQUEST => continue,
            _ => return respond(&mut sock, 400, "text/plain", "bad request\n", false).await,
        }
    };
    let head_only = buf.starts_with(b"HEAD");
    let path = path.split('?').next().unwrap_or_default();
    match path {
        "/metrics" => {
            let body = expose::prometheus(&t.samples());
            respond(
                &mut sock,
                200,
                "text/plain; version=0.0.4; charset=utf-8",
                &body,
                head_only,
            )
            .await
        }
        "/healthz" => {
            if t.is_healthy() {
                respond(&mut sock, 200, "text/plain", "ok\n", head_only).await
            } else {
                let why = t.problem().unwrap_or_default();
                respond(
                    &mut sock,
                    503,
                    "text/plain",
                    &format!("unhealthy: {why}\n"),
                    head_only,
                )
                .await
            }
        }
        "/readyz" => {
            if t.is_ready() {
                respond(&mut sock, 200, "text/plain", "ready\n", head_only).await
            } else {
                respond(&mut sock, 503, "text/plain", "not ready\n", head_only).await
            }
        }
        "/" => {
            respond(
                &mut sock,
                200,
                "text/plain",
                "sensor monitoring endpoint: /metrics /healthz /readyz\n",
                head_only,
            )
            .await
        }
        _ => respond(&mut sock, 404, "text/plain", "not found\n", head_only).await,
    }
}

async fn respond(
    sock: &mut tokio::net::TcpStream,
    code: u16,
    ctype: &str,
    body: &str,
    head_only: bool,
) -> std::io::Result<()> {
    let reason = match code {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        _ => "Service Unavailable",
    };
    let head = format!(
        "HTTP/1.1 {code} {reason}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    sock.write_all(head.as_bytes()).await?;
    if !head_only {
        sock.write_all(body.as_bytes()).await?;
    }
    sock.shutdown().await
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    fn get(addr: SocketAddr, path: &str) -> (u16, String) {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let mut r = String::new();
        s.read_to_string(&mut r).unwrap();
        let code = r.get(9..12).unwrap().parse().unwrap();
        let body = r.split_once("\r\n\r\n").unwrap().1.to_owned();
        (code, body)
    }

    #[test]
    fn endpoints() {
        let t = Telemetry::new(1);
        let srv = serve("127.0.0.1", 0, t.clone()).unwrap();
        assert_eq!(get(srv.addr, "/healthz").0, 200);
        assert_eq!(
            get(srv.addr, "/readyz").0,
            503,
            "not ready before capture starts"
        );
        t.set_ready(true);
        assert_eq!(get(srv.addr, "/readyz").0, 200);
        let (code, body) = get(srv.addr, "/metrics");
        assert_eq!(code, 200);
        assert!(
            body.contains("# TYPE sensor_output_events_total counter"),
            "{body}"
        );
        assert!(
            body.contains("sensor_process_resident_memory_bytes "),
            "{body}"
        );
        assert_eq!(get(srv.addr, "/nope").0, 404);
        t.set_unhealthy("worker 0 stopped".into());
        let (code, body) = get(srv.addr, "/healthz");
        assert_eq!(
            (code, body.as_str()),
            (503, "unhealthy: worker 0 stopped\n")
        );
        assert_eq!(get(srv.addr, "/readyz").0, 503);
        // Garbage and oversized requests get an answer, not a hang or a panic.
        let mut s = std::net::TcpStream::connect(srv.addr).unwrap();
        s.write_all(&[0xffu8; 9000]).unwrap();
        let mut r = String::new();
        let _ = s.read_to_string(&mut r);
        assert!(r.starts_with("HTTP/1.1 400"), "{r}");
    }
}
