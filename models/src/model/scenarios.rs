//! The named scenarios: the bounded workloads and environments `list` prints and `check`,
//! `explore` and `spawn` run. Each is one entry of [`SCENARIOS`]: its name and how it varies
//! [`Scenario::base`]; the names, [`Scenario::all`] and [`Scenario::named`] all read that table.

use super::processor::probe as processor_probe;
use super::properties::{
    probe, C1, L2, L4, S1, S10, S11, S12, S13, S14, S15, S17, S19, S2, S3, S4, S5, S9,
};
use super::scenario::{
    NetworkKind, OffsetsMode, ProcessorScript, ProducerScript, Protocol, Scenario, TxnEnd,
    TxnScript,
};
use kafka_eos::types::EXHAUSTED_EPOCH;

/// S17 needs a coordinator failover (two coordinator epochs).
const NO_FAILOVER: (&str, &str) = (
    S17,
    "no coordinator failover: every marker carries coordinator epoch 0",
);
/// S9 needs a transaction with two or more records.
const ONE_RECORD_TXNS: (&str, &str) = (
    S9,
    "every transaction writes one record: its outcome cannot differ between records",
);
/// S3 under TV2 with one record per partition and transaction.
const TV2_ONE_BATCH_PER_EPOCH: (&str, &str) = (
    S3,
    "each transaction writes at most one batch per partition, and under tv2 each transaction has its own epoch: no two batches share pid+epoch (relevant under tv0/tv1-verify)",
);
/// C1 needs an abortable or fatal error answered to a client.
const NO_CLIENT_ERROR: &str = "a single instance with no transaction timeout: every error the client is answered here is retried, never abortable or fatal";

/// Why `transactions-zombie` leaves some properties untested under tv0/tv1-verify.
const TZ_TV0_REASON: &str = "under tv0/tv1-verify the application aborts the second transaction while its AddPartitionsToTxn is pending, so its records are never written: no partition holds a second batch or aborted data (relevant under tv2)";

/// One property declared irrelevant, with the reason.
type Irrelevant = (&'static str, &'static str);

/// The transactional properties, which say nothing without transactions.
const NO_TRANSACTIONS: [Irrelevant; 10] = [
    (S4, "no transactions: no markers"),
    (S9, "no transactions"),
    (S10, "no transactions: nothing is told committed or aborted"),
    (S11, "no transactions: nothing is aborted"),
    (S12, "no transactions: read_committed returns every record"),
    (S13, "no transactions: LSO = HW"),
    (S14, "no transactions"),
    (S15, "no transactions"),
    NO_FAILOVER,
    (S19, "no transactions: nothing is told committed"),
];

/// `a` then `b` (`N` = their lengths' sum), for the declaration tables.
const fn concat<const A: usize, const B: usize, const N: usize>(
    a: [Irrelevant; A],
    b: [Irrelevant; B],
) -> [Irrelevant; N] {
    let mut out = [("", ""); N];
    let mut i = 0;
    while i < A {
        out[i] = a[i];
        i += 1;
    }
    let mut j = 0;
    while j < B {
        out[A + j] = b[j];
        j += 1;
    }
    out
}

/// The transactional properties of an idempotent scenario.
const IDEMPOTENT_IRRELEVANT: &[Irrelevant] = &concat::<10, 1, 11>(
    NO_TRANSACTIONS,
    [(C1, "no transactions and no fencing: every error an idempotent producer is answered here (a timeout, a reordered batch's OUT_OF_ORDER_SEQUENCE_NUMBER) is retried, never abortable or fatal")],
);

/// `idempotent-two-partitions`' declarations.
const TWO_PARTITIONS_IRRELEVANT: &[Irrelevant] = &concat::<10, 4, 14>(
    NO_TRANSACTIONS,
    [
        (S1, "one record per partition: no producer id has two batches on a partition"),
        (S3, "one record per partition: no producer id has two batches on a partition"),
        (S5, "one instance: no zombie"),
        (C1, "no transactions and no fencing: the expired batch's error is reported to its callback, never abortable or fatal"),
    ],
);

/// `idempotent-restart`'s declarations.
const RESTART_IRRELEVANT: &[Irrelevant] = &concat::<10, 3, 13>(
    NO_TRANSACTIONS,
    [
        (
            S3,
            "one record per instance: no producer id has two batches",
        ),
        (
            S5,
            "no transactional id: nothing fences the first instance, each has its own producer id",
        ),
        (
            C1,
            "no transactions and no fencing: no error is abortable or fatal",
        ),
    ],
);

