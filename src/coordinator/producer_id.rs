//! Producer-id allocation in blocks (`RPCProducerIdManager`, `ProducerIdControlManager`).

use serde::{Deserialize, Serialize};

use crate::error::ErrorCode;
use crate::types::ProducerId;

/// The producer-id manager of a coordinator together with the controller's block allocator
/// (`RPCProducerIdManager` + `ProducerIdControlManager.generateNextProducerId`).
///
/// Blocks of `block_size` ids are handed out contiguously and in increasing order from a first
/// producer id; ids are claimed one by one from the current block. Kafka prefetches the next
/// block asynchronously at 90 % use; in this synchronous core the next block is claimed at the
/// moment the current one is used up, so the prefetch window is not modelled. When the next
/// block would pass `i64::MAX - block_size` the controller refuses it (UnknownServerException) and
/// the broker keeps answering `COORDINATOR_LOAD_IN_PROGRESS`: that is the value returned here,
/// never a panic or a wrap.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ProducerIdManager {
    /// The size of one block (`ProducerIdsBlock.PRODUCER_ID_BLOCK_SIZE`, 1000).
    block_size: i64,
    /// The next id to claim from the current block.
    next_producer_id: ProducerId,
    /// One past the last id of the current block (`next_producer_id == block_end`: used up).
    block_end: ProducerId,
    /// The first id of the next block the controller will hand out.
    next_block_start: ProducerId,
}

impl ProducerIdManager {
    /// A manager whose first block starts at `first_producer_id`. `None` when the first id is
    /// negative or the block size is not positive (a configuration no Kafka cluster has).
    pub fn new(first_producer_id: ProducerId, block_size: i64) -> Option<Self> {
        if first_producer_id < 0 || block_size <= 0 {
            return None;
        }
        Some(ProducerIdManager {
            block_size,
            next_producer_id: first_producer_id,
            block_end: first_producer_id,
            next_block_start: first_producer_id,
        })
    }

    /// Claims the next producer id (`ProducerIdManager.generateProducerId`). Claims a new block
    /// from the controller when the current one is used up; `COORDINATOR_LOAD_IN_PROGRESS` when the
    /// controller has no block left (ids near `i64::MAX`).
    pub fn generate_producer_id(&mut self) -> Result<ProducerId, ErrorCode> {
        if self.next_producer_id >= self.block_end {
            // ProducerIdControlManager: "Exhausted all producerIds" once the block would pass
            // Long.MAX_VALUE - block size.
            let start = self.next_block_start;
            if start > i64::MAX - self.block_size {
                return Err(ErrorCode::CoordinatorLoadInProgress);
            }
            let end = start + self.block_size;
            self.next_producer_id = start;
            self.block_end = end;
            self.next_block_start = end;
        }
        let id = self.next_producer_id;
        // id < block_end <= i64::MAX, so this cannot overflow.
        self.next_producer_id = id + 1;
        Ok(id)
    }

    /// The id the next successful [`generate_producer_id`](Self::generate_producer_id) returns,
    /// if the controller still has ids.
    pub fn peek_next_producer_id(&self) -> Option<ProducerId> {
        if self.next_producer_id < self.block_end {
            Some(self.next_producer_id)
        } else if self.next_block_start <= i64::MAX - self.block_size {
            Some(self.next_block_start)
        } else {
            None
        }
    }

    /// The block size.
    pub fn block_size(&self) -> i64 {
        self.block_size
    }

    /// The current block as `(first id not yet claimed, one past its last id)`.
    pub fn current_block(&self) -> (ProducerId, ProducerId) {
        (self.next_producer_id, self.block_end)
    }
}
