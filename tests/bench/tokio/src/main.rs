//! Tokio side of the runtime benchmark (tests/bench/run_runtime_bench.sh).
//!
//! The same scenarios as tests/bench/bench_runtime.c, with the same logic:
//! a multi-thread runtime with 2 workers, every scenario run inside
//! `rt.block_on(async { ... })`, so every spawn comes from the main
//! (block_on) thread.  One scenario per process:
//!
//!     tokio-bench a|a2|b|c|d
//!
//! Each measurement is printed as one line `<scenario> <metric> <value>`;
//! lines starting with `#` are comments.  Any wrong result panics (exit
//! status != 0).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use tokio::sync::{mpsc, Notify};
use tokio::task::{JoinHandle, JoinSet};

/// Tasks in scenarios a, a2 and b.
const N_TASKS: usize = 1_000_000;
/// Tasks in scenario c (every tenth panics).
const N_PANIC: usize = 100_000;
/// Round trips in scenario d.
const N_ROUNDS: usize = 1_000_000;

/// Incremented by every task of a / a2 when it runs, and by every task of
/// b just before its first wait.
static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// Resident set size in bytes, from /proc/self/statm (resident pages x page
/// size).
fn rss_bytes() -> usize {
    let s = std::fs::read_to_string("/proc/self/statm").expect("read /proc/self/statm");
    let pages: usize = s
        .split_whitespace()
        .nth(1)
        .and_then(|f| f.parse().ok())
        .expect("parse /proc/self/statm");
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as usize;
    pages * page
}

fn ns(d: std::time::Duration) -> f64 {
    d.as_nanos() as f64
}

/// Waits until COUNTER reaches n.  tokio::task::yield_now() alone never
/// gives up the CPU on the block_on thread (the future is re-polled at
/// once), so the loop also calls sched_yield, as the C side does.
async fn wait_counter(n: usize) {
    while COUNTER.load(Ordering::Acquire) < n {
        tokio::task::yield_now().await;
        std::thread::yield_now();
    }
}

/// a: 1M trivial tasks, handles kept in a Vec, joined in order.
async fn scenario_a() {
    COUNTER.store(0, Ordering::Relaxed);
    let rss0 = rss_bytes();
    let t0 = Instant::now();
    let mut handles: Vec<JoinHandle<usize>> = Vec::with_capacity(N_TASKS);
    for i in 0..N_TASKS {
        handles.push(tokio::spawn(async move {
            COUNTER.fetch_add(1, Ordering::Relaxed);
            i
        }));
    }
    let spawn_ns = ns(t0.elapsed());
    wait_counter(N_TASKS).await;
    let finished_ns = ns(t0.elapsed());
    // Reading the RSS is the only part not timed.
    let rss1 = rss_bytes();
    let tj = Instant::now();
    for (i, h) in handles.into_iter().enumerate() {
        let v = h.await.expect("task a failed");
        assert_eq!(v, i, "task a returned a wrong value");
    }
    let join_ns = ns(tj.elapsed());
    println!(
        "# a: spawn {:.1} ms, then wait until all finished {:.1} ms, join {:.1} ms",
        spawn_ns / 1e6,
        (finished_ns - spawn_ns) / 1e6,
        join_ns / 1e6
    );
    println!("a ns_per_task {:.1}", (finished_ns + join_ns) / N_TASKS as f64);
    println!(
        "a bytes_per_finished_task {:.1}",
        (rss1 as f64 - rss0 as f64) / N_TASKS as f64
    );
}

/// a2: the same tasks through a JoinSet, joined in completion order.
async fn scenario_a2() {
    COUNTER.store(0, Ordering::Relaxed);
    let mut seen = vec![false; N_TASKS];
    let t0 = Instant::now();
    let mut set: JoinSet<usize> = JoinSet::new();
    for i in 0..N_TASKS {
        set.spawn(async move {
            COUNTER.fetch_add(1, Ordering::Relaxed);
            i
        });
    }
    let mut got = 0usize;
    while let Some(r) = set.join_next().await {
        let v = r.expect("task a2 failed");
        assert!(v < N_TASKS && !seen[v], "task a2: index {v} twice or out of range");
        seen[v] = true;
        got += 1;
    }
    let el = ns(t0.elapsed());
    assert_eq!(got, N_TASKS, "a2: wrong number of results");
    println!("a2 ns_per_task {:.1}", el / N_TASKS as f64);
}

