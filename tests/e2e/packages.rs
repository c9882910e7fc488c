//! Scenario packages and the OCI registry: `volley pack` / `inspect`, push to and pull
//! from a real CNCF distribution registry (Debian's `docker-registry`) on loopback, run
//! by digest, and refusal of anything tampered with — in the package file, in the
//! registry's storage, or pinned to another digest.

use std::path::Path;
use std::time::Duration;

use crate::support::*;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use volley::sim::SimConfig;

fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect::<String>())
}

fn pack_builtin(dir: &Path) -> (String, Vec<u8>) {
    let project = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/chat-poisson/volley.json");
    let out = dir.join("chat-poisson.volley").display().to_string();
    run_volley(&["pack", "builtin:chat-poisson", "--manifest", &project.display().to_string(), "-o", &out], Duration::from_secs(60))
        .assert_success();
    let bytes = std::fs::read(&out).unwrap();
    (out, bytes)
}

/// A plain-http distribution registry without auth, storing into `dir`.
fn plain_registry(dir: &Path) -> Registry {
    Registry::start(dir, "", "")
}

#[test]
fn pack_and_inspect_describe_the_scenario() {
    let tmp = TempDir::new("pack");
    let (pkg, bytes) = pack_builtin(tmp.path());
    let component = volley::scenario::builtin::get("chat-poisson").unwrap();
    let out = run_volley(&["inspect", &pkg, "--json"], Duration::from_secs(30));
    out.assert_success();
    let m: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(m["name"], "chat-poisson");
    assert_eq!(m["wit"], volley::scenario::WitVersion::SUPPORTED[0].semver());
    assert_eq!(m["component"]["sha256"], sha256(component));
    assert_eq!(m["params"]["rate"]["default"], 5);
    assert_eq!(m["params_schema"]["properties"]["max_requests"]["type"], "integer");
    assert_eq!(m["params_schema"]["additionalProperties"], false);
    // Packing is reproducible.
    let again = TempDir::new("pack-again");
    assert_eq!(pack_builtin(again.path()).1, bytes);
    // The human view names the digest to pin.
    let text = run_volley(&["inspect", &pkg], Duration::from_secs(30));
    assert!(text.stdout.contains(&format!("--digest {}", sha256(component))), "{}", text.stdout);
    // Declared parameters are checked before the scenario runs.
    let bad = run_volley(&["check", &pkg, "--params", r#"{"rate": "fast"}"#], Duration::from_secs(30));
    assert_eq!(bad.error_lines(), ["error: parameter `rate` of package 'chat-poisson' must be a number, got \"fast\""]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_pull_and_run_by_digest_and_tampering_is_refused() {
    let tmp = TempDir::new("registry");
    let (pkg, bytes) = pack_builtin(tmp.path());
    let component_digest = sha256(volley::scenario::builtin::get("chat-poisson").unwrap());
    let registry = tokio::task::block_in_place(|| plain_registry(tmp.path()));

    let push = run_volley_async(vec!["push".into(), pkg.clone(), registry.reference("volley/chat-poisson")], Duration::from_secs(60)).await;
    push.assert_success();
    let manifest_digest = push.stdout.lines().find_map(|l| l.strip_prefix("manifest ")).expect("manifest digest").to_string();
    assert!(push.stdout.contains(":0.1.0"), "tag defaults to the version: {}", push.stdout);

    // Pull by tag gives back the very same package.
    let pulled = tmp.path().join("pulled.volley").display().to_string();
    let pull = run_volley_async(
        vec!["pull".into(), registry.reference("volley/chat-poisson:0.1.0"), "-o".into(), pulled.clone()],
        Duration::from_secs(60),
    )
    .await;
    pull.assert_success();
    assert_eq!(std::fs::read(&pulled).unwrap(), bytes);

    // Run straight from the registry, pinned twice: manifest digest and component digest.
    let sim = start_sim(SimConfig { ttft: Duration::from_millis(5), itl: Duration::from_millis(1), ..SimConfig::default() }).await;
    let out = TempDir::new("registry-run");
    let pinned = registry.reference(&format!("volley/chat-poisson@{manifest_digest}"));
    let args = with(
        run_args(&pinned, &sim.url(), json!({"rate": 40, "max_requests": 6, "max_tokens": 3}), &out),
        &["--digest", &component_digest],
    );
    run_volley_async(args, Duration::from_secs(60)).await.assert_success();
    let report = read_report(out.path());
    assert_eq!(report["stages"][0]["requests"]["ok"], 6);
    assert_eq!(report["scenario"]["digest"], component_digest);

    // A package changed after packing.
    let mut tampered = bytes.clone();
    let at = tampered.len() - 4096;
    tampered[at] ^= 0x01;
    let tampered_path = tmp.path().join("tampered.volley").display().to_string();
    std::fs::write(&tampered_path, &tampered).unwrap();
    let refused = run_volley_async(run_args(&tampered_path, &sim.url(), json!({"max_requests": 1}), &out), Duration::from_secs(30)).await;
    assert_eq!(refused.status.code(), Some(1));
    let lines = refused.error_lines();
    assert_eq!(lines.len(), 1, "{}", refused.stderr);
    assert!(lines[0].contains("tampered") && lines[0].contains(&component_digest), "{}", lines[0]);

    // Pinned to another component digest.
    let other = format!("sha256:{}", "0".repeat(64));
    let wrong_pin = with(run_args(&pkg, &sim.url(), json!({"max_requests": 1}), &out), &["--digest", &other]);
    let refused = run_volley_async(wrong_pin, Duration::from_secs(30)).await;
    assert!(refused.error_lines().first().is_some_and(|l| l.contains("not the pinned")), "{}", refused.stderr);

    // A manifest digest the registry does not have.
    let missing =
        run_volley_async(vec!["pull".into(), registry.reference(&format!("volley/chat-poisson@{other}"))], Duration::from_secs(30)).await;
    assert!(missing.error_lines().first().is_some_and(|l| l.contains("not found")), "{}", missing.stderr);

    // The registry's stored component altered on disk: the pull refuses the blob.
    let hex = component_digest.trim_start_matches("sha256:");
    let blob = registry.storage.join(format!("docker/registry/v2/blobs/sha256/{}/{hex}/data", &hex[..2]));
    let mut stored = std::fs::read(&blob).expect("the registry stores the component blob");
    stored[100] ^= 0x01;
    std::fs::write(&blob, stored).unwrap();
    let corrupt = run_volley_async(
        vec!["pull".into(), registry.reference("volley/chat-poisson:0.1.0"), "-o".into(), pulled],
        Duration::from_secs(30),
    )
    .await;
    assert_eq!(corrupt.status.code(), Some(1));
    assert!(corrupt.error_lines().first().is_some_and(|l| l.contains("refusing it")), "{}", corrupt.stderr);
    assert_eq!(sim.stats().requests, 6, "nothing tampered was ever run");
}
