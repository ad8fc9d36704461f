//! The API versions this broker advertises (ApiVersions, KIP-511): every API the two Python
//! clients need for idempotent and transactional produce, a `read_committed` consumer with
//! `assign()` or `subscribe()` (the classic group protocol), and their offsets, capped so that every client stays on the name-based, TV1 (pre-KIP-890-part-2)
//! forms that the core implements (Produce ≤ 11, Fetch ≤ 12, AddPartitionsToTxn ≤ 3, EndTxn ≤ 3,
//! TxnOffsetCommit ≤ 3). DescribeClientQuotas (no quotas: an empty answer) is there because
//! kafka-python 2.x infers the broker's version from the table and only reaches 2.5 (its KIP-360
//! and KIP-447 level) through DescribeClientQuotas v0 or DescribeAcls v2 (`conn.py`).

use kafka_protocol::messages::ApiKey;

/// `(api, min, max)` advertised in ApiVersions, in api-key order.
pub const ADVERTISED: &[(ApiKey, i16, i16)] = &[
    (ApiKey::Produce, 3, 11),
    (ApiKey::Fetch, 4, 12),
    (ApiKey::ListOffsets, 1, 7),
    (ApiKey::Metadata, 0, 12),
    (ApiKey::OffsetCommit, 2, 8),
    (ApiKey::OffsetFetch, 1, 8),
    (ApiKey::FindCoordinator, 0, 3),
    (ApiKey::JoinGroup, 0, 7),
    (ApiKey::Heartbeat, 0, 4),
    (ApiKey::LeaveGroup, 0, 5),
    (ApiKey::SyncGroup, 0, 5),
    (ApiKey::DescribeGroups, 0, 5),
    (ApiKey::ListGroups, 0, 4),
    (ApiKey::ApiVersions, 0, 4),
    (ApiKey::CreateTopics, 2, 7),
    (ApiKey::DeleteTopics, 1, 6),
    (ApiKey::DeleteRecords, 0, 2),
    (ApiKey::InitProducerId, 0, 4),
    (ApiKey::AddPartitionsToTxn, 0, 3),
    (ApiKey::AddOffsetsToTxn, 0, 3),
    (ApiKey::EndTxn, 0, 3),
    (ApiKey::TxnOffsetCommit, 0, 3),
    (ApiKey::DescribeConfigs, 1, 4),
    (ApiKey::DescribeClientQuotas, 0, 1),
    (ApiKey::DescribeProducers, 0, 0),
    (ApiKey::DescribeTransactions, 0, 0),
    (ApiKey::ListTransactions, 0, 1),
];

/// The advertised range of `api`, if it is served at all.
pub fn advertised(api: ApiKey) -> Option<(i16, i16)> {
    ADVERTISED
        .iter()
        .find(|(k, _, _)| *k == api)
        .map(|&(_, min, max)| (min, max))
}

/// Whether `(api, version)` is served: Kafka closes the connection on any other request
/// (`RequestContext.parseRequest`), except ApiVersions (KIP-511, answered at v0 with
/// `UNSUPPORTED_VERSION`).
pub fn is_served(api: ApiKey, version: i16) -> bool {
    advertised(api).is_some_and(|(min, max)| (min..=max).contains(&version))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_in_api_key_order() {
        assert!(ADVERTISED
            .windows(2)
            .all(|w| (w[0].0 as i16) < (w[1].0 as i16)));
    }

    #[test]
    fn every_advertised_range_is_within_the_codec_range() {
        for &(api, min, max) in ADVERTISED {
            let valid = api.valid_versions();
            assert!(
                valid.min <= min && max <= valid.max && min <= max,
                "{api:?} {min}..={max} not within {valid:?}"
            );
        }
    }
}
