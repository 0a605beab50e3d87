//! The core as a WebAssembly component inside wasmtime.
//!
//! At start: the embedded component (built by `build.rs` from `host-server/guest`) is compiled, or loaded
//! from the data directory where an earlier start kept it compiled ([`super::cache`]), linked against an
//! empty WASI (`wasmtime_wasi::p2::add_to_linker_sync`) and pre-instantiated once
//! ([`InstancePre`](wasmtime::component::InstancePre)); one instance is created and warmed, the rest of the
//! pool is warmed on a background thread.
//!
//! Instances: each lives in its own [`Store`] (its own memory, [`StoreLimits`] and fuel), taken from the
//! pooling allocator. A new instance first runs the guest's `warm-up` export under
//! [`WasmConfig::warm_up_fuel`]: it loads the core's lazily built phone-number metadata, which costs about
//! 1.15 billion fuel (≈ 0.1 s), against ≈ 0.2 million for an `allocate_payment`. A fresh store per call
//! would pay that on every registration, so instances are reused (the "bounded reuse" of
//! `architecture.md`): each serves up to [`WasmConfig::calls_per_instance`] calls, then is dropped, as it is
//! at once after any trap or limit, or when its memory has grown past half of
//! [`WasmConfig::memory_bytes`]. Every call gets a fresh [`WasmConfig::fuel`] budget. The core is pure, so
//! nothing a call leaves in the guest's memory changes the next call's decision.
//!
//! Limits are deterministic: fuel counts instructions, not time, so an input is accepted or stopped the same
//! way on every server whatever its load (and every instance is warmed alike, so a call's fuel hardly
//! depends on what the instance served before). A call refused memory on a reused instance is retried once
//! on a new instance, so a fragmented heap never decides an outcome.
//!
//! Concurrency: at most [`WasmConfig::max_concurrent`] calls run at once; further callers wait for a free
//! slot. The default is one per core and one for the SQLite writer: async callers run on tokio's blocking
//! pool behind a semaphore of [`Engine::slots`] permits (`state::Inner::core`), so they rarely meet the gate
//! and it never blocks a runtime worker; more instances would only share the same cores, each holding about
//! 5 MiB once warm.
//!
//! Replacement: an instance retired (worn out, trapped, stopped by a limit) is replaced by a background
//! thread, so the 0.1 s warm-up of its successor lands in no request, nor in a writer's batch.

use std::any::Any;
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex, PoisonError};

use wasmtime::component::{Linker, ResourceTable};
use wasmtime::{
    Config, InstanceAllocationStrategy, PoolingAllocationConfig, ResourceLimiter, Store, StoreLimits,
    StoreLimitsBuilder, Trap,
};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::cache::{self, Source};
use super::{Engine, EngineError};

#[allow(missing_docs, clippy::all, clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod bindings {
    wasmtime::component::bindgen!({
        world: "core",
        path: "wit",
    });
}

use bindings::{Core, CoreError as WitError, CorePre, ErrorInfo};
use micropower_core::api::{Allocation, Validation};
use micropower_core::calls::{AllocatePayment, NormalizeSerial, ValidatePayment};
use micropower_core::CoreError;

micropower_core::wit_records!(bindings);

/// The guest component (`micropower_guest.wasm`, target `wasm32-wasip2`), built and embedded by `build.rs`.
pub const GUEST_COMPONENT: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/micropower_guest.wasm"));

/// Limits of the wasm engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WasmConfig {
    /// Fuel per call (about one unit per wasm instruction; wasmtime runs a few billion a second). A payment
    /// uses ≈ 0.2 million; the costliest shared vector ≈ 33 million (a phone number of a region the instance
    /// has not seen yet: that region's patterns compile lazily). The default stops a runaway call after
    /// ≈ 0.25 s.
    pub fuel: u64,
    /// Fuel for a new instance's `warm-up` (≈ 1.15 billion used; the instance's memory is then ≈ 5 MiB).
    pub warm_up_fuel: u64,
    /// Bytes one linear memory of the guest may grow to.
    pub memory_bytes: usize,
    /// Calls one instance serves before it is replaced by a new one.
    pub calls_per_instance: u64,
    /// Calls that may run at once: the number of warm instances kept. Further callers wait.
    pub max_concurrent: u32,
}