/// b: 1M tasks pending on one Notify that is never notified; then abort
/// and join them all.
async fn scenario_b() {
    COUNTER.store(0, Ordering::Relaxed);
    let notify: &'static Notify = Box::leak(Box::new(Notify::new()));
    let rss0 = rss_bytes();
    let mut handles: Vec<JoinHandle<()>> = Vec::with_capacity(N_TASKS);
    for _ in 0..N_TASKS {
        handles.push(tokio::spawn(async move {
            COUNTER.fetch_add(1, Ordering::Relaxed);
            notify.notified().await;
        }));
    }
    wait_counter(N_TASKS).await;
    let rss1 = rss_bytes();
    let t0 = Instant::now();
    for h in &handles {
        h.abort();
    }
    let abort_ns = ns(t0.elapsed());
    for h in handles {
        let e = h.await.expect_err("task b was not cancelled");
        assert!(e.is_cancelled(), "task b: not cancelled");
    }
    let el = ns(t0.elapsed());
    println!(
        "# b: abort loop {:.1} ms, join loop {:.1} ms",
        abort_ns / 1e6,
        (el - abort_ns) / 1e6
    );
    println!(
        "b bytes_per_pending_task {:.1}",
        (rss1 as f64 - rss0 as f64) / N_TASKS as f64
    );
    println!("b ns_per_abort_join {:.1}", el / N_TASKS as f64);
}

/// c: 100k tasks, every tenth panics; join all in order.
async fn scenario_c() {
    println!("# c: a no-op panic hook is installed, so the 10000 panics print nothing");
    std::panic::set_hook(Box::new(|_| {}));
    let t0 = Instant::now();
    let mut handles: Vec<JoinHandle<usize>> = Vec::with_capacity(N_PANIC);
    for i in 0..N_PANIC {
        handles.push(tokio::spawn(async move {
            if i % 10 == 0 {
                panic!("task {i}");
            }
            i
        }));
    }
    let mut panicked = 0usize;
    for (i, h) in handles.into_iter().enumerate() {
        match h.await {
            Ok(v) => assert!(i % 10 != 0 && v == i, "task c {i}: wrong value {v}"),
            Err(e) => {
                assert!(e.is_panic() && i % 10 == 0, "task c {i}: unexpected failure");
                panicked += 1;
            }
        }
    }
    let el = ns(t0.elapsed());
    let _ = std::panic::take_hook();
    assert_eq!(panicked, N_PANIC / 10, "c: wrong number of panics");
    println!("c ns_per_task {:.1}", el / N_PANIC as f64);
}

/// d: two tasks ping-ponging over two bounded channels of capacity 1.
async fn scenario_d() {
    let (tx1, mut rx1) = mpsc::channel::<usize>(1);
    let (tx2, mut rx2) = mpsc::channel::<usize>(1);
    let t0 = Instant::now();
    let ping = tokio::spawn(async move {
        for i in 0..N_ROUNDS {
            tx1.send(i).await.expect("ping: send");
            let v = rx2.recv().await.expect("ping: recv");
            assert_eq!(v, i + 1, "ping: wrong reply");
        }
    });
    let pong = tokio::spawn(async move {
        for _ in 0..N_ROUNDS {
            let v = rx1.recv().await.expect("pong: recv");
            tx2.send(v + 1).await.expect("pong: send");
        }
    });
    ping.await.expect("ping task failed");
    pong.await.expect("pong task failed");
    let el = ns(t0.elapsed());
    println!("d ns_per_round_trip {:.1}", el / N_ROUNDS as f64);
}

fn main() {
    let which = std::env::args().nth(1).unwrap_or_default();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .expect("build runtime");
    rt.block_on(async {
        match which.as_str() {
            "a" => scenario_a().await,
            "a2" => scenario_a2().await,
            "b" => scenario_b().await,
            "c" => scenario_c().await,
            "d" => scenario_d().await,
            _ => {
                eprintln!("usage: tokio-bench a|a2|b|c|d");
                std::process::exit(2);
            }
        }
    });
}
