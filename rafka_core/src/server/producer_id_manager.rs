//! Producer id allocation for InitProducerId (Kafka's `ZkProducerIdManager`): ids are handed
//! out from blocks of 1000 claimed in ZooKeeper, so no two brokers ever hand out the same id.
//!
//! A block is claimed by reading `/latest_producer_id_block` (JSON
//! `{"version":1,"broker":<id>,"block_start":"<n>","block_end":"<n>"}`, bounds inclusive,
//! written by whichever broker claimed the last block) and writing the next block with a
//! conditional setData on the data version read; a lost race re-reads and retries. The first
//! block is `[0, 999]` (the znode exists empty from broker startup). Unlike Kafka, which
//! claims its first block when the coordinator starts, the first block is claimed on the
//! first request. Exhausting `i64` ids is an error, as in Kafka.

use tokio::sync::Mutex;
use tracing::{debug, info};

use crate::zk::kafka_zk_client::{KafkaZkClient, KafkaZkError};
use crate::zk::zk_data::ProducerIdBlockZNode;

/// Bound on conditional-write attempts per block claim (Kafka retries without bound; a
/// broker losing this many races in a row answers a retriable error instead).
const MAX_CLAIM_ATTEMPTS: usize = 100;

/// Why no producer id could be handed out.
#[derive(Debug, thiserror::Error)]
pub enum ProducerIdError {
    #[error("could not claim a producer id block: {0}")]
    Zk(#[from] KafkaZkError),
    #[error("producer ids are exhausted: the last block ends at {0}")]
    Exhausted(i64),
    #[error(
        "could not claim a producer id block in {0} attempts: /latest_producer_id_block kept \
         changing"
    )]
    Contended(usize),
}

impl ProducerIdError {
    /// True when a later attempt may succeed (ZooKeeper unreachable, lost races).
    pub fn is_retriable(&self) -> bool {
        match self {
            ProducerIdError::Zk(e) => e.is_transient(),
            ProducerIdError::Contended(_) => true,
            ProducerIdError::Exhausted(_) => false,
        }
    }
}

/// The block being handed out and the next id in it.
#[derive(Debug)]
struct Current {
    block: ProducerIdBlockZNode,
    next: i64,
}

/// Hands out producer ids; shared by all request handlers.
#[derive(Debug)]
pub struct ProducerIdManager {
    broker_id: i32,
    zk: KafkaZkClient,
    current: Mutex<Option<Current>>,
}

impl ProducerIdManager {
    pub fn new(broker_id: i32, zk: KafkaZkClient) -> ProducerIdManager {
        ProducerIdManager {
            broker_id,
            zk,
            current: Mutex::new(None),
        }
    }

    /// The next producer id (Kafka's `generateProducerId`), claiming a new block when the
    /// current one is used up.
    pub async fn generate_producer_id(&self) -> Result<i64, ProducerIdError> {
        let mut guard = self.current.lock().await;
        let current = match guard.take() {
            Some(c) if c.next <= c.block.block_end => c,
            _ => {
                let block = self.claim_block().await?;
                Current {
                    next: block.block_start,
                    block,
                }
            }
        };
        let id = current.next;
        // At i64::MAX the slot empties and the next claim reports the exhaustion.
        *guard = id.checked_add(1).map(|next| Current {
            next,
            block: current.block,
        });
        Ok(id)
    }

    /// Kafka's `getNewProducerIdBlock`: read, compute the next block, conditional write.
    async fn claim_block(&self) -> Result<ProducerIdBlockZNode, ProducerIdError> {
        for _ in 0..MAX_CLAIM_ATTEMPTS {
            let read = self.zk.get_producer_id_block().await?;
            let (previous, version) = match read {
                Some((block, version)) => (block, Some(version)),
                None => (None, None),
            };
            debug!(?previous, ?version, "read the current producer id block");
            let block = ProducerIdBlockZNode::next_block(previous.as_ref(), self.broker_id).ok_or(
                ProducerIdError::Exhausted(previous.map_or(i64::MAX, |p| p.block_end)),
            )?;
            if self
                .zk
                .conditional_set_producer_id_block(&block, version)
                .await?
            {
                info!(
                    broker_id = self.broker_id,
                    block_start = block.block_start,
                    block_end = block.block_end,
                    "claimed a new producer id block"
                );
                return Ok(block);
            }
            debug!("another broker claimed a producer id block first; retrying");
        }
        Err(ProducerIdError::Contended(MAX_CLAIM_ATTEMPTS))
    }
}