impl Default for WasmConfig {
    fn default() -> Self {
        // One call per core, and one for SQLite's writer thread.
        let cores = std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get);
        Self {
            fuel: 1_000_000_000,
            warm_up_fuel: 4_000_000_000,
            memory_bytes: 64 << 20,
            calls_per_instance: 100_000,
            max_concurrent: u32::try_from(cores + 1).unwrap_or(u32::MAX),
        }
    }
}

/// Per-store instances, memories and tables: enough for the guest (a main module plus WASI glue).
const INSTANCES_PER_STORE: u32 = 16;
const MEMORIES_PER_STORE: u32 = 4;
const TABLES_PER_STORE: u32 = 8;

/// The core inside wasmtime; see the module documentation.
pub struct WasmEngine {
    instances: Arc<Instances>,
    gate: Gate,
    source: Source,
}

/// What makes and keeps instances, shared with the threads that warm replacements.
struct Instances {
    engine: wasmtime::Engine,
    pre: CorePre<State>,
    config: WasmConfig,
    idle: Mutex<Vec<Instance>>,
}

impl std::fmt::Debug for WasmEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WasmEngine").field("config", &self.instances.config).finish_non_exhaustive()
    }
}

impl WasmEngine {
    /// Compiles the embedded guest component, pre-instantiates it and warms one instance.
    pub fn new(config: WasmConfig) -> Result<Self, EngineError> {
        Self::build(config, GUEST_COMPONENT, None)
    }

    /// Same as [`WasmEngine::new`], the compiled guest kept in `dir` for the next start (and loaded from it
    /// when an earlier start kept it there).
    pub fn with_cache(config: WasmConfig, dir: &Path) -> Result<Self, EngineError> {
        Self::build(config, GUEST_COMPONENT, Some(dir))
    }

    /// Same as [`WasmEngine::new`] with another component of the `core` world (tests, tools).
    pub fn with_component(config: WasmConfig, component: &[u8]) -> Result<Self, EngineError> {
        Self::build(config, component, None)
    }

