//! The wasm engine stops a runaway or bloated guest, and keeps serving afterwards.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::sync::LazyLock;
use std::time::{Duration, Instant};

use micropower_server::engine::cache::Source;
use micropower_server::engine::{Engine, EngineError, NativeEngine, WasmConfig, WasmEngine};
use serde_json::json;

/// Compiling the guest takes a few seconds of CPU: the tests with the default limits share one engine.
static WASM: LazyLock<WasmEngine> = LazyLock::new(|| WasmEngine::new(WasmConfig::default()).expect("wasm engine"));

fn round_money() -> (String, String) {
    (json!({"amount": "10.555", "currency": "USD"}).to_string(), json!("10.56").to_string())
}

#[test]
fn fuel_stops_a_runaway_guest_and_the_engine_keeps_serving() {
    let engine = &*WASM;
    assert_eq!(engine.spin(1000).map(|_| ()), Ok(()), "a short spin finishes");

    let started = Instant::now();
    let stopped = engine.spin(u64::MAX);
    let took = started.elapsed();
    assert!(matches!(&stopped, Err(EngineError::Limit(why)) if why.contains("fuel")), "got {stopped:?}");
    assert!(took < Duration::from_secs(20), "stopped only after {took:?}");
    eprintln!("a runaway guest was stopped after {took:?} (fuel {})", engine.config().fuel);

    let (input, want) = round_money();
    assert_eq!(engine.call_text("round_money", &input), Ok(want));
    assert_eq!(engine.spin(1000).map(|_| ()), Ok(()), "spin works again");
}

#[test]
fn a_small_fuel_budget_refuses_even_ordinary_calls_as_a_limit() {
    let engine = WasmEngine::new(WasmConfig { fuel: 1_000, ..WasmConfig::default() }).expect("wasm engine");
    let (input, _) = round_money();
    let got = engine.call_text("round_money", &input);
    assert!(matches!(&got, Err(EngineError::Limit(_))), "got {got:?}");
    assert_eq!(got.map_err(|e| e.code()), Err("engine_limit"));
}

#[test]
fn memory_beyond_the_store_limit_is_refused_not_a_crash() {
    let engine = &*WASM;
    let limit = engine.config().memory_bytes;
    // An input larger than the whole memory limit: the guest cannot even receive it.
    let huge = json!({"raw": "A".repeat(limit + (1 << 20))});
    let got = engine.call_text("normalize_serial", &huge.to_string());
    assert!(matches!(&got, Err(EngineError::Limit(why)) if why.contains("memory")), "got {:?}", got.map(|_| ()));

    // An input that fits, but whose parsing and processing need several times its size.
    let big = json!({"raw": "A".repeat(limit / 4)});
    let got = engine.call_text("normalize_serial", &big.to_string());
    let native = NativeEngine.call_text("normalize_serial", &big.to_string());
    assert!(matches!(&got, Err(EngineError::Limit(_))) || got == native, "got {:?}", got.map(|_| ()));

    let (input, want) = round_money();
    assert_eq!(engine.call_text("round_money", &input), Ok(want));
}

#[test]
fn concurrent_callers_share_a_small_pool() {
    let engine = WasmEngine::new(WasmConfig { max_concurrent: 2, ..WasmConfig::default() }).expect("wasm engine");
    let (input, want) = round_money();
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|_| s.spawn(|| (0..25).map(|_| engine.call_text("round_money", &input)).collect::<Vec<_>>()))
            .collect();
        for handle in handles {
            for got in handle.join().unwrap() {
                assert_eq!(got.as_ref(), Ok(&want));
            }
        }
    });
}

#[test]
fn a_fresh_instance_per_call_decides_like_reused_instances() {
    let fresh = WasmEngine::new(WasmConfig { calls_per_instance: 1, ..WasmConfig::default() }).expect("wasm engine");
    let calls = [
        ("normalize_phone", json!({"raw": "0712 345 678", "region": "KE"})),
        ("normalize_phone", json!({"raw": "12"})),
        ("round_money", json!({"amount": "1.005", "currency": "KES"})),
    ];
    let started = Instant::now();
    for (function, input) in &calls {
        let input = input.to_string();
        let first = fresh.call_text(function, &input);
        assert_eq!(first, WASM.call_text(function, &input), "{function} {input}");
        assert_eq!(first, NativeEngine.call_text(function, &input), "{function} {input}");
    }
    eprintln!("a call on a new instance (instantiate + warm-up + call) took {:?}", started.elapsed() / 3);
    // Each retired instance is replaced off the callers' path, up to the pool's size and no further.
    let slots = fresh.config().max_concurrent as usize;
    let deadline = Instant::now() + Duration::from_secs(60);
    while fresh.idle_instances().unwrap_or_default() < slots {
        assert!(
            Instant::now() < deadline,
            "the pool was not refilled: {} of {slots}",
            fresh.idle_instances().unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(fresh.idle_instances().unwrap_or_default(), slots, "more instances kept than the pool holds");
}

/// The first start compiles the guest and keeps it; the next loads it, and decides alike.
#[test]
fn the_compiled_guest_is_kept_for_the_next_start() {
    let dir = tempfile::tempdir().unwrap();
    let first = WasmEngine::with_cache(WasmConfig::default(), dir.path()).expect("wasm engine");
    assert_eq!(first.source(), Source::CompiledAndCached);
    let started = Instant::now();
    let second = WasmEngine::with_cache(WasmConfig::default(), dir.path()).expect("wasm engine");
    eprintln!("a start from the kept guest took {:?}", started.elapsed());
    assert_eq!(second.source(), Source::Cached);
    let (input, want) = round_money();
    assert_eq!(second.call_text("round_money", &input), Ok(want.clone()));
    assert_eq!(first.call_text("round_money", &input), Ok(want));
}
