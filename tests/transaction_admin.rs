//! The coordinator's admin answers (`docs/coordinator.md`, ListTransactions and
//! DescribeTransactions): `TransactionStateManager.listTransactionStates` and
//! `TransactionCoordinator.handleDescribeTransactions`.

use std::collections::BTreeSet;

use kafka_eos::coordinator::{
    CoordinatorConfig, ListTransactionsFilter, TransactionCoordinator, TransactionState,
};
use kafka_eos::messages::{AddPartitionsToTxnRequest, EndTxnRequest, InitProducerIdRequest};
use kafka_eos::{ErrorCode, TopicPartition, TransactionResult};

/// A coordinator with "empty" (initialised, no transaction), "open" (Ongoing since t=100, on
/// a-0 and b-1) and "ending" (PrepareCommit since t=200: its markers are not answered).
fn coordinator() -> TransactionCoordinator {
    let mut c = TransactionCoordinator::new(CoordinatorConfig::default(), 1000, 0).unwrap();
    for (tid, start) in [("empty", None), ("open", Some(100)), ("ending", Some(200))] {
        let init = InitProducerIdRequest {
            transactional_id: Some(tid.into()),
            transaction_timeout_ms: 60_000,
            producer_id: -1,
            producer_epoch: -1,
            version: 4,
        };
        let p = c.handle_init_producer_id(&init, 0).0.unwrap();
        let Some(now) = start else { continue };
        let add = AddPartitionsToTxnRequest {
            transactional_id: tid.into(),
            producer_id: p.producer_id,
            producer_epoch: p.producer_epoch,
            partitions: BTreeSet::from([TopicPartition::new("a", 0), TopicPartition::new("b", 1)]),
            verify_only: false,
            version: 3,
        };
        c.handle_add_partitions_to_txn(&add, now).0.unwrap();
        if tid == "ending" {
            let end = EndTxnRequest {
                transactional_id: tid.into(),
                producer_id: p.producer_id,
                producer_epoch: p.producer_epoch,
                result: TransactionResult::Commit,
                version: 3,
            };
            c.handle_end_txn(&end, now).0.unwrap();
        }
    }
    c
}

fn listed(c: &TransactionCoordinator, filter: ListTransactionsFilter, now: i64) -> Vec<String> {
    c.list_transactions(&filter, now)
        .transactions
        .into_iter()
        .map(|t| format!("{}:{}", t.transactional_id, t.state.name()))
        .collect()
}

fn filter(states: &[&str], producer_ids: &[i64], duration_ms: i64) -> ListTransactionsFilter {
    ListTransactionsFilter {
        states: states.iter().map(|s| s.to_string()).collect(),
        producer_ids: producer_ids.to_vec(),
        duration_ms,
    }
}

// No filter: every id (but Dead), in id order, with Kafka's state names.
#[test]
fn no_filter_lists_every_transactional_id() {
    let c = coordinator();
    assert_eq!(
        listed(&c, filter(&[], &[], -1), 1000),
        vec!["empty:Empty", "ending:PrepareCommit", "open:Ongoing"]
    );
}

// State filters select by TransactionState.name; a name that is no state is reported and
// matches nothing.
#[test]
fn state_filters_select_by_name_and_report_unknown_names() {
    let c = coordinator();
    assert_eq!(
        listed(&c, filter(&["Ongoing", "PrepareCommit"], &[], -1), 1000),
        vec!["ending:PrepareCommit", "open:Ongoing"]
    );
    let r = c.list_transactions(&filter(&["ongoing"], &[], -1), 1000);
    assert_eq!(r.unknown_state_filters, vec!["ongoing".to_string()]);
    assert!(r.transactions.is_empty());
}

// Producer-id filter.
#[test]
fn producer_id_filter_selects_by_current_producer_id() {
    let c = coordinator();
    let pid = c.transaction("open").unwrap().producer_id;
    assert_eq!(
        listed(&c, filter(&[], &[pid], -1), 1000),
        vec!["open:Ongoing"]
    );
}

// KIP-994 duration filter (v1): `now - txnStartTimestamp > duration`, so at exactly the
// duration the transaction is left out.
#[test]
fn duration_filter_keeps_transactions_running_longer() {
    let c = coordinator();
    // "open" started at 100 and "ending" at 200: at 1000 they have run 900 and 800 ms. Kafka
    // compares with the start timestamp as it is, so "empty" (start -1) always passes.
    assert_eq!(
        listed(&c, filter(&[], &[], 799), 1000),
        vec!["empty:Empty", "ending:PrepareCommit", "open:Ongoing"]
    );
    assert_eq!(
        listed(&c, filter(&["Ongoing", "PrepareCommit"], &[], 800), 1000),
        vec!["open:Ongoing"]
    );
    assert_eq!(
        listed(&c, filter(&["Ongoing"], &[], 899), 1000),
        vec!["open:Ongoing"]
    );
    assert!(listed(&c, filter(&["Ongoing"], &[], 900), 1000).is_empty());
}

// DescribeTransactions: state, timeout, start time and partitions by topic; an unknown id is
// TRANSACTIONAL_ID_NOT_FOUND, an empty one INVALID_REQUEST.
#[test]
fn describe_answers_state_timeout_start_and_partitions() {
    let c = coordinator();
    let d = c.describe_transaction("open").unwrap();
    assert_eq!(d.state, TransactionState::Ongoing);
    assert_eq!((d.timeout_ms, d.start_time_ms), (60_000, 100));
    assert_eq!(
        d.partitions
            .iter()
            .map(|(t, ps)| (t.as_str(), ps.iter().copied().collect::<Vec<_>>()))
            .collect::<Vec<_>>(),
        vec![("a", vec![0]), ("b", vec![1])]
    );
    let e = c.describe_transaction("empty").unwrap();
    assert_eq!((e.state, e.start_time_ms), (TransactionState::Empty, -1));
    assert!(e.partitions.is_empty());
    assert_eq!(
        c.describe_transaction("nope"),
        Err(ErrorCode::TransactionalIdNotFound)
    );
    assert_eq!(c.describe_transaction(""), Err(ErrorCode::InvalidRequest));
}