    fn build(config: WasmConfig, component: &[u8], cache_dir: Option<&Path>) -> Result<Self, EngineError> {
        let setup = |what: &str, e: wasmtime::Error| EngineError::Internal(format!("{what}: {e:#}"));
        let n = config.max_concurrent.max(1);
        // Room for twice the pool: a retired instance's successor may still be warming in the background
        // while a caller makes one of its own. Slots are address space, not memory.
        let slots = 2 * n;
        let mut pool = PoolingAllocationConfig::new();
        pool.total_component_instances(slots)
            .total_core_instances(slots * INSTANCES_PER_STORE)
            .total_memories(slots * MEMORIES_PER_STORE)
            .total_tables(slots * TABLES_PER_STORE)
            .max_core_instances_per_component(INSTANCES_PER_STORE)
            .max_memories_per_component(MEMORIES_PER_STORE)
            .max_tables_per_component(TABLES_PER_STORE)
            .max_memory_size(config.memory_bytes);
        let mut wt = Config::new();
        wt.allocation_strategy(InstanceAllocationStrategy::Pooling(pool)).consume_fuel(true);
        let engine = wasmtime::Engine::new(&wt).map_err(|e| setup("configuring wasmtime", e))?;
        let (component, source) =
            cache::component(&engine, component, cache_dir).map_err(|e| setup("compiling the guest", e))?;
        tracing::debug!(?source, "wasm guest ready");
        let mut linker = Linker::<State>::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker).map_err(|e| setup("linking WASI", e))?;
        let instance_pre = linker.instantiate_pre(&component).map_err(|e| setup("pre-instantiating", e))?;
        let pre = CorePre::new(instance_pre).map_err(|e| setup("checking the guest's exports", e))?;
        let instances = Arc::new(Instances { engine, pre, config, idle: Mutex::new(Vec::new()) });
        let first = instances.new_instance()?;
        instances.park(first);
        for _ in 1..n {
            Instances::replace_in_background(&instances);
        }
        Ok(Self { instances, gate: Gate::new(n), source })
    }

    /// The limits this engine runs with.
    pub fn config(&self) -> WasmConfig {
        self.instances.config
    }

    /// Whether this start compiled the guest or loaded it compiled.
    pub fn source(&self) -> Source {
        self.source
    }

    /// [`Engine::call_text`], and the fuel the call used (roughly the wasm instructions it ran): for tuning
    /// [`WasmConfig::fuel`] and for metrics.
    pub fn call_metered(&self, function: &str, input: &str) -> (Result<String, EngineError>, u64) {
        let (result, fuel) = self.run(|core, store| core.call_call(store, function, input));
        (result.and_then(|answer| answer.map_err(from_wit)), fuel)
    }

    /// `allocate_payment` with its arguments and output as WIT records: no JSON text on either side.
    pub fn allocate_payment(&self, args: AllocatePayment) -> Result<Allocation, EngineError> {
        let snapshot = args.snapshot.map(bindings::AccountSnapshot::from);
        let payment = bindings::Payment::from(args.payment);
        let (result, _) = self.run(|core, store| core.call_allocate_payment(store, snapshot.as_ref(), &payment));
        let record = result?.map_err(from_wit)?;
        Allocation::try_from(record).map_err(|e| {
            EngineError::Internal(format!("allocate_payment: the guest answered a record that is no allocation: {e}"))
        })
    }

    /// `validate_payment` (a provider asking before the money moves) with records both ways.
    pub fn validate_payment(&self, args: ValidatePayment) -> Result<Validation, EngineError> {
        let snapshot = args.snapshot.map(bindings::AccountSnapshot::from);
        let request = bindings::ValidationRequest::from(args.request);
        let (result, _) = self.run(|core, store| core.call_validate_payment(store, snapshot.as_ref(), &request));
        let record = result?.map_err(from_wit)?;
        Validation::try_from(record).map_err(|e| {
            EngineError::Internal(format!("validate_payment: the guest answered a record that is no validation: {e}"))
        })
    }

    /// `normalize_serial` without JSON text.
    pub fn normalize_serial(&self, raw: &str) -> Result<String, EngineError> {
        self.run(|core, store| core.call_normalize_serial(store, raw)).0?.map_err(from_wit)
    }

    /// TEST ONLY: runs the guest's `spin` export (a loop of `iterations` trips) under the same limits as
    /// [`Engine::call`]; lets tests check that fuel stops a runaway guest and the engine keeps serving.
    pub fn spin(&self, iterations: u64) -> Result<u64, EngineError> {
        self.run(|core, store| core.call_spin(store, iterations)).0
    }

    /// Runs `f` on an idle instance (or a new one) under a fresh fuel budget; returns the result and the
    /// fuel used. The instance goes back to the idle list unless it failed or is worn out; then a successor
    /// is warmed in the background.
    fn run<R>(&self, f: impl Fn(&Core, &mut Store<State>) -> wasmtime::Result<R>) -> (Result<R, EngineError>, u64) {
        let _slot = self.gate.enter();
        let instances = &self.instances;
        let budget = instances.config.fuel;
        let idle = instances.idle.lock().unwrap_or_else(PoisonError::into_inner).pop();
        let reused = idle.is_some();
        let mut instance = match idle.map_or_else(|| instances.new_instance(), Ok) {
            Ok(instance) => instance,
            Err(e) => return (Err(e), 0),
        };
        let (mut result, mut fuel) = instance.run(&f, budget);
        if reused && instance.store.data().limits.hit.is_some() {
            // Memory refused on an instance that served other calls before: its heap's history must not
            // decide this call, so try once more on a new instance.
            // The new instance takes the dropped one's place, so no successor is warmed for it.
            drop(instance);
            instance = match instances.new_instance() {
                Ok(instance) => instance,
                Err(e) => return (Err(e), fuel),
            };
            (result, fuel) = instance.run(&f, budget);
        }
        // A failed or worn instance is dropped here, before `_slot` lets the next caller in.
        if result.is_err() || !instances.park(instance) {
            Instances::replace_in_background(instances);
        }
        (result, fuel)
    }
}

