//! Incremental fetch sessions (KIP-227; Kafka's `FetchSession.scala`): the broker remembers
//! which partitions a fetcher follows, so later fetches send only what changed and get back
//! only partitions with news.
//!
//! Request `(session_id, epoch)` decides the context:
//! - epoch −1: sessionless; a non-zero id also closes that session.
//! - epoch 0: full fetch that opens a new session (the old id, if any, is closed); with no
//!   slot free the answer carries session id 0 and the client stays sessionless.
//! - epoch > 0: incremental fetch of session `id`: unknown id → FETCH_SESSION_ID_NOT_FOUND,
//!   wrong epoch → INVALID_FETCH_SESSION_EPOCH. Request partitions are added or updated,
//!   forgotten ones removed; the answer lists only partitions with records, an error, or a
//!   changed high watermark / last stable offset / log start offset.
//!
//! The cache holds `max.incremental.fetch.session.cache.slots` sessions; when full, the least
//! recently used one is evicted (its owner gets FETCH_SESSION_ID_NOT_FOUND and starts over).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use kafka_protocol::ResponseError;
use uuid::Uuid;

/// Epoch of a fetch without a session (or closing one).
pub const FINAL_EPOCH: i32 = -1;
/// Epoch of a full fetch that opens a session.
pub const INITIAL_EPOCH: i32 = 0;

/// What a partition of a fetch asks for (from the request or remembered by the session).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FetchPartitionRequest {
    pub topic: String,
    /// Nil before Fetch v13.
    pub topic_id: Uuid,
    pub partition: i32,
    pub fetch_offset: i64,
    pub current_leader_epoch: i32,
    pub max_bytes: i32,
    /// The follower's log start offset (−1 for consumers).
    pub log_start_offset: i64,
}

impl FetchPartitionRequest {
    fn key(&self) -> SessionKey {
        SessionKey {
            topic_id: self.topic_id,
            topic: if self.topic_id.is_nil() {
                self.topic.clone()
            } else {
                String::new()
            },
            partition: self.partition,
        }
    }
}

/// A partition's identity in a session: by topic id from v13, by name before.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SessionKey {
    pub topic_id: Uuid,
    pub topic: String,
    pub partition: i32,
}

impl SessionKey {
    pub fn new(topic_id: Uuid, topic: &str, partition: i32) -> SessionKey {
        FetchPartitionRequest {
            topic: topic.to_string(),
            topic_id,
            partition,
            fetch_offset: 0,
            current_leader_epoch: -1,
            max_bytes: 0,
            log_start_offset: -1,
        }
        .key()
    }
}

/// What one partition's answer reported, so the next incremental answer can skip it if
/// nothing moved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReportedOffsets {
    pub high_watermark: i64,
    pub last_stable_offset: i64,
    pub log_start_offset: i64,
}

#[derive(Clone, Debug)]
struct CachedPartition {
    request: FetchPartitionRequest,
    reported: Option<ReportedOffsets>,
}

#[derive(Debug)]
struct Session {
    /// The epoch the next incremental fetch must carry.
    next_epoch: i32,
    partitions: Vec<CachedPartition>,
    index: HashMap<SessionKey, usize>,
    last_used: Instant,
}

impl Session {
    fn new(partitions: &[FetchPartitionRequest]) -> Session {
        let mut s = Session {
            next_epoch: 1,
            partitions: Vec::new(),
            index: HashMap::new(),
            last_used: Instant::now(),
        };
        for p in partitions {
            s.upsert(p.clone());
        }
        s
    }

    fn upsert(&mut self, request: FetchPartitionRequest) {
        let key = request.key();
        match self.index.get(&key) {
            Some(&i) => self.partitions[i].request = request,
            None => {
                self.index.insert(key, self.partitions.len());
                self.partitions.push(CachedPartition {
                    request,
                    reported: None,
                });
            }
        }
    }

    fn remove(&mut self, key: &SessionKey) {
        if let Some(i) = self.index.remove(key) {
            self.partitions.remove(i);
            for (j, p) in self.partitions.iter().enumerate().skip(i) {
                self.index.insert(p.request.key(), j);
            }
        }
    }
}

/// How a fetch is to be served.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FetchContext {
    /// Every requested partition is answered; `session_id` is what the response carries
    /// (0 when sessionless or when no session slot was free).
    Full {
        session_id: i32,
        partitions: Vec<FetchPartitionRequest>,
    },
    /// Every partition of the session is read; the answer is filtered by
    /// [`FetchSessionCache::filter_incremental`].
    Incremental {
        session_id: i32,
        partitions: Vec<FetchPartitionRequest>,
    },
    /// A top-level session error; the response lists no partitions.
    Error(ResponseError),
}

