//! Topic-level rules a broker applies before a partition exists: legal names, name collisions,
//! internal topics and partition counts (Kafka's `org.apache.kafka.common.internals.Topic` and
//! the controller's `ReplicationControlManager.createTopic` checks).

use crate::error::ErrorCode;
use crate::messages::CONSUMER_OFFSETS_TOPIC;

/// `Topic.TRANSACTION_STATE_TOPIC_NAME`: the transaction coordinators' log.
pub const TRANSACTION_STATE_TOPIC: &str = "__transaction_state";

/// `Topic.MAX_NAME_LENGTH`: the longest legal topic name (249 characters).
pub const MAX_NAME_LENGTH: usize = 249;

/// `Topic.isInternal`: the topics the brokers own (`__consumer_offsets`,
/// `__transaction_state`). Clients may not delete them nor their records.
pub fn is_internal(name: &str) -> bool {
    name == CONSUMER_OFFSETS_TOPIC || name == TRANSACTION_STATE_TOPIC
}

/// `Topic.validate`: a topic name is non-empty, not `.` or `..`, at most [`MAX_NAME_LENGTH`]
/// characters, and only ASCII letters, digits, `.`, `_` and `-`. Anything else is
/// `INVALID_TOPIC_EXCEPTION` (17).
pub fn validate_name(name: &str) -> Result<(), ErrorCode> {
    let legal_chars = name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-');
    if name.is_empty()
        || name == "."
        || name == ".."
        || name.len() > MAX_NAME_LENGTH
        || !legal_chars
    {
        return Err(ErrorCode::InvalidTopicException);
    }
    Ok(())
}

/// `Topic.unifyCollisionChars`: `.` and `_` collide in metric names, so two topics whose names
/// differ only there may not both exist (`ReplicationControlManager` answers the second
/// `INVALID_TOPIC_EXCEPTION`, "collides with existing topic").
pub fn unify_collision_chars(name: &str) -> String {
    name.replace('.', "_")
}

/// Whether creating `name` would collide with `existing` ([`unify_collision_chars`]) without
/// being the same topic.
pub fn collides(name: &str, existing: &str) -> bool {
    name != existing && unify_collision_chars(name) == unify_collision_chars(existing)
}

/// The partition count of a new topic (`ReplicationControlManager.createTopic`): `-1` takes the
/// broker's `num.partitions`; any other value below 1 is `INVALID_PARTITIONS` (37).
pub fn partition_count(requested: i32, default_partitions: i32) -> Result<i32, ErrorCode> {
    match requested {
        -1 => Ok(default_partitions),
        n if n >= 1 => Ok(n),
        _ => Err(ErrorCode::InvalidPartitions),
    }
}

/// The replication factor of a new topic on a cluster of `brokers` nodes: `-1` takes
/// `default.replication.factor` (`default`); a value below 1 or above the number of brokers is
/// `INVALID_REPLICATION_FACTOR` (38) (`ReplicationControlManager.createTopic`, "Unable to
/// replicate the partition ... only N broker(s) are registered").
pub fn replication_factor(requested: i16, default: i16, brokers: i16) -> Result<i16, ErrorCode> {
    let factor = if requested == -1 { default } else { requested };
    if factor < 1 || factor > brokers {
        return Err(ErrorCode::InvalidReplicationFactor);
    }
    Ok(factor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_topic_validate() {
        for ok in ["t", "a.b_c-D9", &"x".repeat(MAX_NAME_LENGTH)] {
            assert_eq!(validate_name(ok), Ok(()), "{ok}");
        }
        for bad in [
            "",
            ".",
            "..",
            "a b",
            "a/b",
            "é",
            &"x".repeat(MAX_NAME_LENGTH + 1),
        ] {
            assert_eq!(
                validate_name(bad),
                Err(ErrorCode::InvalidTopicException),
                "{bad}"
            );
        }
    }

    #[test]
    fn dot_and_underscore_collide() {
        assert!(collides("a.b", "a_b"));
        assert!(!collides("a.b", "a.b"));
        assert!(!collides("a.b", "a-b"));
    }

    #[test]
    fn partition_and_replication_defaults() {
        assert_eq!(partition_count(-1, 3), Ok(3));
        assert_eq!(partition_count(0, 3), Err(ErrorCode::InvalidPartitions));
        assert_eq!(partition_count(-2, 3), Err(ErrorCode::InvalidPartitions));
        assert_eq!(replication_factor(-1, 1, 1), Ok(1));
        assert_eq!(
            replication_factor(2, 1, 1),
            Err(ErrorCode::InvalidReplicationFactor)
        );
        assert_eq!(
            replication_factor(0, 1, 1),
            Err(ErrorCode::InvalidReplicationFactor)
        );
    }
}
