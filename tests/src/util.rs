//! Small helpers shared by the harness and the tests: free ports, bounded polling, log tails.
//!
//! Every loop in here is bounded by a timeout: a test must fail with a message, never hang.

use std::future::Future;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

/// A TCP port on 127.0.0.1 that was free a moment ago (bind to port 0, read it, release it).
///
/// Another process may grab it before we use it; code that binds it (ZooKeeper, the broker)
/// should retry on "address in use".
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0 to find a free port");
    listener
        .local_addr()
        .expect("local_addr of a bound listener")
        .port()
}

/// Polls `f` every `poll_interval` until it returns `Some`, for at most `timeout`.
/// `f` is always called at least once (and once more after the deadline has passed).
pub fn poll_until<T>(
    timeout: Duration,
    poll_interval: Duration,
    mut f: impl FnMut() -> Option<T>,
) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        let now = Instant::now();
        if now >= deadline {
            return None;
        }
        std::thread::sleep(poll_interval.min(deadline - now));
        if Instant::now() >= deadline {
            // One last try at the deadline.
            return f();
        }
    }
}

/// Polls `f` every `poll_interval` until it returns true, for at most `timeout`.
/// Returns whether the condition was met.
pub fn wait_until(timeout: Duration, poll_interval: Duration, mut f: impl FnMut() -> bool) -> bool {
    poll_until(timeout, poll_interval, || f().then_some(())).is_some()
}

/// Like [`wait_until`], but panics with `what` (e.g. "broker 1 registered") on timeout.
pub fn wait_for(what: &str, timeout: Duration, poll_interval: Duration, f: impl FnMut() -> bool) {
    assert!(
        wait_until(timeout, poll_interval, f),
        "timed out after {timeout:?} waiting for: {what}"
    );
}

/// Async variant of [`poll_until`]: awaits `f()` every `poll_interval` until it yields `Some`,
/// for at most `timeout`. A single slow `f()` call is also cut off at the deadline.
pub async fn poll_until_async<T, F, Fut>(
    timeout: Duration,
    poll_interval: Duration,
    mut f: F,
) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        match tokio::time::timeout_at(deadline, f()).await {
            Ok(Some(v)) => return Some(v),
            Ok(None) => {}
            Err(_elapsed) => return None,
        }
        let now = tokio::time::Instant::now();
        if now >= deadline {
            return None;
        }
        tokio::time::sleep(poll_interval.min(deadline - now)).await;
    }
}

/// Async variant of [`wait_until`].
pub async fn wait_until_async<F, Fut>(timeout: Duration, poll_interval: Duration, mut f: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    poll_until_async(timeout, poll_interval, || {
        let fut = f();
        async move { fut.await.then_some(()) }
    })
    .await
    .is_some()
}

/// Async variant of [`wait_for`]: panics with `what` on timeout.
pub async fn wait_for_async<F, Fut>(what: &str, timeout: Duration, poll_interval: Duration, f: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    assert!(
        wait_until_async(timeout, poll_interval, f).await,
        "timed out after {timeout:?} waiting for: {what}"
    );
}

/// True if something accepts TCP connections on `127.0.0.1:port` (1 s connect timeout).
pub fn port_is_open(port: u16) -> bool {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_ok()
}

/// The last `n` lines of `text`.
pub fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// The file's content as (lossy) UTF-8, or a note saying why it could not be read.
pub fn read_lossy(path: &Path) -> String {
    match std::fs::read(path) {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(e) => format!("<could not read {}: {e}>", path.display()),
    }
}

/// The last `n` lines of the file at `path` (for failure messages).
pub fn tail_file(path: &Path, n: usize) -> String {
    tail(&read_lossy(path), n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_ports_are_bindable() {
        let port = free_port();
        assert_ne!(port, 0);
        TcpListener::bind(("127.0.0.1", port)).expect("the free port can be bound");
    }

    #[test]
    fn polling_is_bounded() {
        let start = Instant::now();
        assert!(!wait_until(
            Duration::from_millis(200),
            Duration::from_millis(20),
            || false
        ));
        assert!(start.elapsed() < Duration::from_secs(2));
        let mut n = 0;
        assert_eq!(
            poll_until(Duration::from_secs(5), Duration::from_millis(1), || {
                n += 1;
                (n == 3).then_some(n)
            }),
            Some(3)
        );
    }

    #[tokio::test]
    async fn async_polling_is_bounded() {
        let start = Instant::now();
        // A condition whose single evaluation never finishes is still cut off.
        let hung = wait_until_async(
            Duration::from_millis(200),
            Duration::from_millis(20),
            || async {
                std::future::pending::<()>().await;
                true
            },
        )
        .await;
        assert!(!hung);
        assert!(start.elapsed() < Duration::from_secs(2));
        let mut n = 0;
        let found = poll_until_async(Duration::from_secs(5), Duration::from_millis(1), || {
            n += 1;
            let v = n;
            async move { (v == 3).then_some(v) }
        })
        .await;
        assert_eq!(found, Some(3));
    }

    #[test]
    fn tail_takes_last_lines() {
        assert_eq!(tail("a\nb\nc\n", 2), "b\nc");
        assert_eq!(tail("a", 5), "a");
        assert_eq!(tail("", 5), "");
    }
}
