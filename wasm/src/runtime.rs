//! The wasmtime runtime for scenarios: configuration, the epoch ticker that bounds every
//! guest call in time, compilation, and detection of the WIT version a component was
//! built against.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::{Result, anyhow, bail};
use wasmtime::component::Component;
use wasmtime::{Config, Engine, OptLevel};

use volley_core::Policy;

use crate::cache;
use crate::source::ScenarioSource;
use crate::tick::TickClock;
use crate::wit::WitVersion;

/// How often the engine's epoch advances; guest deadlines are counted in these ticks.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// A compiled component, ready to instantiate, with the WIT version it targets.
#[derive(Clone)]
pub struct CompiledScenario {
    pub component: Component,
    pub version: WitVersion,
    pub source: ScenarioSource,
    /// Keeps the engine's clock going while the component (or an instance) lives.
    pub(crate) ticker: Arc<EpochTicker>,
}

/// The thread that advances the engine's epoch: without it no guest deadline fires, so
/// the engine, every compiled component and every instance hold it, and it stops when
/// the last of them is gone.
pub(crate) struct EpochTicker {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    pub clock: TickClock,
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        self.clock.wake();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

pub struct ScenarioEngine {
    engine: Engine,
    ticker: Arc<EpochTicker>,
    /// Use the compile cache (the policy's `compile_cache`).
    cache: bool,
    max_component_bytes: u64,
    max_compile: Duration,
}

impl ScenarioEngine {
    /// An engine within the default policy.
    pub fn new() -> Result<Self, crate::WasmError> {
        Self::with_policy(&Policy::default())
    }

    /// An engine within `policy`: component size, compile time, the compile cache.
    pub fn with_policy(policy: &Policy) -> Result<Self, crate::WasmError> {
        let mut e = Self::start().map_err(crate::WasmError::from_anyhow)?;
        e.cache = policy.compile_cache;
        e.max_component_bytes = policy.max_component_bytes;
        e.max_compile = Duration::try_from_secs_f64(policy.max_compile_s).unwrap_or(Duration::MAX);
        Ok(e)
    }

    fn start() -> Result<Self> {
        let mut config = Config::new();
        config
            .wasm_component_model(true)
            .epoch_interruption(true)
            .cranelift_opt_level(OptLevel::Speed)
            // Volley calls guests synchronously from a dedicated thread; without the
            // component-model async machinery each call costs about half as much.
            .concurrency_support(false);
        let engine = Engine::new(&config).map_err(|e| anyhow!("cannot create the wasm engine: {e}"))?;

        let stop = Arc::new(AtomicBool::new(false));
        let clock = TickClock::new();
        let ticker = {
            let (engine, stop, clock) = (engine.clone(), stop.clone(), clock.clone());
            std::thread::Builder::new()
                .name("volley-epoch".into())
                .spawn(move || clock.run(&stop, EPOCH_TICK, || engine.increment_epoch()))?
        };
        clock.set_ticker(ticker.thread().clone());
        let defaults = Policy::default();
        Ok(ScenarioEngine {
            engine,
            ticker: Arc::new(EpochTicker { stop, thread: Some(ticker), clock }),
            cache: defaults.compile_cache,
            max_component_bytes: defaults.max_component_bytes,
            max_compile: Duration::from_secs_f64(defaults.max_compile_s),
        })
    }

    /// Compiles a component and checks that it is a Volley scenario of a supported
    /// version; each failure is one line that names the scenario.
    pub fn compile(&self, source: &ScenarioSource) -> Result<CompiledScenario, crate::WasmError> {
        self.compile_checked(source).map_err(crate::WasmError::from_anyhow)
    }

    fn compile_checked(&self, source: &ScenarioSource) -> Result<CompiledScenario> {
        let origin = &source.origin;
        match wasm_kind(&source.bytes) {
            WasmKind::Component => {}
            WasmKind::CoreModule => bail!(
                "'{origin}' is a core WebAssembly module, not a component; build scenarios for \
                 wasm32-wasip2 (or wrap the module with `wasm-tools component new`)"
            ),
            WasmKind::NotWasm => bail!("'{origin}' is not a WebAssembly file"),
        }
        let component = self.compile_cached(source)?;

        let exports: Vec<String> = component.component_type().exports(&self.engine).map(|(name, _)| name.to_string()).collect();
        let version = WitVersion::SUPPORTED.iter().copied().find(|v| exports.iter().any(|e| *e == v.workload_export()));
        let Some(version) = version else {
            if let Some(other) = exports.iter().find(|e| e.starts_with("volley:scenario/workload@")) {
                bail!(
                    "'{origin}' was built against {other}, which this Volley cannot run (it runs {})",
                    WitVersion::SUPPORTED.iter().map(|v| v.workload_export()).collect::<Vec<_>>().join(", ")
                );
            }
            let shown = if exports.is_empty() { "nothing".to_string() } else { exports.join(", ") };
            bail!(
                "'{origin}' is a component but not a Volley scenario: it exports {shown}, \
                 not volley:scenario/workload"
            );
        };
        Ok(CompiledScenario { component, version, source: source.clone(), ticker: self.ticker.clone() })
    }
}

impl ScenarioEngine {
    /// Every component goes through the compiled-component cache ([`super::cache`]), so
    /// only its first run compiles (a builtin too: compiling even a small one costs a
    /// run about half a second of CPU).
    fn compile_cached(&self, source: &ScenarioSource) -> Result<Component> {
        let origin = &source.origin;
        if source.bytes.len() as u64 > self.max_component_bytes {
            bail!("'{origin}' is {} bytes, over the policy's max_component_bytes ({})", source.bytes.len(), self.max_component_bytes);
        }
        if self.cache
            && let Some(c) = cache::load(&self.engine, &source.digest)
        {
            return Ok(c);
        }
        // Compiling takes as long as the component wants: on a thread of its own, given
        // up (and left to finish unseen) after the policy's max_compile_s.
        let (engine, bytes, digest, store) = (self.engine.clone(), source.bytes.clone(), source.digest.clone(), self.cache);
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::Builder::new().name("volley-compile".into()).spawn(move || {
            // Validate (and report errors) through the ordinary path when the cache fails.
            let compiled = store.then(|| cache::compile_and_store(&engine, &digest, &bytes)).flatten();
            let _ = tx.send(compiled.map(Ok).unwrap_or_else(|| Component::new(&engine, &bytes)));
        })?;
        match rx.recv_timeout(self.max_compile) {
            Ok(Ok(c)) => Ok(c),
            Ok(Err(e)) => Err(anyhow!("'{origin}' is not a valid WebAssembly component: {e}")),
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                bail!("compiling '{origin}' took longer than the policy's max_compile_s ({} s)", self.max_compile.as_secs_f64())
            }
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => bail!("compiling '{origin}' failed"),
        }
    }
}

enum WasmKind {
    Component,
    CoreModule,
    NotWasm,
}

/// The binary header: magic, then version 1 (core module) or 0x0d with layer 1 (component).
fn wasm_kind(bytes: &[u8]) -> WasmKind {
    match bytes {
        [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, ..] => WasmKind::CoreModule,
        [0x00, 0x61, 0x73, 0x6d, _, _, 0x01, 0x00, ..] => WasmKind::Component,
        _ => WasmKind::NotWasm,
    }
}
