//! Partition-leader benchmarks: the decision cost of an idempotent append, of a duplicate retry,
//! and of a transactional append followed by its commit marker.
//!
//! Before the benchmarks run, a counting global allocator checks that the steady-state append
//! path allocates nothing besides the log's own (amortised) growth, and that a duplicate retry
//! allocates nothing at all. The counts are printed; they are not timings.

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};

use kafka_eos::partition::{
    PartitionConfig, PartitionLeader, ProduceBatch, TxnMarker, VerificationGuard,
};
use kafka_eos::{TransactionResult, TransactionVersion};

struct CountingAllocator;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

/// Appends per fresh leader before the log is thrown away (keeps memory bounded).
const CHUNK: u64 = 1 << 16;

fn batch(seq: i32, txn: bool) -> ProduceBatch<()> {
    ProduceBatch {
        producer_id: 1,
        producer_epoch: 0,
        base_sequence: seq,
        record_count: 1,
        is_transactional: txn,
        max_timestamp: 0,
        payload: (),
    }
}

fn commit() -> TxnMarker {
    TxnMarker {
        producer_id: 1,
        producer_epoch: 0,
        coordinator_epoch: 0,
        result: TransactionResult::Commit,
        timestamp: 0,
        transaction_version: TransactionVersion::Tv1,
    }
}

fn allocations() -> u64 {
    ALLOCATIONS.load(Ordering::Relaxed)
}

fn check_allocations() {
    let mut l: PartitionLeader<()> = PartitionLeader::new(PartitionConfig::default());
    l.append(batch(0, false), None).unwrap();
    let n: i32 = 100_000;
    let start = allocations();
    for seq in 1..=n {
        l.append(batch(seq, false), None).unwrap();
    }
    let appends = allocations() - start;
    let start = allocations();
    for _ in 0..n {
        l.append(batch(n, false), None).unwrap();
    }
    let duplicates = allocations() - start;
    println!(
        "allocation check: {n} idempotent appends -> {appends} allocations (log Vec growth only), \
         {n} duplicate retries -> {duplicates} allocations"
    );
    assert!(
        appends <= 64,
        "appends allocate beyond log growth: {appends}"
    );
    assert_eq!(duplicates, 0, "a duplicate retry allocated");
}

fn bench(c: &mut Criterion) {
    check_allocations();

    c.bench_function("idempotent_append", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            let mut done = 0u64;
            while done < iters {
                let n = CHUNK.min(iters - done);
                let mut l: PartitionLeader<()> = PartitionLeader::new(PartitionConfig::default());
                let start = Instant::now();
                for seq in 0..n {
                    let r = l.append(black_box(batch(seq as i32, false)), None);
                    black_box(r.ok());
                }
                total += start.elapsed();
                done += n;
            }
            total
        })
    });

    c.bench_function("duplicate_retry", |b| {
        let mut l: PartitionLeader<()> = PartitionLeader::new(PartitionConfig::default());
        for seq in 0..5 {
            l.append(batch(seq, false), None).unwrap();
        }
        b.iter(|| black_box(l.append(black_box(batch(2, false)), None).ok()))
    });

    c.bench_function("transactional_append_and_commit_marker", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            let mut done = 0u64;
            while done < iters {
                let n = CHUNK.min(iters - done);
                let mut l: PartitionLeader<()> = PartitionLeader::new(PartitionConfig::default());
                let start = Instant::now();
                for seq in 0..n {
                    let seq = seq as i32;
                    let guard: Option<VerificationGuard> =
                        l.start_verification(1, 0, seq, false, 0).ok();
                    black_box(l.append(black_box(batch(seq, true)), guard).ok());
                    black_box(l.write_marker(black_box(commit())).ok());
                }
                total += start.elapsed();
                done += n;
            }
            total
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
