//! One client connection: read frames, admit and parse requests, run each through the
//! [`RequestHandler`] and write the responses back strictly in request order.
//!
//! Three parts run inside the connection's task:
//! - the reader parses frames ahead of processing (bounded by [`READ_AHEAD_REQUESTS`]), so a
//!   pipelining client's next request is ready when the previous one finishes;
//! - the processor hands one request at a time to the handler, each as its own spawned task
//!   (a panicking or slow handler cannot stall other connections), and writes its response
//!   before starting the next. One at a time per connection is Kafka's contract (it mutes a
//!   channel until its response is sent): a producer's pipelined batches are appended in order;
//! - an idle watchdog closes the connection after `connections.max.idle.ms` without read or
//!   write progress (a client that stops reading its responses is idle too).
//!
//! Bad input (oversized or negative frame size, unparsable header, unknown api key,
//! unsupported version, truncated frame then EOF) stops reading; requests already read are
//! still answered, then the connection closes — what Kafka, which never reads ahead, shows.
//! Server shutdown and idle expiry close at once. A handler task still running when its
//! connection closes is left to finish (its side effects stay consistent); only its response
//! is dropped.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tracing::{debug, error};

use super::config::SocketServerConfig;
use super::connection_quotas::ConnectionSlot;
use super::frame::{self, SIZE_PREFIX_LEN};
use super::request_handler::{ConnectionContext, Request, RequestHandler, Response, ResponsePart};
use crate::log::FileRange;
use crate::protocol;

/// Requests parsed ahead of the one being processed. Small on purpose: each may be up to
/// `socket.request.max.bytes`, and the kernel's socket buffer already holds what follows.
pub const READ_AHEAD_REQUESTS: usize = 2;

/// Smallest read buffer growth (keeps syscalls few for pipelined small requests).
const MIN_READ_RESERVE: usize = 4 * 1024;
/// Largest single growth of the read buffer, so an announced-but-unsent large frame does not
/// pin its whole size in memory up front.
const MAX_READ_RESERVE: usize = 1024 * 1024;

/// Last read or write progress, shared by the connection's parts.
struct Activity {
    start: Instant,
    last_ms: AtomicU64,
}

impl Activity {
    fn new() -> Activity {
        Activity {
            start: Instant::now(),
            last_ms: AtomicU64::new(0),
        }
    }

    fn touch(&self) {
        let ms = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_ms.store(ms, Ordering::Relaxed);
    }

    fn last(&self) -> Instant {
        self.start + Duration::from_millis(self.last_ms.load(Ordering::Relaxed))
    }
}

/// Everything one connection task owns.
pub(crate) struct Connection {
    pub(crate) stream: TcpStream,
    pub(crate) context: Arc<ConnectionContext>,
    pub(crate) handler: Arc<dyn RequestHandler>,
    pub(crate) config: Arc<SocketServerConfig>,
    pub(crate) shutdown: watch::Receiver<bool>,
    /// Released when the task ends, whatever the exit path.
    pub(crate) slot: ConnectionSlot,
}

impl Connection {
    pub(crate) async fn run(self) {
        let Connection {
            stream,
            context,
            handler,
            config,
            mut shutdown,
            slot,
        } = self;
        let id = context.connection_id.clone();
        debug!("connection {id} opened (from {})", slot.ip());
        let (rd, wr) = stream.into_split();
        let (tx, rx) = mpsc::channel(READ_AHEAD_REQUESTS);
        let activity = Activity::new();
        let work = async {
            let reader =
                read_requests(rd, tx, &context, config.socket_request_max_bytes, &activity);
            let processor = process_requests(rx, wr, &handler, &id, &activity);
            tokio::pin!(processor);
            tokio::select! {
                // Reading ended (EOF or bad input): answer what was read, then close.
                () = reader => processor.await,
                // The processor closed (handler asked to, or the peer is gone).
                () = &mut processor => {}
            }
        };
        tokio::select! {
            () = work => debug!("connection {id} closed"),
            () = idle_watchdog(&activity, config.connections_max_idle) => {
                debug!("connection {id} closed: idle for {:?}", config.connections_max_idle);
            }
            () = wait_for_shutdown(&mut shutdown) => debug!("connection {id} closed: shutdown"),
        }
        drop(slot);
    }
}

/// Resolves once the server's shutdown flag is set (or the server is gone).
pub(crate) async fn wait_for_shutdown(shutdown: &mut watch::Receiver<bool>) {
    // An error means the sender (the SocketServer) was dropped: also a shutdown.
    let _ = shutdown.wait_for(|stop| *stop).await;
}

/// Resolves when `idle` has passed since the last activity; never when idle expiry is off.
async fn idle_watchdog(activity: &Activity, idle: Option<Duration>) {
    let Some(idle) = idle else {
        return std::future::pending().await;
    };
    loop {
        let deadline = activity.last() + idle;
        if Instant::now() >= deadline {
            return;
        }
        tokio::time::sleep_until(deadline).await;
    }
}

