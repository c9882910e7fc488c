//! The authoring commands: `volley new`, `pack`, `inspect`, `push` and `pull`.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::Args;

use volley::core::Policy;
use volley::report::console::ConsoleWriter;
use volley::wasm::ScenarioSource;
use volley::wasm::pack::defaults;
use volley::wasm::package::archive::{EXTENSION, Package, sha256};
use volley::wasm::registry::{self, Pulled, Reference};

use super::exit::Exit;
use super::template::{Lang, Template};

#[derive(Args, Debug)]
pub struct NewArgs {
    /// The scenario's name (lowercase letters, digits, '-')
    pub name: String,
    #[arg(long, value_enum, default_value = "rust")]
    pub lang: Lang,
    /// The workload to start from: `chat` (streaming chat requests, Poisson arrivals) or
    /// `agent` (agent sessions with tool calls, WIT 0.6; python and js only)
    #[arg(long, value_enum, default_value = "chat")]
    pub template: Template,
    /// Directory to create [default: ./NAME]
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Rust: path to the volley-sdk crate [default: this Volley's sdk/]
    #[arg(long)]
    pub sdk: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct PackArgs {
    /// The built component: a .wasm file (or builtin:NAME)
    pub component: String,
    /// The project file with name, version, parameters and datasets [default:
    /// volley.json beside the component, if there is one]
    #[arg(long)]
    pub manifest: Option<PathBuf>,
    /// Output file [default: NAME-VERSION.volley]
    #[arg(long, short = 'o')]
    pub out: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct InspectArgs {
    /// A .volley package, a .wasm component or oci://REF
    pub package: String,
    /// Print the manifest as JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct PushArgs {
    /// The .volley package to push
    pub package: PathBuf,
    /// Where: oci://HOST:PORT/REPOSITORY[:TAG] (the tag defaults to the package version)
    pub reference: String,
    /// A CA certificate (PEM) the registry's certificate may chain to, besides the
    /// system's (repeatable)
    #[arg(long = "ca-cert", value_name = "FILE")]
    pub ca_certs: Vec<PathBuf>,
}

#[derive(Args, Debug)]
pub struct PullArgs {
    /// oci://HOST:PORT/REPOSITORY[:TAG][@sha256:DIGEST]
    pub reference: String,
    /// Output file [default: NAME-VERSION.volley, or REPOSITORY.wasm for a bare component]
    #[arg(long, short = 'o')]
    pub out: Option<PathBuf>,
    /// A CA certificate (PEM) the registry's certificate may chain to, besides the
    /// system's (repeatable)
    #[arg(long = "ca-cert", value_name = "FILE")]
    pub ca_certs: Vec<PathBuf>,
}

/// The registry's TLS settings: the system's trust store and `ca_certs`.
fn install_registry_tls(ca_certs: &[PathBuf]) -> Result<()> {
    let tls = volley::net::Tls::new(&volley::net::TlsOptions { ca_certs: ca_certs.to_vec(), ..volley::net::TlsOptions::default() })?;
    volley::net::Tls::install(tls);
    Ok(())
}

pub(super) fn new(a: NewArgs) -> Result<Exit> {
    let (dir, wit) = super::template::create(&a.name, a.lang, a.template, a.dir.as_deref(), a.sdk.as_deref())?;
    let d = dir.display();
    ConsoleWriter::stdout().lines([
        format!("created {d} ({:?} scenario, WIT {wit})", a.lang),
        format!("next: {d}/build.sh && volley check {d}/{}.wasm   (guide: docs/authoring.md)", a.name),
    ]);
    Ok(Exit::Ok)
}

pub(super) fn pack(a: PackArgs, policy: &Policy) -> Result<Exit> {
    // A project file beside a component file is read by default.
    let project = a.manifest.clone().or_else(|| {
        let path = std::path::Path::new(&a.component);
        let beside = path.parent().unwrap_or(std::path::Path::new(".")).join("volley.json");
        (!a.component.starts_with("builtin:") && beside.is_file()).then_some(beside)
    });
    let result = volley::wasm::pack::pack(&a.component, project.as_deref(), policy);
    let package = result?;
    let m = &package.manifest;
    let out = a.out.unwrap_or_else(|| PathBuf::from(format!("{}-{}.{EXTENSION}", m.name, m.version)));
    std::fs::write(&out, package.to_bytes()?).with_context(|| format!("cannot write '{}'", out.display()))?;
    let mut lines = vec![
        format!("packed {} {} (WIT {}) into {}", m.name, m.version, m.wit, out.display()),
        format!("component {} ({} bytes)", m.component.sha256, m.component.size),
    ];
    if project.is_none() {
        lines.push("note: no volley.json: the package declares no parameters or datasets (see docs/authoring.md)".into());
    }
    ConsoleWriter::stdout().lines(lines);
    Ok(Exit::Ok)
}

pub(super) fn inspect(a: InspectArgs, policy: &Policy) -> Result<Exit> {
    let source = ScenarioSource::load_with(&a.package, policy)?;
    let Some(m) = &source.manifest else {
        if a.json {
            bail!("'{}' is a bare component, not a package: it has no manifest", a.package);
        }
        ConsoleWriter::stdout().lines([
            format!("{}: a bare component (no package manifest)", a.package),
            format!("component {} ({} bytes)", source.digest, source.bytes.len()),
            format!("run `volley check {}` to see what it does", a.package),
        ]);
        return Ok(Exit::Ok);
    };
    if a.json {
        // JSON escapes control characters inside strings, so its lines are its own.
        ConsoleWriter::stdout().lines(serde_json::to_string_pretty(&**m)?.lines());
        return Ok(Exit::Ok);
    }
    // The manifest is the package author's: each line goes through the console writer,
    // so a newline in a description cannot forge a line.
    let mut out = vec![
        format!("{} {} — {}", m.name, m.version, m.description),
        format!("package    {} ({}, made by {})", a.package, m.schema, m.created_by),
        format!("WIT        volley:scenario@{}", m.wit),
        format!("component  {} · {} bytes · {} (verified)", m.component.file, m.component.size, m.component.sha256),
    ];
    if !m.authors.is_empty() || m.license.is_some() {
        out.push(format!("authors    {} · license {}", m.authors.join(", "), m.license.as_deref().unwrap_or("none given")));
    }
    out.push(format!("parameters{}", if m.params.is_empty() { " none declared" } else { "" }));
    for (name, p) in &m.params {
        let default = p.default.as_ref().map(|d| format!("default {d}")).unwrap_or_else(|| "no default".into());
        out.push(format!("  {name:<14} {:<8} {default:<20} {}", p.kind, p.description));
    }
    out.push(format!("datasets{}", if m.datasets.is_empty() { "   none" } else { "" }));
    for (name, d) in &m.datasets {
        out.push(format!("  {name:<14} {:<8} {}", if d.required { "required" } else { "optional" }, d.description));
    }
    out.push(format!("defaults   {}", defaults(&m.params)));
    out.push(format!("run        volley run {} --target URL --digest {}", a.package, m.component.sha256));
    ConsoleWriter::stdout().lines(out);
    Ok(Exit::Ok)
}

pub(super) fn push(a: PushArgs, policy: &Policy) -> Result<Exit> {
    install_registry_tls(&a.ca_certs)?;
    let shown = a.package.display().to_string();
    // Loading verifies it, within the policy, as a run would.
    let source = ScenarioSource::load_with(&shown, policy)?;
    let Some(manifest) = source.manifest.clone() else {
        bail!("'{shown}' is not a package; make one with `volley pack`");
    };
    let package = Package { manifest: (*manifest).clone(), component: source.bytes.clone() };
    let reference = Reference::parse(&a.reference)?;
    let pushed = registry::push(&package, &reference, policy)?;
    let r = &pushed.reference;
    ConsoleWriter::stdout().lines([
        format!("pushed {} {} to {r}", package.manifest.name, package.manifest.version),
        format!("manifest {}", pushed.manifest_digest),
        format!("pin it:  oci://{}/{}@{}", r.registry, r.repository, pushed.manifest_digest),
    ]);
    Ok(Exit::Ok)
}

pub(super) fn pull(a: PullArgs, policy: &Policy) -> Result<Exit> {
    install_registry_tls(&a.ca_certs)?;
    let reference = Reference::parse(&a.reference)?;
    let (out, bytes, what) = match registry::pull(&reference, policy)? {
        Pulled::Package(p) => {
            let m = &p.manifest;
            let out = a.out.unwrap_or_else(|| PathBuf::from(format!("{}-{}.{EXTENSION}", m.name, m.version)));
            let what = format!("{} {} (component {}, verified)", m.name, m.version, m.component.sha256);
            (out, p.to_bytes()?, what)
        }
        Pulled::Component(bytes) => {
            let name = reference.repository.rsplit('/').next().unwrap_or("scenario");
            let out = a.out.unwrap_or_else(|| PathBuf::from(format!("{name}.wasm")));
            let what = format!("a bare component ({}, verified)", sha256(&bytes));
            (out, bytes.to_vec(), what)
        }
    };
    std::fs::write(&out, bytes).with_context(|| format!("cannot write '{}'", out.display()))?;
    ConsoleWriter::stdout().line(&format!("pulled {what} into {}", out.display()));
    Ok(Exit::Ok)
}
