//! The wasmtime runtime for scenarios: configuration, the epoch ticker that bounds every
//! guest call in time, compilation (through the compile cache, telling the front end
//! before a compile with a [`CompileNotice`]), and detection of the WIT version a
//! component was built against.

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

/// Said before a component is compiled because the compile cache had no entry for it
/// (a Python or JS component takes seconds), so a front end can tell the operator why
/// the next seconds are silent. The wasm crate prints nothing: the front end passes a
/// hook to [`ScenarioEngine::on_compile`]. Its `Display` is the line to show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompileNotice {
    /// The scenario's short name (the builtin's name, the file stem): chosen by whoever
    /// named the file, so it is shown through `volley_core::text::printable`.
    pub label: String,
    /// The component's size in bytes.
    pub bytes: u64,
    /// The compiled code goes into the compile cache (it is on).
    pub cached: bool,
    /// The cache held an entry under this component's name that was not written by
    /// this user for this component and engine; it was refused and removed.
    pub refused_entry: bool,
}

impl CompileNotice {
    /// From this size on a compile takes seconds on two cores, worth a line even when
    /// stderr is not a terminal (Python and JS components are 12–18 MB; the Rust
    /// builtins are well under 1 MB).
    pub const LARGE_BYTES: u64 = 4 << 20;

    /// Whether to show the line: always for a refused cache entry (someone or something
    /// changed the cache), else on an interactive terminal or for a large component.
    pub fn worth_showing(&self, interactive: bool) -> bool {
        self.refused_entry || interactive || self.bytes >= Self::LARGE_BYTES
    }
}

impl std::fmt::Display for CompileNotice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = volley_core::text::printable(&self.label, 64);
        write!(f, "compiling scenario {name} ({:.1} MB) for this machine", self.bytes as f64 / 1e6)?;
        if self.refused_entry {
            write!(f, "; its compile-cache entry was refused (not written by this user for this component and engine) and removed")?;
        }
        f.write_str(if self.cached { "; cached for next time" } else { "; the compile cache is off" })
    }
}

/// What a front end runs before a compile: see [`ScenarioEngine::on_compile`].
type CompileHook = Arc<dyn Fn(&CompileNotice) + Send + Sync>;

pub struct ScenarioEngine {
    engine: Engine,
    ticker: Arc<EpochTicker>,
    /// Use the compile cache (the policy's `compile_cache`).
    cache: bool,
    max_component_bytes: u64,
    max_compile: Duration,
    on_compile: Option<CompileHook>,
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

    /// Calls `hook` before each compile that the compile cache could not spare (the
    /// first run of a component on this machine, or after a refused entry), on the
    /// calling thread: e.g. `.on_compile(|n| if n.worth_showing(stderr_is_terminal) {
    /// eprintln!("{n}") })`.
    pub fn on_compile(mut self, hook: impl Fn(&CompileNotice) + Send + Sync + 'static) -> Self {
        self.on_compile = Some(Arc::new(hook));
        self
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
            on_compile: None,
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
        let refused_entry = match self.cache.then(|| cache::load(&self.engine, &source.digest)) {
            Some(cache::Lookup::Hit(c)) => return Ok(c),
            Some(cache::Lookup::Refused) => true,
            Some(cache::Lookup::Miss) | None => false,
        };
        if let Some(hook) = &self.on_compile {
            let cached = self.cache && cache::dir().is_some();
            hook(&CompileNotice { label: source.label.clone(), bytes: source.bytes.len() as u64, cached, refused_entry });
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