/// The session cache; see the module doc.
#[derive(Debug)]
pub struct FetchSessionCache {
    max_slots: usize,
    sessions: Mutex<HashMap<i32, Session>>,
}

impl FetchSessionCache {
    pub fn new(max_slots: usize) -> FetchSessionCache {
        FetchSessionCache {
            max_slots,
            sessions: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<i32, Session>> {
        self.sessions.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Kafka's `FetchManager.newContext`. `partitions` are the request's own, `forgotten`
    /// the keys it asks to drop (incremental only). `version_has_sessions` is Fetch v7+.
    pub fn new_context(
        &self,
        version_has_sessions: bool,
        session_id: i32,
        epoch: i32,
        partitions: Vec<FetchPartitionRequest>,
        forgotten: &[SessionKey],
    ) -> FetchContext {
        if !version_has_sessions {
            return FetchContext::Full {
                session_id: 0,
                partitions,
            };
        }
        let mut sessions = self.lock();
        match epoch {
            FINAL_EPOCH => {
                if session_id != 0 {
                    sessions.remove(&session_id);
                }
                FetchContext::Full {
                    session_id: 0,
                    partitions,
                }
            }
            INITIAL_EPOCH => {
                if session_id != 0 {
                    sessions.remove(&session_id);
                }
                let new_id = self.allocate(&mut sessions, &partitions);
                FetchContext::Full {
                    session_id: new_id,
                    partitions,
                }
            }
            _ => {
                let Some(session) = sessions.get_mut(&session_id) else {
                    return FetchContext::Error(ResponseError::FetchSessionIdNotFound);
                };
                if session.next_epoch != epoch {
                    return FetchContext::Error(ResponseError::InvalidFetchSessionEpoch);
                }
                for p in partitions {
                    session.upsert(p);
                }
                for key in forgotten {
                    session.remove(key);
                }
                session.next_epoch = next_epoch(epoch);
                session.last_used = Instant::now();
                FetchContext::Incremental {
                    session_id,
                    partitions: session
                        .partitions
                        .iter()
                        .map(|p| p.request.clone())
                        .collect(),
                }
            }
        }
    }

    /// A new session for a full fetch, or 0 when the cache has no room.
    fn allocate(
        &self,
        sessions: &mut HashMap<i32, Session>,
        partitions: &[FetchPartitionRequest],
    ) -> i32 {
        if self.max_slots == 0 {
            return 0;
        }
        if sessions.len() >= self.max_slots {
            let lru = sessions
                .iter()
                .min_by_key(|(_, s)| s.last_used)
                .map(|(id, _)| *id);
            if let Some(id) = lru {
                sessions.remove(&id);
            }
        }
        let mut id = 0;
        // Bounded: the cache holds at most `max_slots` ids out of 2^31.
        for _ in 0..64 {
            let candidate = rand::random::<i32>() & i32::MAX;
            if candidate != 0 && !sessions.contains_key(&candidate) {
                id = candidate;
                break;
            }
        }
        if id != 0 {
            sessions.insert(id, Session::new(partitions));
        }
        id
    }

    /// Records what a full answer reported for a new session's partitions.
    pub fn record_full(&self, session_id: i32, reported: &[(SessionKey, ReportedOffsets)]) {
        if session_id == 0 {
            return;
        }
        if let Some(session) = self.lock().get_mut(&session_id) {
            for (key, offsets) in reported {
                if let Some(&i) = session.index.get(key) {
                    session.partitions[i].reported = Some(*offsets);
                }
            }
        }
    }

    /// For an incremental answer: which partitions to include (records, an error, or moved
    /// offsets), remembering what is now reported. Returns one flag per entry of `results`.
    pub fn filter_incremental(
        &self,
        session_id: i32,
        results: &[(SessionKey, ReportedOffsets, bool)],
    ) -> Vec<bool> {
        let mut sessions = self.lock();
        let Some(session) = sessions.get_mut(&session_id) else {
            return vec![true; results.len()];
        };
        results
            .iter()
            .map(|(key, offsets, has_news)| {
                let Some(&i) = session.index.get(key) else {
                    return true;
                };
                let cached = &mut session.partitions[i];
                let moved = cached.reported != Some(*offsets);
                cached.reported = Some(*offsets);
                *has_news || moved
            })
            .collect()
    }
}

/// Session epochs wrap from `i32::MAX` to 1 (0 and −1 are reserved).
fn next_epoch(epoch: i32) -> i32 {
    if epoch == i32::MAX {
        1
    } else {
        epoch + 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(topic: &str, partition: i32, offset: i64) -> FetchPartitionRequest {
        FetchPartitionRequest {
            topic: topic.into(),
            topic_id: Uuid::nil(),
            partition,
            fetch_offset: offset,
            current_leader_epoch: -1,
            max_bytes: 1024,
            log_start_offset: -1,
        }
    }

    fn offsets(hw: i64) -> ReportedOffsets {
        ReportedOffsets {
            high_watermark: hw,
            last_stable_offset: hw,
            log_start_offset: 0,
        }
    }

    #[test]
    fn sessionless_versions_and_final_epoch() {
        let cache = FetchSessionCache::new(10);
        let ctx = cache.new_context(false, 0, -1, vec![req("a", 0, 0)], &[]);
        assert!(matches!(ctx, FetchContext::Full { session_id: 0, .. }));
        let ctx = cache.new_context(true, 0, FINAL_EPOCH, vec![req("a", 0, 0)], &[]);
        assert!(matches!(ctx, FetchContext::Full { session_id: 0, .. }));
        assert!(cache.is_empty());
    }

    #[test]
    fn session_lifecycle() {
        let cache = FetchSessionCache::new(10);
        let FetchContext::Full { session_id, .. } =
            cache.new_context(true, 0, 0, vec![req("a", 0, 0), req("a", 1, 0)], &[])
        else {
            panic!("expected a full context");
        };
        assert!(session_id > 0);
        cache.record_full(
            session_id,
            &[
                (SessionKey::new(Uuid::nil(), "a", 0), offsets(5)),
                (SessionKey::new(Uuid::nil(), "a", 1), offsets(7)),
            ],
        );
        // Wrong epoch, unknown id.
        assert_eq!(
            cache.new_context(true, session_id, 2, vec![], &[]),
            FetchContext::Error(ResponseError::InvalidFetchSessionEpoch)
        );
        assert_eq!(
            cache.new_context(true, session_id ^ 1, 1, vec![], &[]),
            FetchContext::Error(ResponseError::FetchSessionIdNotFound)
        );
        // Epoch 1: update a/0's offset, add b/0, forget a/1.
        let ctx = cache.new_context(
            true,
            session_id,
            1,
            vec![req("a", 0, 5), req("b", 0, 0)],
            &[SessionKey::new(Uuid::nil(), "a", 1)],
        );
        let FetchContext::Incremental { partitions, .. } = ctx else {
            panic!("expected incremental");
        };
        assert_eq!(partitions, vec![req("a", 0, 5), req("b", 0, 0)]);
        // a/0 unchanged and without records → skipped; b/0 new → included.
        let keep = cache.filter_incremental(
            session_id,
            &[
                (SessionKey::new(Uuid::nil(), "a", 0), offsets(5), false),
                (SessionKey::new(Uuid::nil(), "b", 0), offsets(0), false),
            ],
        );
        assert_eq!(keep, vec![false, true]);
        // Epoch 2 carries nothing new: the session remembers both partitions.
        let FetchContext::Incremental { partitions, .. } =
            cache.new_context(true, session_id, 2, vec![], &[])
        else {
            panic!("expected incremental");
        };
        assert_eq!(partitions.len(), 2);
        // HW moved on a/0 → included.
        let keep = cache.filter_incremental(
            session_id,
            &[
                (SessionKey::new(Uuid::nil(), "a", 0), offsets(6), false),
                (SessionKey::new(Uuid::nil(), "b", 0), offsets(0), false),
            ],
        );
        assert_eq!(keep, vec![true, false]);
        // Closing.
        cache.new_context(true, session_id, FINAL_EPOCH, vec![], &[]);
        assert!(cache.is_empty());
    }

    #[test]
    fn full_cache_evicts_least_recently_used_and_zero_slots_disable() {
        let cache = FetchSessionCache::new(2);
        let id = |ctx: FetchContext| match ctx {
            FetchContext::Full { session_id, .. } => session_id,
            other => panic!("{other:?}"),
        };
        let first = id(cache.new_context(true, 0, 0, vec![req("a", 0, 0)], &[]));
        let second = id(cache.new_context(true, 0, 0, vec![req("a", 0, 0)], &[]));
        let third = id(cache.new_context(true, 0, 0, vec![req("a", 0, 0)], &[]));
        assert!(first > 0 && second > 0 && third > 0);
        assert_eq!(cache.len(), 2);
        assert_eq!(
            cache.new_context(true, first, 1, vec![], &[]),
            FetchContext::Error(ResponseError::FetchSessionIdNotFound)
        );
        let none = FetchSessionCache::new(0);
        assert_eq!(id(none.new_context(true, 0, 0, vec![], &[])), 0);
    }

    #[test]
    fn epochs_wrap_to_one() {
        assert_eq!(next_epoch(i32::MAX), 1);
        assert_eq!(next_epoch(4), 5);
    }
}
