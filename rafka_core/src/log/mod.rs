//! Partition logs on disk (Kafka's `kafka.log`).

pub mod checkpoints;
pub mod log_dir_lock;
pub mod log_manager;

// Segments, indexes and the partition log (log.rs is Kafka's `Log`, hence the module name).
pub mod abstract_index;
pub mod error;
pub mod file_records;
pub mod leader_epoch_cache;
#[allow(clippy::module_inception)]
pub mod log;
pub mod log_segment;
pub mod offset_index;
pub mod producer_state;
pub mod time_index;

pub use error::LogError;
pub use file_records::{FileRange, TimestampAndOffset};
pub use log::{LoadOptions, Log, LogAppendInfo, LogStartOffsetIncrementReason, PendingDeletion};
pub use log_manager::{
    LogManager, LogManagerError, LogManagerHandle, LogManagerOptions, SharedLog,
};
pub use log_segment::{FetchDataInfo, LogSegment};
pub use offset_index::OffsetIndex;
pub use producer_state::{ProducerStateEntry, ProducerStateManager};
pub use time_index::TimeIndex;

// Log compaction (owned by the cleaner work).
pub mod cleaner_manager;
pub mod log_cleaner;
pub mod offset_map;
pub use cleaner_manager::{LogCleanerManager, LogToClean};
pub use log_cleaner::{CleanRound, CleanStats, Cleaner, CleanerConfig, CleanerError, LogCleaner};
pub use offset_map::OffsetMap;