impl Instances {
    /// A new store and instance under this engine's limits, warmed up.
    fn new_instance(&self) -> Result<Instance, EngineError> {
        let mut store = Store::new(&self.engine, State::new(&self.config));
        store.limiter(|state| &mut state.limits);
        let (warmed, _) = Instance::metered(&mut store, self.config.warm_up_fuel, |store| {
            let core = self.pre.instantiate(&mut *store)?;
            core.call_warm_up(&mut *store)?;
            Ok(core)
        });
        Ok(Instance { store, core: warmed?, calls: 0 })
    }

    /// Returns a healthy instance to the idle list; false (the instance dropped) when it has served its
    /// share or grown too big.
    fn park(&self, instance: Instance) -> bool {
        let worn = instance.calls >= self.config.calls_per_instance
            || instance.store.data().limits.memory > self.config.memory_bytes / 2;
        if !worn {
            let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
            // More than one per slot can exist for a moment (a caller made one while a successor warmed);
            // the extra one is dropped, not kept.
            if idle.len() < self.config.max_concurrent.max(1) as usize {
                idle.push(instance);
            }
        }
        !worn
    }

    /// Warms a new instance on a thread of its own and parks it, so that no caller waits for it.
    fn replace_in_background(this: &Arc<Self>) {
        let instances = Arc::clone(this);
        let spawned = std::thread::Builder::new().name("wasm-warm-up".into()).spawn(move || {
            match instances.new_instance() {
                Ok(instance) => {
                    instances.park(instance);
                }
                // The next caller that finds no idle instance makes one itself, and meets the failure there.
                Err(e) => tracing::warn!("warming a wasm instance in the background failed: {e}"),
            }
        });
        if let Err(e) = spawned {
            tracing::warn!("cannot start a thread to warm a wasm instance: {e}");
        }
    }
}

/// A warmed instance with its store.
struct Instance {
    store: Store<State>,
    core: Core,
    calls: u64,
}

impl Instance {
    fn run<R>(
        &mut self,
        f: &impl Fn(&Core, &mut Store<State>) -> wasmtime::Result<R>,
        fuel: u64,
    ) -> (Result<R, EngineError>, u64) {
        self.calls += 1;
        let core = &self.core;
        Self::metered(&mut self.store, fuel, |store| f(core, store))
    }

    /// Runs `f` with exactly `fuel` available; returns its result, host failures classified, and the fuel used.
    fn metered<R>(
        store: &mut Store<State>,
        fuel: u64,
        f: impl FnOnce(&mut Store<State>) -> wasmtime::Result<R>,
    ) -> (Result<R, EngineError>, u64) {
        store.data_mut().limits.hit = None;
        if let Err(e) = store.set_fuel(fuel) {
            return (Err(EngineError::Internal(format!("setting fuel: {e:#}"))), 0);
        }
        let result = f(store);
        let used = fuel.saturating_sub(store.get_fuel().unwrap_or(0));
        (result.map_err(|e| classify(&e, store.data())), used)
    }
}

impl Engine for WasmEngine {
    fn slots(&self) -> usize {
        self.instances.config.max_concurrent.max(1) as usize
    }

    fn call_text(&self, function: &str, input: &str) -> Result<String, EngineError> {
        self.call_metered(function, input).0
    }

    fn name(&self) -> &'static str {
        "wasm"
    }

    fn idle_instances(&self) -> Option<usize> {
        Some(self.instances.idle.lock().unwrap_or_else(PoisonError::into_inner).len())
    }

    fn call_record(&self, args: &mut dyn Any) -> Option<Result<Box<dyn Any + Send>, EngineError>> {
        fn boxed<T: Send + 'static>(answer: Result<T, EngineError>) -> Result<Box<dyn Any + Send>, EngineError> {
            answer.map(|output| Box::new(output) as Box<dyn Any + Send>)
        }
        if let Some(call) = args.downcast_mut::<Option<AllocatePayment>>().and_then(Option::take) {
            return Some(boxed(self.allocate_payment(call)));
        }
        if let Some(call) = args.downcast_mut::<Option<ValidatePayment>>().and_then(Option::take) {
            return Some(boxed(self.validate_payment(call)));
        }
        if let Some(call) = args.downcast_mut::<Option<NormalizeSerial>>().and_then(Option::take) {
            return Some(boxed(self.normalize_serial(&call.raw)));
        }
        None
    }
}

