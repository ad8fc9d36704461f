//! The named scenarios: the bounded workloads and environments `list` prints and `check`,
//! `explore` and `spawn` run. Each is one entry of [`SCENARIOS`]: its name and how it varies
//! [`Scenario::base`]; the names, [`Scenario::all`] and [`Scenario::named`] all read that table.

use super::properties::{probe, L2, L4, S1, S10, S11, S14, S15, S9};
use super::scenario::{NetworkKind, ProducerScript, Protocol, Scenario, TxnEnd, TxnScript};

/// How a named scenario varies [`Scenario::base`] (its name is set from the table).
pub type Variation = fn(Scenario) -> Scenario;

/// The named scenarios, in `list` order: name, and how the scenario varies the base.
pub const SCENARIOS: [(&str, Variation); 11] = [
    ("idempotent", |base| {
        Scenario {
            summary: "idempotent producer, 3 records (2 in flight) to 1 partition, 2 ambiguous request timeouts",
            producers: vec![ProducerScript {
                transactional_id: None,
                delayed_start: false,
                txns: vec![txn(&[0, 0, 0], TxnEnd::Commit)],
            }],
            request_timeouts: 2,
            max_in_flight: 2,
            probes: &[probe::ACKED, probe::DUPLICATE],
            ..base
        }
    }),
    ("idempotent-reorder", |base| {
        Scenario {
            summary: "idempotent producer, 3 records (2 in flight), 1 ambiguous timeout, network reordering requests of one connection (outside Kafka's TCP assumption)",
            producers: vec![ProducerScript {
                transactional_id: None,
                delayed_start: false,
                txns: vec![txn(&[0, 0, 0], TxnEnd::Commit)],
            }],
            // Deliberately not Kafka's network: requests of one connection overtake each
            // other and a timed-out request's answer may still arrive, which TCP and Kafka's
            // `NetworkClient` rule out. The scenario shows what the idempotent producer's
            // sequence rules need from the network.
            network: NetworkKind::Unordered,
            request_timeouts: 1,
            max_in_flight: 2,
            always_breaks: &[S1],
            probes: &[probe::ACKED, probe::DUPLICATE, probe::OUT_OF_ORDER],
            ..base
        }
    }),
    ("transactions", |base| {
        Scenario {
            summary: "1 transactional id, 2 partitions, 2 transactions of 2 records, commit or abort chosen by the client",
            partitions: 2,
            producers: vec![transactional(
                "tx",
                false,
                vec![txn(&[0, 1], TxnEnd::Choose), txn(&[0, 1], TxnEnd::Choose)],
            )],
            probes: &[
                probe::ACKED,
                probe::COMMIT_2,
                probe::ABORT_2,
                probe::LSO_HELD,
                probe::CONCURRENT,
            ],
            ..base
        }
    }),
    ("zombie", |base| {
        Scenario {
            summary: "a second instance of the transactional id initialises while the first is mid-transaction",
            producers: vec![
                transactional("tx", false, vec![txn(&[0], TxnEnd::Commit)]),
                transactional("tx", true, vec![txn(&[0], TxnEnd::Commit)]),
            ],
            probes: &[probe::ACKED, probe::FENCED, probe::CONCURRENT],
            ..base
        }
    }),
    ("timeout", |base| Scenario {
        summary:
            "the coordinator times out and aborts an ongoing transaction; the producer goes on",
        producers: vec![transactional(
            "tx",
            false,
            vec![txn(&[0, 0], TxnEnd::Commit)],
        )],
        txn_timeouts: 1,
        probes: &[probe::ACKED, probe::TIMEOUT_ABORT, probe::FENCED],
        ..base
    }),
    ("coordinator-failover", |base| {
        Scenario {
            summary: "the coordinator fails over (new coordinator epoch) at any point of a 2-partition commit",
            partitions: 2,
            producers: vec![transactional("tx", false, vec![txn(&[0, 1], TxnEnd::Commit)])],
            failovers: 1,
            probes: &[probe::ACKED, probe::COMMIT_2, probe::FAILOVER_PREPARE],
            ..base
        }
    }),
    ("hanging-txn", |base| {
        Scenario {
            summary: "KAFKA-12671: a produce expires on the client, the transaction aborts, the stuck produce lands after the marker",
            producers: vec![transactional(
                "tx",
                false,
                vec![txn(&[0], TxnEnd::Commit), txn(&[0], TxnEnd::Commit)],
            )],
            request_timeouts: 1,
            batches_expire: true,
            // Under tv1-verify the client's KIP-360 bump after the expired batch
            // (`TransactionManager.maybeResolveSequences` → abortable error with a client
            // epoch bump) makes the coordinator fence the late produce's verification; only
            // the old protocol, whose client cannot bump, lets it through.
            protocol_breaks: &[(Protocol::Tv0, &[S10, S11, S14, S15, L2, L4])],
            probes: &[probe::ACKED, probe::LATE_PRODUCE],
            ..base
        }
    }),
    ("late-endtxn", |base| {
        Scenario {
            summary: "KAFKA-17754: an EndTxn(COMMIT) times out, is retried, and the first one arrives after the next transaction began (records sent one at a time)",
            partitions: 2,
            producers: vec![transactional(
                "tx",
                false,
                vec![txn(&[0], TxnEnd::Commit), txn(&[0, 1], TxnEnd::Abort)],
            )],
            request_timeouts: 1,
            sequential_sends: true,
            max_requests: 10,
            // The application adds T2's partitions one at a time (`send().get()`), so a
            // delayed EndTxn(COMMIT) of T1 that commits T2 early tears it: the first
            // partition commits, the second opens a new transaction the client aborts
            // (Jepsen's finding). TV1 cannot tell the late EndTxn from a retry; TV2 fences
            // it by epoch.
            protocol_breaks: &[
                (Protocol::Tv0, &[S9, S10, S11, S14, L2]),
                (Protocol::Tv1Verify, &[S9, S10, S11]),
            ],
            probes: &[probe::ACKED, probe::LSO_HELD, probe::LATE_ENDTXN],
            ..base
        }
    }),
    ("late-marker", |base| {
        Scenario {
            summary: "Redpanda #3232 / KIP-1228: an abort's WriteTxnMarkers request times out and is re-sent; the first one lands during or after the next transaction",
            partitions: 2,
            producers: vec![transactional(
                "tx",
                false,
                vec![txn(&[0], TxnEnd::Abort), txn(&[0, 1], TxnEnd::Commit)],
            )],
            marker_timeouts: 1,
            // Without an epoch bump per transaction the late marker carries the next
            // transaction's epoch, so the leader cannot tell it apart (KIP-890 part 2).
            protocol_breaks: &[
                (Protocol::Tv0, &[S9, S10, L4]),
                (Protocol::Tv1Verify, &[S9, S10, L4]),
            ],
            probes: &[probe::ACKED, probe::COMMIT_2, probe::STALE_MARKER],
            ..base
        }
    }),
    ("producer-expiry", |base| {
        Scenario {
            summary: "a partition expires the producer's idle state (producer.id.expiration.ms) at any point between or during 2 transactions; the producer goes on",
            producers: vec![transactional(
                "tx",
                false,
                vec![txn(&[0], TxnEnd::Commit), txn(&[0], TxnEnd::Commit)],
            )],
            expiries: 1,
            probes: &[probe::ACKED, probe::EXPIRED],
            ..base
        }
    }),
    ("transactions-zombie", |base| {
        Scenario {
            summary: "the speed target: 2 partitions, 2 transactions of 2 records (commit, then abort), a restarted instance initialising (fencing the first) at any point",
            partitions: 2,
            producers: vec![
                transactional(
                    "tx",
                    false,
                    vec![txn(&[0, 1], TxnEnd::Commit), txn(&[0, 1], TxnEnd::Abort)],
                ),
                transactional("tx", true, Vec::new()),
            ],
            max_requests: 10,
            probes: &[
                probe::ACKED,
                probe::COMMIT_2,
                probe::ABORT_2,
                probe::LSO_HELD,
                probe::FENCED,
                probe::CONCURRENT,
            ],
            ..base
        }
    }),
];

