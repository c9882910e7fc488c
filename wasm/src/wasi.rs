//! The WASI a guest gets: only what a scenario built with a WASI libc (Rust's
//! `wasm32-wasip2`, componentize-py, componentize-js) needs to instantiate and print:
//! I/O streams, random, the CLI world (environment, exit, stdio, terminals) and the
//! filesystem types with no preopened directory, so nothing to open. The clocks are
//! the virtual ones ([`crate::clock`]). Sockets, name lookup and anything else a
//! component imports are not linked: they are defined as traps, so a guest that calls
//! them stops with a fault instead of reaching the network.

use wasmtime::component::types::ComponentItem;
use wasmtime::component::{Component, HasData, Linker, ResourceTable, ResourceType};
use wasmtime_wasi::WasiView;
use wasmtime_wasi::cli::{WasiCli, WasiCliView};
use wasmtime_wasi::filesystem::{WasiFilesystem, WasiFilesystemView};
use wasmtime_wasi::p2::bindings::{cli, filesystem, io, random, sync};
use wasmtime_wasi::p2::{DynInputStream, DynOutputStream, DynPollable, IoError};
use wasmtime_wasi::random::WasiRandom;

use crate::sandbox::StoreState;

/// The resource table the I/O interfaces work on.
struct Io;

impl HasData for Io {
    type Data<'a> = &'a mut ResourceTable;
}

/// Links the allowed WASI interfaces into `linker`.
pub(crate) fn link(linker: &mut Linker<StoreState>) -> wasmtime::Result<()> {
    type T = StoreState;
    let l = linker;
    io::error::add_to_linker::<T, Io>(l, |t| t.ctx().table)?;
    sync::io::poll::add_to_linker::<T, Io>(l, |t| t.ctx().table)?;
    sync::io::streams::add_to_linker::<T, Io>(l, |t| t.ctx().table)?;
    random::random::add_to_linker::<T, WasiRandom>(l, |t| t.wasi.random())?;
    random::insecure::add_to_linker::<T, WasiRandom>(l, |t| t.wasi.random())?;
    random::insecure_seed::add_to_linker::<T, WasiRandom>(l, |t| t.wasi.random())?;
    cli::exit::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::environment::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::stdin::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::stdout::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::stderr::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::terminal_input::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::terminal_output::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::terminal_stdin::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::terminal_stdout::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::terminal_stderr::add_to_linker::<T, WasiCli>(l, T::cli)?;
    filesystem::preopens::add_to_linker::<T, WasiFilesystem>(l, T::filesystem)?;
    sync::filesystem::types::add_to_linker::<T, WasiFilesystem>(l, T::filesystem)?;
    crate::clock::link(l, |s| crate::clock::Clocks { time: &s.time, table: &mut s.table })
}

/// Interfaces the host provides (any version Wasmtime matches by semver); every other
/// import gets trapping stubs.
const PROVIDED: &[&str] = &["wasi:io/", "wasi:random/", "wasi:cli/", "wasi:filesystem/", "wasi:clocks/", "volley:scenario/"];

/// The host types of the provided resources a stubbed interface may `use` (as
/// `wasi:sockets` uses `pollable` and the streams): a stub must name the very type the
/// provided interface does.
fn host_resource(interface: &str, name: &str) -> Option<ResourceType> {
    let interface = interface.split('@').next().unwrap_or(interface);
    Some(match (interface, name) {
        ("wasi:io/poll", "pollable") => ResourceType::host::<DynPollable>(),
        ("wasi:io/streams", "input-stream") => ResourceType::host::<DynInputStream>(),
        ("wasi:io/streams", "output-stream") => ResourceType::host::<DynOutputStream>(),
        ("wasi:io/error", "error") => ResourceType::host::<IoError>(),
        _ => return None,
    })
}

/// Defines every interface `component` imports that the host does not provide
/// (sockets, name lookup, HTTP, ...) as functions that trap, so such a guest
/// instantiates and fails only if it calls one; the sandbox opens no socket for it.
/// Interfaces the host does provide are left to the linker, which matches their
/// versions by semver (and reports a real mismatch, such as an unknown
/// `volley:scenario` version, as it should).
pub(crate) fn trap_the_rest(linker: &mut Linker<StoreState>, component: &Component) -> wasmtime::Result<()> {
    let engine = component.engine().clone();
    let ty = component.component_type();
    let provided = |name: &str| PROVIDED.iter().any(|p| name.starts_with(p));
    // Resources of provided interfaces, as this component sees them, with their host types.
    let mut known: Vec<(ResourceType, Option<ResourceType>, String)> = Vec::new();
    for (name, import) in ty.imports(&engine) {
        if let (true, ComponentItem::ComponentInstance(instance)) = (provided(name), &import.ty) {
            for (export, item) in instance.exports(&engine) {
                if let ComponentItem::Resource(r) = item.ty {
                    known.push((r, host_resource(name, export), format!("{name}#{export}")));
                }
            }
        }
    }
    for (name, import) in ty.imports(&engine) {
        if provided(name) {
            continue;
        }
        let ComponentItem::ComponentInstance(instance) = import.ty else {
            wasmtime::bail!("the scenario imports '{name}', which is not an interface; Volley provides none such");
        };
        let mut stubs = linker.instance(name)?;
        for (export, item) in instance.exports(&engine) {
            match item.ty {
                ComponentItem::ComponentFunc(_) => {
                    let what = format!("{name}#{export}");
                    stubs.func_new(export, move |_, _, _, _| {
                        wasmtime::bail!("the sandbox does not provide `{what}` (no network, no files)")
                    })?;
                }
                ComponentItem::Resource(r) => {
                    let host = match known.iter().find(|(seen, _, _)| *seen == r) {
                        Some((_, Some(host), _)) => *host,
                        Some((_, None, used)) => {
                            wasmtime::bail!("the scenario imports '{name}', which uses `{used}`; Volley cannot stub it")
                        }
                        None => ResourceType::host::<()>(),
                    };
                    stubs.resource(export, host, |_, _| Ok(()))?;
                }
                _ => {}
            }
        }
    }
    Ok(())
}