/// What a store holds: an empty WASI context and the limits.
struct State {
    wasi: WasiCtx,
    table: ResourceTable,
    limits: Limits,
}

impl State {
    fn new(config: &WasmConfig) -> Self {
        // No files, environment, arguments, stdin or network; stdout and stderr are discarded.
        let wasi = WasiCtx::builder().allow_tcp(false).allow_udp(false).allow_ip_name_lookup(false).build();
        let limits = StoreLimitsBuilder::new()
            .memory_size(config.memory_bytes)
            .instances(INSTANCES_PER_STORE as usize)
            .memories(MEMORIES_PER_STORE as usize)
            .tables(TABLES_PER_STORE as usize)
            .build();
        Self { wasi, table: ResourceTable::new(), limits: Limits { inner: limits, hit: None, memory: 0 } }
    }
}

impl WasiView for State {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

/// [`StoreLimits`] that remembers a refused growth, so a guest that aborts on a failed allocation (a trap)
/// is reported as a limit, not as a guest bug.
struct Limits {
    inner: StoreLimits,
    /// Why the last growth was refused, if it was.
    hit: Option<String>,
    /// The largest memory size granted so far, in bytes.
    memory: usize,
}

impl ResourceLimiter for Limits {
    fn memory_growing(&mut self, current: usize, desired: usize, maximum: Option<usize>) -> wasmtime::Result<bool> {
        let allowed = self.inner.memory_growing(current, desired, maximum)?;
        if allowed {
            self.memory = self.memory.max(desired);
        } else {
            self.hit = Some(format!("memory: {desired} bytes wanted, over the limit"));
        }
        Ok(allowed)
    }

    fn memory_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        self.hit = Some(format!("memory: growth failed: {error}"));
        Ok(())
    }

    fn table_growing(&mut self, current: usize, desired: usize, maximum: Option<usize>) -> wasmtime::Result<bool> {
        let allowed = self.inner.table_growing(current, desired, maximum)?;
        if !allowed {
            self.hit = Some(format!("table: {desired} elements wanted"));
        }
        Ok(allowed)
    }

    fn table_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        self.hit = Some(format!("table: growth failed: {error}"));
        Ok(())
    }

    fn instances(&self) -> usize {
        self.inner.instances()
    }

    fn tables(&self) -> usize {
        self.inner.tables()
    }

    fn memories(&self) -> usize {
        self.inner.memories()
    }
}

/// A host-side failure of a call: a limit, a trap, or anything else.
fn classify(error: &wasmtime::Error, state: &State) -> EngineError {
    if let Some(hit) = &state.limits.hit {
        return EngineError::Limit(hit.clone());
    }
    match error.downcast_ref::<Trap>() {
        Some(Trap::OutOfFuel) => EngineError::Limit("fuel: the call ran out of fuel".to_owned()),
        Some(Trap::StackOverflow) => EngineError::Limit("stack: the call overflowed its stack".to_owned()),
        Some(_) => EngineError::Trap(format!("{error:#}")),
        None => EngineError::Internal(format!("{error:#}")),
    }
}

/// The guest's refusal as the core's typed error: the WIT case names the variant, its details carry the
/// fields (`CoreError`'s own serialised form). A case whose details are not that variant is a host failure.
fn from_wit(error: WitError) -> EngineError {
    let (code, info) = wit_case(error);
    match serde_json::from_str::<CoreError>(&info.details) {
        Ok(refusal) if refusal.code() == code => EngineError::Core(refusal),
        _ => EngineError::Internal(format!("the guest's {code} refusal carries other details: {}", info.details)),
    }
}

