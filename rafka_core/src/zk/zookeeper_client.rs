//! The ZooKeeper session task: the only owner of the broker's ZooKeeper session.
//!
//! Other tasks hold a cheap [`ZooKeeperClient`] handle and send it typed [`ZkOp`]s; the task
//! issues each one on the session and answers on a `oneshot`, so requests are pipelined and no
//! caller waits behind another. Watch notifications and session changes are forwarded as
//! [`ZkEvent`]s to one subscriber (Majordomo). When the session expires the task opens a new one
//! with a bounded back-off (never a busy loop) and announces it with [`ZkEvent::NewSession`]:
//! re-registering and re-arming watches is the subscriber's job, as in Kafka's
//! `ZooKeeperClient` + state-change handlers.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tracing::{debug, info, warn};
use zookeeper_client as zkc;

pub use zookeeper_client::Stat;

use super::connect_string::ZkConnectString;
use super::error::ZkError;

/// How a znode is created.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CreateMode {
    Persistent,
    PersistentSequential,
    Ephemeral,
}

impl CreateMode {
    fn to_zk(self) -> zkc::CreateMode {
        match self {
            CreateMode::Persistent => zkc::CreateMode::Persistent,
            CreateMode::PersistentSequential => zkc::CreateMode::PersistentSequential,
            CreateMode::Ephemeral => zkc::CreateMode::Ephemeral,
        }
    }
}

/// One operation inside a ZooKeeper `multi` transaction.
#[derive(Clone, Debug)]
pub enum MultiOp {
    Check {
        path: String,
        version: i32,
    },
    Create {
        path: String,
        data: Vec<u8>,
        mode: CreateMode,
    },
    SetData {
        path: String,
        data: Vec<u8>,
        version: Option<i32>,
    },
    Delete {
        path: String,
        version: Option<i32>,
    },
}

/// The result of one successful [`MultiOp`].
#[derive(Clone, Debug)]
pub enum MultiOpResult {
    Check,
    Create { path: String, stat: Stat },
    SetData { stat: Stat },
    Delete,
}

/// A request to the session task. `watch` asks for a one-shot watch whose firing is reported
/// as a [`ZkEvent::Watch`].
#[derive(Debug)]
pub enum ZkOp {
    GetData {
        path: String,
        watch: bool,
    },
    GetChildren {
        path: String,
        watch: bool,
    },
    Exists {
        path: String,
        watch: bool,
    },
    Create {
        path: String,
        data: Vec<u8>,
        mode: CreateMode,
    },
    /// Creates the path and any missing parents as persistent null-data znodes (no error if
    /// it exists).
    CreateRecursive {
        path: String,
    },
    SetData {
        path: String,
        data: Vec<u8>,
        version: Option<i32>,
    },
    Delete {
        path: String,
        version: Option<i32>,
    },
    Multi {
        ops: Vec<MultiOp>,
    },
    /// The current and the previous (expired) session ids.
    SessionIds,
    /// Closes the session (its ephemerals vanish at once) and stops the task.
    Close,
}

/// The successful answer to a [`ZkOp`].
#[derive(Debug)]
pub enum ZkReply {
    Data(Vec<u8>, Stat),
    Children(Vec<String>, Stat),
    Exists(Option<Stat>),
    Created(String, Stat),
    Done,
    SetData(Stat),
    Multi(Vec<MultiOpResult>),
    SessionIds { current: i64, previous: Option<i64> },
}

/// The kind of change a watch reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WatchKind {
    Created,
    Deleted,
    DataChanged,
    ChildrenChanged,
}

/// What the session task tells its subscriber.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ZkEvent {
    /// A one-shot watch fired for `path` (relative to the chroot).
    Watch { path: String, kind: WatchKind },
    /// The connection dropped; the session may still be alive (requests are retried by the
    /// client library once reconnected).
    Disconnected,
    /// Reconnected within the same session.
    Reconnected,
    /// The session expired: its ephemerals and watches are gone.
    SessionExpired,
    /// A new session is open; ephemerals must be re-created and watches re-armed.
    NewSession { session_id: i64 },
}

