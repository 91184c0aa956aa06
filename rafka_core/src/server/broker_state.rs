//! The broker's lifecycle state, with Kafka's numeric values (they show up in metrics and in
//! BrokerHeartbeat-era tooling).

use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BrokerState {
    NotRunning,
    Starting,
    Recovery,
    Running,
    PendingControlledShutdown,
    ShuttingDown,
}

impl BrokerState {
    /// Kafka's state byte.
    pub fn value(self) -> u8 {
        match self {
            BrokerState::NotRunning => 0,
            BrokerState::Starting => 1,
            BrokerState::Recovery => 2,
            BrokerState::Running => 3,
            BrokerState::PendingControlledShutdown => 6,
            BrokerState::ShuttingDown => 7,
        }
    }
}

impl fmt::Display for BrokerState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            BrokerState::NotRunning => "NOT_RUNNING",
            BrokerState::Starting => "STARTING",
            BrokerState::Recovery => "RECOVERY",
            BrokerState::Running => "RUNNING",
            BrokerState::PendingControlledShutdown => "PENDING_CONTROLLED_SHUTDOWN",
            BrokerState::ShuttingDown => "SHUTTING_DOWN",
        };
        f.write_str(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_match_kafka() {
        assert_eq!(BrokerState::NotRunning.value(), 0);
        assert_eq!(BrokerState::Running.value(), 3);
        assert_eq!(BrokerState::PendingControlledShutdown.value(), 6);
        assert_eq!(BrokerState::ShuttingDown.to_string(), "SHUTTING_DOWN");
    }
}
