//! One `allocate_payment` call (the first case of `tests/vectors/allocate_payment.json`, domain.md §5.1)
//! through the wasm engine and the native engine in the same run, as the server makes it (`dyn
//! Engine::call` with the typed `AllocatePayment`: WIT records on the wasm engine), the wasm engine's former
//! route (`wasm_json`: the typed arguments as JSON text), plus the native JSON facade by `Value` (what the native
//! engine did before calls were typed), the same call by name and JSON text on both engines (`*_text`: the
//! guest and the boundary without the host's typed conversions) and the wasm engine's fixed cost per call (fresh fuel + an idle
//! instance + a call that does nothing). Figures in `BENCHMARKS.md` ("Core engine").

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::hint::black_box;
use std::path::PathBuf;

use criterion::{criterion_group, criterion_main, Criterion};
use micropower_core::calls::AllocatePayment;
use micropower_core::json;
use micropower_server::engine::{Engine, NativeEngine, WasmConfig, WasmEngine};
use serde_json::Value;

fn allocate_payment_case() -> Value {
    // Read at run time (cargo sets it): a test binary built in another clone sharing the target
    // directory, and found fresh here, would otherwise look in that clone.
    let path =
        PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into()))
            .join("../tests/vectors/allocate_payment.json");
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    doc["cases"][0].clone()
}

fn engines(c: &mut Criterion) {
    let case = allocate_payment_case();
    let (input, want) = (&case["input"], &case["output"]);
    let args: AllocatePayment = serde_json::from_value(input.clone()).unwrap();
    let wasm: &dyn Engine = &WasmEngine::new(WasmConfig::default()).unwrap();
    let native: &dyn Engine = &NativeEngine;
    assert_eq!(&serde_json::to_value(wasm.call(args.clone()).unwrap()).unwrap(), want);
    assert_eq!(&serde_json::to_value(native.call(args.clone()).unwrap()).unwrap(), want);
    assert_eq!(&json::call("allocate_payment", input).unwrap(), want);

    let mut group = c.benchmark_group("allocate_payment");
    group.bench_function("native", |b| b.iter(|| native.call(black_box(args.clone())).unwrap()));
    group.bench_function("native_json_value", |b| b.iter(|| json::call("allocate_payment", black_box(input)).unwrap()));
    group.bench_function("wasm", |b| b.iter(|| wasm.call(black_box(args.clone())).unwrap()));
    // The same call by name and text on both sides: what the boundary and the guest cost without the host's
    // conversion of the typed arguments and output.
    let text = serde_json::to_string(input).unwrap();
    group.bench_function("native_text", |b| b.iter(|| json::call_text("allocate_payment", black_box(&text)).unwrap()));
    group.bench_function("wasm_text", |b| b.iter(|| wasm.call_text("allocate_payment", black_box(&text)).unwrap()));
    let typed_text = serde_json::to_string(&args).unwrap();
    group.bench_function("wasm_typed_text", |b| {
        b.iter(|| wasm.call_text("allocate_payment", black_box(&typed_text)).unwrap())
    });
    // What `wasm` was before the payment path crossed as records: the typed arguments written as JSON text,
    // the output read back from text.
    group.bench_function("wasm_json", |b| {
        b.iter(|| {
            let t = serde_json::to_string(black_box(&args)).unwrap();
            let out = wasm.call_text("allocate_payment", &t).unwrap();
            serde_json::from_str::<micropower_core::api::Allocation>(&out).unwrap()
        })
    });
    group.bench_function("host_json", |b| {
        b.iter(|| {
            let t = serde_json::to_string(black_box(&args)).unwrap();
            let out = json::call_text("allocate_payment", &t).unwrap();
            serde_json::from_str::<micropower_core::api::Allocation>(&out).unwrap()
        })
    });
    group.finish();

    let spin = WasmEngine::new(WasmConfig::default()).unwrap();
    c.bench_function("wasm_fixed_cost_per_call", |b| b.iter(|| spin.spin(black_box(0)).unwrap()));
}

criterion_group!(benches, engines);
criterion_main!(benches);