type Reply = oneshot::Sender<Result<ZkReply, ZkError>>;

struct ZkRequest {
    op: ZkOp,
    reply: Reply,
}

/// Settings for opening sessions.
#[derive(Clone, Debug)]
pub struct ZkClientSettings {
    pub connect: ZkConnectString,
    pub session_timeout: Duration,
    /// Kafka's `zookeeper.connection.timeout.ms`: how long one attempt to open a session may take.
    pub connection_timeout: Duration,
}

/// Handle to the session task. Cloning is cheap; every clone talks to the same session.
#[derive(Clone, Debug)]
pub struct ZooKeeperClient {
    requests: mpsc::Sender<ZkRequest>,
}

impl ZooKeeperClient {
    /// Opens the first session (creating the chroot if missing) and spawns the session task.
    /// Fails after `connection_timeout` when no server answers, as Kafka's startup does.
    pub async fn start(
        settings: ZkClientSettings,
        events: mpsc::UnboundedSender<ZkEvent>,
    ) -> Result<(ZooKeeperClient, JoinHandle<()>), ZkError> {
        let client = open_session(&settings).await?;
        info!(
            session_id = format!("{:#x}", client.session_id().0),
            servers = %settings.connect.hosts,
            chroot = settings.connect.chroot.as_deref().unwrap_or("/"),
            "ZooKeeper session established"
        );
        let (tx, rx) = mpsc::channel(1024);
        let task = SessionTask {
            settings,
            state: SessionState::Connected(Connected::new(client)),
            previous_session: None,
            events,
            requests: rx,
        };
        let handle = tokio::spawn(task.run());
        Ok((ZooKeeperClient { requests: tx }, handle))
    }

    /// Sends one operation and waits for its answer.
    pub async fn request(&self, op: ZkOp) -> Result<ZkReply, ZkError> {
        let (reply, rx) = oneshot::channel();
        self.requests
            .send(ZkRequest { op, reply })
            .await
            .map_err(|_| ZkError::Closed)?;
        rx.await.map_err(|_| ZkError::Closed)?
    }

    pub async fn get_data(&self, path: &str, watch: bool) -> Result<(Vec<u8>, Stat), ZkError> {
        match self
            .request(ZkOp::GetData {
                path: path.into(),
                watch,
            })
            .await?
        {
            ZkReply::Data(d, s) => Ok((d, s)),
            other => Err(ZkError::unexpected(path, &other)),
        }
    }