/// The core code of a WIT case, and its detail.
fn wit_case(error: WitError) -> (&'static str, ErrorInfo) {
    match error {
        WitError::InvalidInput(i) => ("invalid_input", i),
        WitError::InvalidAmount(i) => ("invalid_amount", i),
        WitError::UnknownCurrency(i) => ("unknown_currency", i),
        WitError::InvalidSerial(i) => ("invalid_serial", i),
        WitError::InvalidPhone(i) => ("invalid_phone", i),
        WitError::InvalidGeoPoint(i) => ("invalid_geo_point", i),
        WitError::DateOutOfRange(i) => ("date_out_of_range", i),
        WitError::NotFound(i) => ("not_found", i),
        WitError::ForeignParent(i) => ("foreign_parent", i),
        WitError::DuplicateSerial(i) => ("duplicate_serial", i),
        WitError::KindMismatch(i) => ("kind_mismatch", i),
        WitError::UnknownSerial(i) => ("unknown_serial", i),
        WitError::DeviceUnassigned(i) => ("device_unassigned", i),
        WitError::CurrencyMismatch(i) => ("currency_mismatch", i),
        WitError::AmountBelowMinimum(i) => ("amount_below_minimum", i),
        WitError::TotalBelowPaid(i) => ("total_below_paid", i),
        WitError::NoUntouchedInstallments(i) => ("no_untouched_installments", i),
        WitError::InstallmentTouched(i) => ("installment_touched", i),
        WitError::InvalidSecretKey(i) => ("invalid_secret_key", i),
        WitError::InvalidTokenValue(i) => ("invalid_token_value", i),
        WitError::InvalidTokenCount(i) => ("invalid_token_count", i),
        WitError::TokenRejected(i) => ("token_rejected", i),
        WitError::RiskCeilingExceeded(i) => ("risk_ceiling_exceeded", i),
    }
}

/// A counting semaphore over the pool's slots: `enter` waits until a slot is free.
struct Gate {
    free: Mutex<u32>,
    freed: Condvar,
}

impl Gate {
    fn new(slots: u32) -> Self {
        Self { free: Mutex::new(slots), freed: Condvar::new() }
    }

    fn enter(&self) -> Pass<'_> {
        // Nothing panics while holding the lock, so poisoning cannot happen; recover from it anyway.
        let mut free = self.free.lock().unwrap_or_else(PoisonError::into_inner);
        while *free == 0 {
            free = self.freed.wait(free).unwrap_or_else(PoisonError::into_inner);
        }
        *free -= 1;
        Pass(self)
    }
}

/// A held slot of the [`Gate`]; dropping it frees the slot.
struct Pass<'a>(&'a Gate);

impl Drop for Pass<'_> {
    fn drop(&mut self) {
        *self.0.free.lock().unwrap_or_else(PoisonError::into_inner) += 1;
        self.0.freed.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every WIT case maps to a distinct core code, in the core's declaration order, and every code has a case.
    #[test]
    fn every_wit_case_maps_to_its_core_code() {
        let cases: Vec<fn(ErrorInfo) -> WitError> = vec![
            WitError::InvalidInput,
            WitError::InvalidAmount,
            WitError::UnknownCurrency,
            WitError::InvalidSerial,
            WitError::InvalidPhone,
            WitError::InvalidGeoPoint,
            WitError::DateOutOfRange,
            WitError::NotFound,
            WitError::ForeignParent,
            WitError::DuplicateSerial,
            WitError::KindMismatch,
            WitError::UnknownSerial,
            WitError::DeviceUnassigned,
            WitError::CurrencyMismatch,
            WitError::AmountBelowMinimum,
            WitError::TotalBelowPaid,
            WitError::NoUntouchedInstallments,
            WitError::InstallmentTouched,
            WitError::InvalidSecretKey,
            WitError::InvalidTokenValue,
            WitError::InvalidTokenCount,
            WitError::TokenRejected,
            WitError::RiskCeilingExceeded,
        ];
        let info = || ErrorInfo { message: "m".into(), details: "{}".into() };
        let codes: Vec<&str> = cases.into_iter().map(|case| wit_case(case(info())).0).collect();
        assert_eq!(codes, CoreError::ALL_CODES);
    }

    /// A refusal crosses typed; details that are not the named variant are a host failure, not a refusal.
    #[test]
    fn refusals_read_back_typed_and_mismatches_are_internal() {
        let refusal = CoreError::UnknownSerial { serial: "X1".into() };
        let info = ErrorInfo { message: refusal.to_string(), details: refusal.details().to_string() };
        assert_eq!(from_wit(WitError::UnknownSerial(info.clone())), EngineError::Core(refusal));
        assert!(matches!(from_wit(WitError::DeviceUnassigned(info)), EngineError::Internal(_)));
    }
}