/// The names of the named scenarios, in `list` order.
pub const NAMES: &[&str] = &names(SCENARIOS);

const fn names<const N: usize>(table: [(&'static str, Variation); N]) -> [&'static str; N] {
    let mut out = [""; N];
    let mut i = 0;
    while i < N {
        out[i] = table[i].0;
        i += 1;
    }
    out
}

fn txn(records: &[u8], end: TxnEnd) -> TxnScript {
    TxnScript {
        records: records.to_vec(),
        end,
    }
}

fn transactional(tid: &'static str, delayed_start: bool, txns: Vec<TxnScript>) -> ProducerScript {
    ProducerScript {
        transactional_id: Some(tid),
        delayed_start,
        txns,
    }
}

impl Scenario {
    /// The small base every named scenario varies: one transactional producer, one
    /// partition, one committed transaction, TV2, Kafka's network, no perturbation.
    pub fn base() -> Scenario {
        Scenario {
            name: "base",
            summary: "1 transactional producer, 1 partition, 1 committed transaction",
            protocol: Protocol::Tv2,
            partitions: 1,
            producers: vec![transactional("tx", false, vec![txn(&[0], TxnEnd::Commit)])],
            network: NetworkKind::Kafka,
            lossy: false,
            request_timeouts: 0,
            batches_expire: false,
            max_in_flight: 5,
            sequential_sends: false,
            txn_timeouts: 0,
            failovers: 0,
            marker_timeouts: 0,
            expiries: 0,
            max_requests: 8,
            bugs: Vec::new(),
            protocol_breaks: &[],
            always_breaks: &[],
            probes: &[probe::ACKED],
        }
    }

    /// The named scenarios, in `list` order.
    pub fn all() -> Vec<Scenario> {
        SCENARIOS
            .iter()
            .map(|&(name, vary)| Scenario {
                name,
                ..vary(Scenario::base())
            })
            .collect()
    }

    /// A named scenario (under TV2, no bug).
    pub fn named(name: &str) -> Option<Scenario> {
        SCENARIOS
            .iter()
            .find(|(n, _)| *n == name)
            .map(|&(name, vary)| Scenario {
                name,
                ..vary(Scenario::base())
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_is_unique_and_names_its_scenario() {
        let mut names = NAMES.to_vec();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), NAMES.len(), "a scenario name is used twice");
        let all: Vec<&str> = Scenario::all().iter().map(|s| s.name).collect();
        assert_eq!(all, NAMES);
        for name in NAMES {
            assert_eq!(Scenario::named(name).map(|s| s.name), Some(*name));
        }
        assert_eq!(Scenario::named("base"), None);
    }
}