    /// Like [`get_data`](Self::get_data) but `None` when the znode does not exist.
    pub async fn get_data_opt(
        &self,
        path: &str,
        watch: bool,
    ) -> Result<Option<(Vec<u8>, Stat)>, ZkError> {
        match self.get_data(path, watch).await {
            Ok(v) => Ok(Some(v)),
            Err(ZkError::NoNode { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub async fn get_children(&self, path: &str, watch: bool) -> Result<Vec<String>, ZkError> {
        match self
            .request(ZkOp::GetChildren {
                path: path.into(),
                watch,
            })
            .await?
        {
            ZkReply::Children(c, _) => Ok(c),
            other => Err(ZkError::unexpected(path, &other)),
        }
    }

    pub async fn exists(&self, path: &str, watch: bool) -> Result<Option<Stat>, ZkError> {
        match self
            .request(ZkOp::Exists {
                path: path.into(),
                watch,
            })
            .await?
        {
            ZkReply::Exists(s) => Ok(s),
            other => Err(ZkError::unexpected(path, &other)),
        }
    }

    /// Creates a znode; returns the created path (with the sequence suffix if sequential).
    pub async fn create(
        &self,
        path: &str,
        data: Vec<u8>,
        mode: CreateMode,
    ) -> Result<(String, Stat), ZkError> {
        match self
            .request(ZkOp::Create {
                path: path.into(),
                data,
                mode,
            })
            .await?
        {
            ZkReply::Created(p, s) => Ok((p, s)),
            other => Err(ZkError::unexpected(path, &other)),
        }
    }

    pub async fn create_recursive(&self, path: &str) -> Result<(), ZkError> {
        self.request(ZkOp::CreateRecursive { path: path.into() })
            .await
            .map(|_| ())
    }

    pub async fn set_data(
        &self,
        path: &str,
        data: Vec<u8>,
        version: Option<i32>,
    ) -> Result<Stat, ZkError> {
        match self
            .request(ZkOp::SetData {
                path: path.into(),
                data,
                version,
            })
            .await?
        {
            ZkReply::SetData(s) => Ok(s),
            other => Err(ZkError::unexpected(path, &other)),
        }
    }

    pub async fn delete(&self, path: &str, version: Option<i32>) -> Result<(), ZkError> {
        self.request(ZkOp::Delete {
            path: path.into(),
            version,
        })
        .await
        .map(|_| ())
    }

    /// Runs the operations atomically; on failure the error says which operation failed.
    pub async fn multi(&self, ops: Vec<MultiOp>) -> Result<Vec<MultiOpResult>, ZkError> {
        match self.request(ZkOp::Multi { ops }).await? {
            ZkReply::Multi(r) => Ok(r),
            other => Err(ZkError::unexpected("multi", &other)),
        }
    }

    /// Closes the session and stops the task; later requests fail with [`ZkError::Closed`].
    pub async fn close(&self) {
        let _ = self.request(ZkOp::Close).await;
    }

    /// `(current session id, previous expired session id)`.
    pub async fn session_ids(&self) -> Result<(i64, Option<i64>), ZkError> {
        match self.request(ZkOp::SessionIds).await? {
            ZkReply::SessionIds { current, previous } => Ok((current, previous)),
            other => Err(ZkError::unexpected("session", &other)),
        }
    }
}

/// A live session and the watcher of its state.
struct Connected {
    client: zkc::Client,
    state: zkc::StateWatcher,
}

impl Connected {
    fn new(client: zkc::Client) -> Connected {
        let state = client.state_watcher();
        Connected { client, state }
    }
}

type ConnectFuture = Pin<Box<dyn Future<Output = Result<zkc::Client, ZkError>> + Send>>;

/// What one turn of the session loop decided.
enum Step {
    Continue,
    Close(Option<Reply>),
    State(zkc::SessionState),
    Reconnected(Result<zkc::Client, ZkError>, u32),
}

enum SessionState {
    Connected(Connected),
    /// Waiting for a new session; the future sleeps the back-off first.
    Reconnecting {
        attempt: u32,
        future: ConnectFuture,
    },
}

struct SessionTask {
    settings: ZkClientSettings,
    state: SessionState,
    previous_session: Option<i64>,
    events: mpsc::UnboundedSender<ZkEvent>,
    requests: mpsc::Receiver<ZkRequest>,
}

/// Back-off between attempts to open a new session: 1 s as Kafka, doubling to 16 s.
fn reconnect_backoff(attempt: u32) -> Duration {
    Duration::from_millis(1000u64 << attempt.min(4))
}

impl SessionTask {
    async fn run(mut self) {
        loop {
            let step = match &mut self.state {
                SessionState::Connected(conn) => tokio::select! {
                    req = self.requests.recv() => match req {
                        Some(ZkRequest { op: ZkOp::SessionIds, reply }) => {
                            let current = conn.client.session_id().0;
                            let previous = self.previous_session;
                            let _ = reply.send(Ok(ZkReply::SessionIds { current, previous }));
                            Step::Continue
                        }
                        Some(ZkRequest { op: ZkOp::Close, reply }) => Step::Close(Some(reply)),
                        Some(req) => {
                            dispatch(&conn.client, req, &self.events);
                            Step::Continue
                        }
                        None => Step::Close(None),
                    },
                    state = conn.state.changed() => Step::State(state),
                },
                SessionState::Reconnecting { attempt, future } => tokio::select! {
                    req = self.requests.recv() => match req {
                        Some(ZkRequest { op: ZkOp::Close, reply }) => Step::Close(Some(reply)),
                        // No session: fail fast, the caller retries after NewSession.
                        Some(req) => {
                            let _ = req.reply.send(Err(ZkError::NotConnected));
                            Step::Continue
                        }
                        None => Step::Close(None),
                    },
                    res = future => Step::Reconnected(res, *attempt),
                },
            };
            match step {
                Step::Continue => {}
                Step::Close(reply) => {
                    self.close().await;
                    if let Some(reply) = reply {
                        let _ = reply.send(Ok(ZkReply::Done));
                    }
                    return;
                }
                Step::State(state) => self.on_state(state),
                Step::Reconnected(res, attempt) => self.on_reconnect(res, attempt),
            }
        }
    }

    fn on_state(&mut self, state: zkc::SessionState) {
        use zkc::SessionState as S;
        match state {
            S::Disconnected => {
                warn!("ZooKeeper connection lost; the client reconnects within the session");
                let _ = self.events.send(ZkEvent::Disconnected);
            }
            S::SyncConnected | S::ConnectedReadOnly => {
                info!("ZooKeeper connection re-established");
                let _ = self.events.send(ZkEvent::Reconnected);
            }
            S::Expired | S::Closed | S::AuthFailed => {
                if let SessionState::Connected(conn) = &self.state {
                    self.previous_session = Some(conn.client.session_id().0);
                }
                warn!(state = %state, "ZooKeeper session ended; opening a new one");
                let _ = self.events.send(ZkEvent::SessionExpired);
                self.start_reconnect(0);
            }
        }
    }

    fn start_reconnect(&mut self, attempt: u32) {
        let settings = self.settings.clone();
        // The first attempt after an expiry goes at once; failures back off.
        let delay = if attempt == 0 {
            Duration::ZERO
        } else {
            reconnect_backoff(attempt - 1)
        };
        let future: ConnectFuture = Box::pin(async move {
            tokio::time::sleep(delay).await;
            open_session(&settings).await
        });
        self.state = SessionState::Reconnecting { attempt, future };
    }

    fn on_reconnect(&mut self, res: Result<zkc::Client, ZkError>, attempt: u32) {
        match res {
            Ok(client) => {
                let session_id = client.session_id().0;
                info!(
                    session_id = format!("{session_id:#x}"),
                    "new ZooKeeper session established"
                );
                self.state = SessionState::Connected(Connected::new(client));
                let _ = self.events.send(ZkEvent::NewSession { session_id });
            }
            Err(e) => {
                let next = attempt + 1;
                warn!(error = %e, retry_in_ms = reconnect_backoff(attempt).as_millis() as u64,
                    "could not open a ZooKeeper session");
                self.start_reconnect(next);
            }
        }
    }

    /// Closes the session so that our ephemeral znodes vanish at once.
    async fn close(&mut self) {
        let state = std::mem::replace(
            &mut self.state,
            SessionState::Reconnecting {
                attempt: 0,
                future: Box::pin(std::future::pending()),
            },
        );
        if let SessionState::Connected(conn) = state {
            let mut state = conn.state;
            drop(conn.client);
            let closed = async {
                loop {
                    if state.changed().await.is_terminated() {
                        break;
                    }
                }
            };
            if tokio::time::timeout(Duration::from_secs(3), closed)
                .await
                .is_err()
            {
                warn!("ZooKeeper session did not close within 3 s");
            } else {
                info!("ZooKeeper session closed");
            }
        }
    }
}

/// Opens a session: first creates the chroot through a chroot-less session (as Kafka does),
/// then connects under the chroot.
async fn open_session(settings: &ZkClientSettings) -> Result<zkc::Client, ZkError> {
    let connect = async {
        let connector = || {
            zkc::Client::connector()
                .with_session_timeout(settings.session_timeout)
                .with_connection_timeout(settings.connection_timeout.min(settings.session_timeout))
        };
        if let Some(chroot) = &settings.connect.chroot {
            let bare = connector()
                .connect(&settings.connect.hosts)
                .await
                .map_err(|e| ZkError::from_zk(e, "connect"))?;
            create_recursive(&bare, chroot).await?;
            drop(bare);
        }
        connector()
            .connect(&settings.connect.full())
            .await
            .map_err(|e| ZkError::from_zk(e, "connect"))
    };
    match tokio::time::timeout(settings.connection_timeout, connect).await {
        Ok(r) => r,
        Err(_) => Err(ZkError::ConnectTimeout {
            servers: settings.connect.hosts.clone(),
            timeout_ms: settings.connection_timeout.as_millis() as u64,
        }),
    }
}

const OPEN_ACL: zkc::Acls<'static> = zkc::Acls::anyone_all();

async fn create_recursive(client: &zkc::Client, path: &str) -> Result<(), ZkError> {
    let mut prefix = String::new();
    for part in path.split('/').filter(|p| !p.is_empty()) {
        prefix.push('/');
        prefix.push_str(part);
        match client
            .create(
                &prefix,
                &[],
                &zkc::CreateMode::Persistent.with_acls(OPEN_ACL),
            )
            .await
        {
            Ok(_) | Err(zkc::Error::NodeExists) => {}
            Err(e) => return Err(ZkError::from_zk(e, &prefix)),
        }
    }
    Ok(())
}

fn watch_kind(event: &zkc::WatchedEvent) -> Option<WatchKind> {
    match event.event_type {
        zkc::EventType::NodeCreated => Some(WatchKind::Created),
        zkc::EventType::NodeDeleted => Some(WatchKind::Deleted),
        zkc::EventType::NodeDataChanged => Some(WatchKind::DataChanged),
        zkc::EventType::NodeChildrenChanged => Some(WatchKind::ChildrenChanged),
        // Session events end a watch without a change; NewSession triggers re-arming.
        zkc::EventType::Session => None,
    }
}

fn forward_watch(watcher: zkc::OneshotWatcher, events: mpsc::UnboundedSender<ZkEvent>) {
    tokio::spawn(async move {
        let event = watcher.changed().await;
        if let Some(kind) = watch_kind(&event) {
            debug!(path = %event.path, ?kind, "watch fired");
            let _ = events.send(ZkEvent::Watch {
                path: event.path,
                kind,
            });
        }
    });
}

/// Issues `req` on the session and answers from a spawned task, so the session task never
/// waits on ZooKeeper.
fn dispatch(client: &zkc::Client, req: ZkRequest, events: &mpsc::UnboundedSender<ZkEvent>) {
    let client = client.clone();
    let events = events.clone();
    tokio::spawn(async move {
        let ZkRequest { op, reply } = req;
        let result = execute(&client, op, &events).await;
        let _ = reply.send(result);
    });
}

async fn execute(
    client: &zkc::Client,
    op: ZkOp,
    events: &mpsc::UnboundedSender<ZkEvent>,
) -> Result<ZkReply, ZkError> {
    let err = |path: &str| {
        let path = path.to_string();
        move |e: zkc::Error| ZkError::from_zk(e, &path)
    };
    match op {
        ZkOp::GetData { path, watch: false } => {
            let (d, s) = client.get_data(&path).await.map_err(err(&path))?;
            Ok(ZkReply::Data(d, s))
        }
        ZkOp::GetData { path, watch: true } => {
            let (d, s, w) = client.get_and_watch_data(&path).await.map_err(err(&path))?;
            forward_watch(w, events.clone());
            Ok(ZkReply::Data(d, s))
        }
        ZkOp::GetChildren { path, watch: false } => {
            let (c, s) = client.get_children(&path).await.map_err(err(&path))?;
            Ok(ZkReply::Children(c, s))
        }
        ZkOp::GetChildren { path, watch: true } => {
            let (c, s, w) = client
                .get_and_watch_children(&path)
                .await
                .map_err(err(&path))?;
            forward_watch(w, events.clone());
            Ok(ZkReply::Children(c, s))
        }
        ZkOp::Exists { path, watch: false } => {
            let s = client.check_stat(&path).await.map_err(err(&path))?;
            Ok(ZkReply::Exists(s))
        }
        ZkOp::Exists { path, watch: true } => {
            let (s, w) = client
                .check_and_watch_stat(&path)
                .await
                .map_err(err(&path))?;
            forward_watch(w, events.clone());
            Ok(ZkReply::Exists(s))
        }
        ZkOp::Create { path, data, mode } => {
            let (stat, seq) = client
                .create(&path, &data, &mode.to_zk().with_acls(OPEN_ACL))
                .await
                .map_err(err(&path))?;
            let created = if mode == CreateMode::PersistentSequential {
                format!("{path}{seq}")
            } else {
                path
            };
            Ok(ZkReply::Created(created, stat))
        }
        ZkOp::CreateRecursive { path } => {
            create_recursive(client, &path).await?;
            Ok(ZkReply::Done)
        }
        ZkOp::SetData {
            path,
            data,
            version,
        } => {
            let s = client
                .set_data(&path, &data, version)
                .await
                .map_err(err(&path))?;
            Ok(ZkReply::SetData(s))
        }
        ZkOp::Delete { path, version } => {
            client.delete(&path, version).await.map_err(err(&path))?;
            Ok(ZkReply::Done)
        }
        ZkOp::Multi { ops } => execute_multi(client, ops).await,
        ZkOp::SessionIds | ZkOp::Close => Err(ZkError::Other {
            path: "session".into(),
            message: "session ids are answered by the session task".into(),
        }),
    }
}

async fn execute_multi(client: &zkc::Client, ops: Vec<MultiOp>) -> Result<ZkReply, ZkError> {
    let op_path = |i: usize| match ops.get(i) {
        Some(MultiOp::Check { path, .. })
        | Some(MultiOp::Create { path, .. })
        | Some(MultiOp::SetData { path, .. })
        | Some(MultiOp::Delete { path, .. }) => path.clone(),
        None => "multi".to_string(),
    };
    let mut writer = client.new_multi_writer();
    for (i, op) in ops.iter().enumerate() {
        let added = match op {
            MultiOp::Check { path, version } => writer.add_check_version(path, *version),
            MultiOp::Create { path, data, mode } => {
                writer.add_create(path, data, &mode.to_zk().with_acls(OPEN_ACL))
            }
            MultiOp::SetData {
                path,
                data,
                version,
            } => writer.add_set_data(path, data, *version),
            MultiOp::Delete { path, version } => writer.add_delete(path, *version),
        };
        added.map_err(|e| ZkError::from_zk(e, &op_path(i)))?;
    }
    let results = match writer.commit().await {
        Ok(r) => r,
        Err(zkc::MultiWriteError::RequestFailed { source }) => {
            return Err(ZkError::from_zk(source, "multi"))
        }
        Err(zkc::MultiWriteError::OperationFailed { index, source }) => {
            return Err(ZkError::MultiFailed {
                index,
                source: Box::new(ZkError::from_zk(source, &op_path(index))),
            })
        }
    };
    let mapped = results
        .into_iter()
        .map(|r| match r {
            zkc::MultiWriteResult::Check => Ok(MultiOpResult::Check),
            zkc::MultiWriteResult::Delete => Ok(MultiOpResult::Delete),
            zkc::MultiWriteResult::Create { path, stat } => {
                Ok(MultiOpResult::Create { path, stat })
            }
            zkc::MultiWriteResult::SetData { stat } => Ok(MultiOpResult::SetData { stat }),
            other => Err(ZkError::unexpected("multi", &other)),
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(ZkReply::Multi(mapped))
}