/// `retries-without-idempotence`'s declarations.
const NO_IDEMPOTENCE_IRRELEVANT: &[Irrelevant] = &concat::<10, 3, 13>(
    NO_TRANSACTIONS,
    [
        (
            S3,
            "without idempotence batches carry no producer id and no sequence: nothing to be contiguous",
        ),
        (
            S5,
            "without idempotence batches carry no producer id and no epoch: nothing to fence",
        ),
        (
            C1,
            "no transactions and no fencing: the timeout is retried, no error is abortable or fatal",
        ),
    ],
);

/// How a named scenario varies [`Scenario::base`] (its name is set from the table).
pub type Variation = fn(Scenario) -> Scenario;

/// The named scenarios, in `list` order: name, and how the scenario varies the base.
pub const SCENARIOS: [(&str, Variation); 20] = [
    ("idempotent", |base| {
        Scenario {
            summary: "idempotent producer, 3 records (2 in flight) to 1 partition, 2 ambiguous request timeouts",
            producers: vec![ProducerScript {
                transactional_id: None,
                delayed_start: false,
                txns: vec![txn(&[0, 0, 0], TxnEnd::Commit)],
                extra_retries: 0,
            }],
            request_timeouts: 2,
            max_in_flight: 2,
            probes: &[probe::ACKED, probe::DUPLICATE],
            irrelevant: IDEMPOTENT_IRRELEVANT,
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
                extra_retries: 0,
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
            irrelevant: IDEMPOTENT_IRRELEVANT,
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
            irrelevant: &[
                TV2_ONE_BATCH_PER_EPOCH,
                NO_FAILOVER,
                (C1, NO_CLIENT_ERROR),
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
            irrelevant: &[
                (S3, "each instance writes one batch per partition at its own epoch"),
                ONE_RECORD_TXNS,
                NO_FAILOVER,
            ],
            // Each instance's InitProducerId or AddPartitionsToTxn may be answered
            // CONCURRENT_TRANSACTIONS while the other's transaction ends, and retried.
            retries: 5,
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
        irrelevant: &[
            (
                S11,
                "the one transaction commits (nothing aborted) or is aborted (nothing to read)",
            ),
            (S15, "one transaction: every marker closes only its records"),
            NO_FAILOVER,
        ],
        // After the timeout abort the producer's EndTxn is fenced or answered
        // CONCURRENT_TRANSACTIONS, and the client re-initialises.
        retries: 4,
        ..base
    }),
    ("coordinator-failover", |base| {
        Scenario {
            summary: "the coordinator fails over (new coordinator epoch) at any point of a 2-partition commit",
            partitions: 2,
            producers: vec![transactional("tx", false, vec![txn(&[0, 1], TxnEnd::Commit)])],
            failovers: 1,
            probes: &[probe::ACKED, probe::COMMIT_2, probe::FAILOVER_PREPARE],
            irrelevant: &[
                (S1, "no retries and one record per partition: no record can be written twice"),
                (S3, "one batch per partition"),
                (S5, "one batch per partition and no second instance"),
                (S11, "the one transaction commits: nothing is aborted"),
                (S15, "one transaction: every marker closes only its records"),
                (C1, "the client retries every error a failover causes (the coordinator moves or is loading): none is abortable or fatal"),
            ],
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
            // Under tv0 the client bumps its epoch too (KIP-360: the expired batch leaves an
            // unresolved sequence, `TransactionManager.maybeResolveSequences` → abortable
            // error with a client epoch bump), but nothing checks the late produce: it lands
            // after the abort marker at the old epoch and hangs (KAFKA-12671: S14, L2), or the
            // next transaction's COMMIT marker at the new epoch commits it (M-T2: S10, S11,
            // S15). Under tv1-verify the leader verifies the late produce with the
            // coordinator, which fences it by the bumped epoch; under tv2 the coordinator
            // bumps at every transaction end.
            // Under tv1-verify the KAFKA-17754 path (the retried EndTxn(COMMIT)'s first request
            // commits T2 early) leaves the client's abort answered INVALID_TXN_STATE: fatal (C1).
            protocol_breaks: &[
                (Protocol::Tv0, &[S10, S11, S14, S15, L2, L4]),
                (Protocol::Tv1Verify, &[C1]),
            ],
            probes: &[probe::ACKED, probe::LATE_PRODUCE],
            irrelevant: &[
                TV2_ONE_BATCH_PER_EPOCH,
                ONE_RECORD_TXNS,
                NO_FAILOVER,
            ],
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
            // The application adds T2's partitions one at a time (`send().get()`), so a
            // delayed EndTxn(COMMIT) of T1 that commits T2 early tears it: the first
            // partition commits, the second opens a new transaction the client aborts
            // (Jepsen's finding). TV1 cannot tell the late EndTxn from a retry; TV2 fences
            // it by epoch.
            // The torn transaction's abort is then answered INVALID_TXN_STATE (C1).
            protocol_breaks: &[
                (Protocol::Tv0, &[S9, S10, S11, S14, L2, C1]),
                (Protocol::Tv1Verify, &[S9, S10, S11, C1]),
            ],
            probes: &[probe::ACKED, probe::LSO_HELD, probe::LATE_ENDTXN],
            irrelevant: &[
                TV2_ONE_BATCH_PER_EPOCH,
                NO_FAILOVER,
            ],
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
            irrelevant: &[
                (S1, "no produce is retried and T1 aborts: no partition holds two non-aborted batches of the producer"),
                (S3, "at most one batch per partition and epoch: T1 aborts before a second batch"),
                (S15, "under tv0/tv1-verify T1 aborts while its AddPartitionsToTxn is pending, so its record is never written; under tv2 each transaction has its own epoch (relevant under tv2)"),
                NO_FAILOVER,
                (C1, "under tv0/tv2 the re-sent marker is between the coordinator and the leaders: the client is answered no abortable or fatal error (relevant under tv1-verify)"),
            ],
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
            irrelevant: &[
                TV2_ONE_BATCH_PER_EPOCH,
                ONE_RECORD_TXNS,
                (S11, "both transactions commit: nothing is aborted"),
                NO_FAILOVER,
                (C1, "under tv0 the expiry leads to no abortable or fatal answer to the client (relevant under tv1-verify/tv2)"),
            ],
            ..base
        }
    }),
    ("marker-resend", |base| {
        Scenario {
            summary: "KAFKA-19999: a commit's WriteTxnMarkers request times out after the marker was written and is re-sent at the same epoch, with no transaction open any more",
            marker_timeouts: 1,
            probes: &[probe::ACKED],
            irrelevant: &[
                (S1, "one record, never retried: it cannot be written twice"),
                (S3, "one batch: no sequence to follow"),
                (S5, "one instance writing one batch: no older epoch to fence"),
                ONE_RECORD_TXNS,
                (S11, "the one transaction commits: nothing is aborted"),
                (S15, "one transaction: every marker closes only its records"),
                NO_FAILOVER,
                (C1, "the re-sent marker is between the coordinator and the leader: the client is answered no abortable or fatal error"),
            ],
            ..base
        }
    }),
    ("epoch-exhaustion", |base| {
        Scenario {
            summary: "KAFKA-19367: epochs exhausted early (exhausted_epoch=1): a second instance initialises while the first is mid-transaction near the limit; TV2 overflow rotates the producer id",
            producers: vec![
                transactional(
                    "tx",
                    false,
                    vec![txn(&[0], TxnEnd::Commit), txn(&[0], TxnEnd::Commit)],
                ),
                transactional("tx", true, vec![txn(&[0], TxnEnd::Commit)]),
            ],
            exhausted_epoch: 1,
            probes: &[probe::ACKED, probe::FENCED, probe::CONCURRENT],
            // As in `zombie`: each instance's InitProducerId or AddPartitionsToTxn may be
            // answered CONCURRENT_TRANSACTIONS while the other's transaction ends, and retried.
            retries: 5,
            irrelevant: &[
                TV2_ONE_BATCH_PER_EPOCH,
                ONE_RECORD_TXNS,
                NO_FAILOVER,
            ],
            ..base
        }
    }),
    ("append-failure", |base| {
        Scenario {
            summary: "a transaction-log append fails (NOT_ENOUGH_REPLICAS) at any client request of the zombie workload (a fencing InitProducerId included): COORDINATOR_NOT_AVAILABLE is retried",
            producers: vec![
                transactional("tx", false, vec![txn(&[0], TxnEnd::Commit)]),
                transactional("tx", true, vec![txn(&[0], TxnEnd::Commit)]),
            ],
            append_failures: 1,
            probes: &[probe::ACKED, probe::APPEND_FAILED, probe::FENCED, probe::CONCURRENT],
            irrelevant: &[
                (S3, "each instance writes one batch per partition at its own epoch"),
                ONE_RECORD_TXNS,
                NO_FAILOVER,
            ],
            // As in `zombie`, plus the retry of the failed append (in the derived budget).
            retries: 5,
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
                // The restarted instance only initialises; its InitProducerId is answered
                // CONCURRENT_TRANSACTIONS while the first instance's transaction ends.
                ProducerScript {
                    extra_retries: 6,
                    ..transactional("tx", true, Vec::new())
                },
            ],
            probes: &[
                probe::ACKED,
                probe::COMMIT_2,
                probe::ABORT_2,
                probe::LSO_HELD,
                probe::FENCED,
                probe::CONCURRENT,
            ],
            irrelevant: &[
                (S1, TZ_TV0_REASON),
                (S5, TZ_TV0_REASON),
                (S11, TZ_TV0_REASON),
                (S15, TZ_TV0_REASON),
                TV2_ONE_BATCH_PER_EPOCH,
                NO_FAILOVER,
            ],
            ..base
        }
    }),
    ("idempotent-two-partitions", |base| {
        Scenario {
            summary: "the seed's claim that idempotence is per partition: an idempotent producer sends one record to each of 2 partitions, 1 request timeout and the batch expires; one record is written, the other fails (no cross-partition atomicity without a transaction)",
            partitions: 2,
            producers: vec![ProducerScript {
                transactional_id: None,
                delayed_start: false,
                txns: vec![txn(&[0, 1], TxnEnd::Commit)],
                extra_retries: 0,
            }],
            request_timeouts: 1,
            batches_expire: true,
            probes: &[probe::ACKED, probe::PARTIAL_WRITE],
            irrelevant: TWO_PARTITIONS_IRRELEVANT,
            ..base
        }
    }),
    ("idempotent-restart", |base| {
        Scenario {
            summary: "the seed's claim that a restart without fencing resets sequences: an idempotent producer writes a record, restarts at any point as a new instance (no transactional id: a new producer id, sequence 0) and sends the record again; the leader cannot tell it from a new one (S1)",
            producers: vec![
                ProducerScript {
                    transactional_id: None,
                    delayed_start: false,
                    txns: vec![txn(&[0], TxnEnd::Commit)],
                    extra_retries: 0,
                },
                ProducerScript {
                    transactional_id: None,
                    delayed_start: true,
                    txns: vec![txn(&[0], TxnEnd::Commit)],
                    extra_retries: 0,
                },
            ],
            restart_resends: true,
            always_breaks: &[S1],
            probes: &[probe::ACKED],
            irrelevant: RESTART_IRRELEVANT,
            ..base
        }
    }),
    ("retries-without-idempotence", |base| {
        Scenario {
            summary: "the seed's claim that retries without idempotence duplicate: a producer with enable.idempotence=false (no producer id, no sequence) sends 1 record, 1 request timeout: the first Produce may be written with its answer lost, the retry writes the record again (S1)",
            producers: vec![ProducerScript {
                transactional_id: None,
                delayed_start: false,
                txns: vec![txn(&[0], TxnEnd::Commit)],
                extra_retries: 0,
            }],
            idempotence: false,
            request_timeouts: 1,
            always_breaks: &[S1],
            probes: &[probe::ACKED],
            irrelevant: NO_IDEMPOTENCE_IRRELEVANT,
            ..base
        }
    }),
    ("processor", |base| {
        Scenario {
            summary: "consume-transform-produce: 1 input record on t-0, a processor writes its output to t-1 and commits its input offset in the transaction; a restarted instance (same transactional id, rejoining the group) starts at any point while the first lives on as a zombie",
            partitions: 2,
            producers: Vec::new(),
            processors: vec![
                ProcessorScript {
                    transactional_id: "tx",
                    delayed_start: false,
                    offsets: OffsetsMode::InTransaction,
                },
                ProcessorScript {
                    transactional_id: "tx",
                    delayed_start: true,
                    offsets: OffsetsMode::InTransaction,
                },
            ],
            input_records: 1,
            retries: 2,
            probes: &[
                processor_probe::UNSTABLE,
                processor_probe::GENERATION_FENCED,
                processor_probe::COMPLETED,
                probe::FENCED,
            ],
            irrelevant: PROCESSOR_IRRELEVANT,
            ..base
        }
    }),
    ("processor-kip447", |base| {
        Scenario {
            summary: "the processor workload under KIP-447: the restarted instance has its own transactional id, so only the group generation fences the first (its offsets) and require_stable holds the new owner back while the first's transaction is open",
            partitions: 2,
            producers: Vec::new(),
            processors: vec![
                ProcessorScript {
                    transactional_id: "tx-1",
                    delayed_start: false,
                    offsets: OffsetsMode::InTransaction,
                },
                ProcessorScript {
                    transactional_id: "tx-2",
                    delayed_start: true,
                    offsets: OffsetsMode::InTransaction,
                },
            ],
            input_records: 1,
            retries: 2,
            probes: &[
                processor_probe::UNSTABLE,
                processor_probe::GENERATION_FENCED,
                processor_probe::COMPLETED,
            ],
            irrelevant: KIP447_IRRELEVANT,
            ..base
        }
    }),
    ("two-writers", |base| {
        Scenario {
            summary: "two transactional ids write the same 2 partitions (tx-a: a committed then a chosen transaction of 1 record on t-0; tx-b: 1 transaction of 2 records, commit or abort chosen), read by a read_committed consumer",
            partitions: 2,
            producers: vec![
                transactional(
                    "tx-a",
                    false,
                    vec![txn(&[0], TxnEnd::Commit), txn(&[0], TxnEnd::Choose)],
                ),
                transactional("tx-b", false, vec![txn(&[0, 1], TxnEnd::Choose)]),
            ],
            probes: &[
                probe::ACKED,
                probe::COMMIT_2,
                probe::ABORT_2,
                probe::LSO_HELD,
            ],
            irrelevant: &[
                TV2_ONE_BATCH_PER_EPOCH,
                NO_FAILOVER,
                (C1, "two independent transactional ids, no fencing, timeout or failure: every error a client is answered here is retried, never abortable or fatal"),
            ],
            ..base
        }
    }),
];

/// [`PROCESSOR_IRRELEVANT`] and S5: under KIP-447 no producer id is fenced.
const KIP447_IRRELEVANT: &[(&str, &str)] = &[
    (S1, "one input record: each instance writes one output batch, so no producer id has two data batches on a partition (two instances' outputs of one input are E1's)"),
    (S2, PROCESSOR_CLIENTS),
    (S3, "one input record: each instance writes one output batch, so no pid+epoch has two"),
    (S5, "each instance has its own transactional id: no producer id is fenced (KIP-447 fences the zombie's offsets by generation, E3)"),
    (S9, PROCESSOR_CLIENTS),
    (S10, PROCESSOR_CLIENTS),
    (S15, PROCESSOR_CLIENTS),
    NO_FAILOVER,
    (S19, PROCESSOR_CLIENTS),
    (L4, PROCESSOR_CLIENTS),
    (C1, PROCESSOR_CLIENTS),
];

/// Why the producer-script properties say nothing about processors.
const PROCESSOR_CLIENTS: &str = "no producer script: the properties of what a producer application was told read the producer scripts, and the processors' clients are checked by E1-E4";

/// The producer properties a processor scenario leaves untested (its clients are processors).
const PROCESSOR_IRRELEVANT: &[(&str, &str)] = &[
    (S1, "one input record: each instance writes one output batch, so no producer id has two data batches on a partition (two instances' outputs of one input are E1's)"),
    (S2, PROCESSOR_CLIENTS),
    (S3, "one input record: each instance writes one output batch, so no pid+epoch has two"),
    (S9, PROCESSOR_CLIENTS),
    (S10, PROCESSOR_CLIENTS),
    (S15, PROCESSOR_CLIENTS),
    NO_FAILOVER,
    (S19, PROCESSOR_CLIENTS),
    (L4, PROCESSOR_CLIENTS),
    (C1, PROCESSOR_CLIENTS),
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
        extra_retries: 0,
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
            processors: Vec::new(),
            input_records: 0,
            restart_resends: false,
            idempotence: true,
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
            append_failures: 0,
            exhausted_epoch: EXHAUSTED_EPOCH,
            retries: 3,
            bugs: Vec::new(),
            protocol_breaks: &[],
            always_breaks: &[],
            probes: &[probe::ACKED],
            irrelevant: &[],
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