/// Reads frames and queues parsed requests until EOF, bad input, or the processor is gone.
async fn read_requests(
    mut rd: OwnedReadHalf,
    tx: mpsc::Sender<Request>,
    context: &Arc<ConnectionContext>,
    max_frame: usize,
    activity: &Activity,
) {
    let id = &context.connection_id;
    let mut buf = BytesMut::new();
    loop {
        match frame::try_split_frame(&mut buf, max_frame) {
            Ok(Some(payload)) => {
                let parsed = match protocol::parse_request(payload) {
                    Ok(parsed) => parsed,
                    Err(e) => {
                        debug!("closing connection {id} due to invalid request: {e}");
                        return;
                    }
                };
                let request = Request {
                    connection: Arc::clone(context),
                    parsed,
                };
                if tx.send(request).await.is_err() {
                    return;
                }
                continue;
            }
            Ok(None) => {}
            Err(e) => {
                debug!("closing connection {id}: {e}");
                return;
            }
        }
        // Grow towards the rest of the current frame, in bounded steps.
        let needed = match frame::announced_size(&buf, max_frame) {
            Ok(Some(size)) => (SIZE_PREFIX_LEN + size).saturating_sub(buf.len()),
            _ => SIZE_PREFIX_LEN,
        };
        buf.reserve(needed.clamp(MIN_READ_RESERVE, MAX_READ_RESERVE));
        match rd.read_buf(&mut buf).await {
            Ok(0) => {
                if !buf.is_empty() {
                    debug!(
                        "closing connection {id}: EOF inside a frame ({} bytes buffered)",
                        buf.len()
                    );
                }
                return;
            }
            Ok(_) => activity.touch(),
            Err(e) => {
                debug!("closing connection {id}: read failed: {e}");
                return;
            }
        }
    }
}

/// Handles queued requests one at a time and writes their responses in order.
async fn process_requests(
    mut rx: mpsc::Receiver<Request>,
    mut wr: OwnedWriteHalf,
    handler: &Arc<dyn RequestHandler>,
    id: &str,
    activity: &Activity,
) {
    while let Some(request) = rx.recv().await {
        let api_key = request.parsed.api_key();
        let correlation_id = request.parsed.correlation_id();
        // Its own task: a panic in a handler is contained (JoinError) and closes only this
        // connection, and the handler keeps running to completion even if we go away.
        let response = match tokio::spawn(handler.handle(request)).await {
            Ok(response) => response,
            Err(e) => {
                error!(
                    "handler for {api_key:?} (correlation id {correlation_id}) on {id} failed: {e}"
                );
                return;
            }
        };
        match response {
            Response::Send(payload) => {
                if let Err(e) = write_frame(&mut wr, payload).await {
                    debug!("closing connection {id}: write failed: {e}");
                    return;
                }
                activity.touch();
            }
            Response::SendParts(parts) => {
                if let Err(e) = write_parts(&mut wr, parts).await {
                    debug!("closing connection {id}: write failed: {e}");
                    return;
                }
                activity.touch();
            }
            Response::NoResponse => {}
            Response::CloseConnection => {
                debug!("closing connection {id}: handler of {api_key:?} asked to close");
                return;
            }
        }
    }
    // All answered: send FIN so the peer sees a clean end after the last response.
    let _ = wr.shutdown().await;
}

/// Writes size prefix + payload in one vectored write where the OS allows.
async fn write_frame(wr: &mut OwnedWriteHalf, payload: Bytes) -> std::io::Result<()> {
    let prefix = frame::size_prefix(payload.len()).ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!(
                "response of {} bytes exceeds the protocol limit",
                payload.len()
            ),
        )
    })?;
    let mut out = Buf::chain(&prefix[..], payload);
    wr.write_all_buf(&mut out).await
}

/// Writes size prefix + parts: byte parts with ordinary writes, file ranges with sendfile(2)
/// straight from the page cache to the socket.
async fn write_parts(wr: &mut OwnedWriteHalf, parts: Vec<ResponsePart>) -> std::io::Result<()> {
    let total: u64 = parts.iter().map(ResponsePart::len).sum();
    let prefix = usize::try_from(total)
        .ok()
        .and_then(frame::size_prefix)
        .ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("response of {total} bytes exceeds the protocol limit"),
            )
        })?;
    wr.write_all(&prefix).await?;
    for part in parts {
        match part {
            ResponsePart::Bytes(bytes) => wr.write_all(&bytes).await?,
            ResponsePart::File(range) => send_file_range(wr, &range).await?,
        }
    }
    Ok(())
}

/// Sends a file range with sendfile, waiting for socket space between partial sends. A file
/// that ends before the range does (truncated under us) is an error: the size prefix already
/// promised those bytes, so the connection must close.
async fn send_file_range(wr: &mut OwnedWriteHalf, range: &FileRange) -> std::io::Result<()> {
    let mut offset = i64::try_from(range.position)
        .map_err(|_| std::io::Error::other("file position beyond i64"))?;
    let mut remaining = range.len;
    let stream: &TcpStream = wr.as_ref();
    while remaining > 0 {
        stream.writable().await?;
        let chunk = usize::try_from(remaining.min(1 << 30)).unwrap_or(1 << 30);
        let sent = stream.try_io(tokio::io::Interest::WRITABLE, || {
            nix::sys::sendfile::sendfile64(stream, range.file.as_ref(), Some(&mut offset), chunk)
                .map_err(std::io::Error::from)
        });
        match sent {
            Ok(0) => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "log file ended inside the range being sent",
                ))
            }
            Ok(n) => remaining -= n as u64,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
