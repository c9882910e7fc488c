//! The run's metadata (docs/report.md, `metadata`): what the server says of itself, the
//! launch command and the load generator's machine, captured with every run — against
//! the real llama-server (its `/props` and `/v1/models`), and the simulator (the host,
//! and which endpoints answered). Hostile answers are in `hostile_answers`.

use std::time::Duration;

use serde_json::{Value, json};
use volley::sim::SimConfig;

use crate::support::*;

/// A llama-server of this module's own (the default one's port is shared).
const PORT: u16 = 8143;

/// The run's arguments without `--quiet`, so the console header is shown.
fn loud(args: Vec<String>) -> Vec<String> {
    args.into_iter().filter(|a| a != "--quiet").collect()
}

fn endpoint<'a>(server: &'a Value, path: &str) -> &'a Value {
    server["endpoints"].as_array().unwrap().iter().find(|e| e["path"] == path).unwrap_or_else(|| panic!("{path} not asked: {server}"))
}

#[test]
fn realserver_run_carries_its_props_and_model_list_metadata() {
    let lease = Lease::start_with(PORT, &[]);
    // What the server says, asked directly.
    let props: Value = serde_json::from_str(&http_get(PORT, "/props")).expect("/props is JSON");
    let models: Value = serde_json::from_str(&http_get(PORT, "/v1/models")).expect("/v1/models is JSON");
    let ids: Vec<&str> = models["data"].as_array().unwrap().iter().map(|m| m["id"].as_str().unwrap()).collect();

    let out = TempDir::new("meta-llama");
    let params = json!({"rate": 4, "max_requests": 2, "duration_s": 60, "max_tokens": 4});
    let o = run_volley_args(&loud(run_args("builtin:chat-poisson", &lease.server.url(), params, &out)), Duration::from_secs(240));
    o.assert_success();
    let report = read_report(out.path());
    let meta = &report["metadata"];
    eprintln!("metadata of a llama-server run:\n{}", serde_json::to_string_pretty(meta).unwrap());
    let server = &meta["server"];
    assert_eq!(server["kind"], "any", "no --server-kind: every cheap endpoint tried");
    let l = &server["llamacpp"];
    assert_eq!(l["build_info"], props["build_info"], "{l}");
    assert_eq!(l["model_path"], props["model_path"], "{l}");
    assert_eq!(l["n_ctx"], props["default_generation_settings"]["n_ctx"], "{l}");
    assert_eq!(l["total_slots"], props["total_slots"], "{l}");
    assert_eq!(l["chat_template_bytes"].as_u64().unwrap(), props["chat_template"].as_str().unwrap().len() as u64);
    let kept: Vec<&str> = server["models"].as_array().unwrap().iter().map(|m| m["id"].as_str().unwrap()).collect();
    assert_eq!(kept, ids);
    assert_eq!(server["models"][0]["owned_by"], models["data"][0]["owned_by"]);
    assert_eq!(server["models"][0]["n_ctx_train"], models["data"][0]["meta"]["n_ctx_train"]);
    for path in ["/v1/models", "/props"] {
        assert_eq!(endpoint(server, path)["ok"], true, "{server}");
    }
    // llama-server has no /version, /info or /v2: said, not failed.
    for path in ["/version", "/info", "/v2"] {
        let e = endpoint(server, path);
        assert_eq!((e["ok"].as_bool(), e["status"].as_u64()), (Some(false), Some(404)), "{e}");
    }
    assert!(meta["host"]["cores_available"].as_u64().unwrap() > 0);
    assert!(meta["launch"].is_null());
    // The console header says it in one line.
    let header = o.stderr.lines().find(|l| l.trim_start().starts_with("server: llama.cpp")).unwrap_or_else(|| panic!("{}", o.stderr));
    let build = props["build_info"].as_str().unwrap();
    assert!(header.contains(build) && header.contains(&format!("model {}", ids[0])) && header.contains("| host: "), "{header}");
    assert_eq!(report["stages"][0]["requests"]["ok"], 2);

    // With --server-kind llamacpp only its own endpoints are asked.
    let out = TempDir::new("meta-llama-kind");
    let params = json!({"rate": 4, "max_requests": 1, "duration_s": 60, "max_tokens": 2});
    let args = with(run_args("builtin:chat-poisson", &lease.server.url(), params, &out), &["--server-kind", "llamacpp"]);
    run_volley_args(&args, Duration::from_secs(240)).assert_success();
    let server = read_report(out.path())["metadata"]["server"].clone();
    let asked: Vec<&str> = server["endpoints"].as_array().unwrap().iter().map(|e| e["path"].as_str().unwrap()).collect();
    assert_eq!((server["kind"].as_str(), asked), (Some("llamacpp"), vec!["/v1/models", "/props"]));
    assert_eq!(server["llamacpp"]["build_info"], props["build_info"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_simulator_run_describes_its_host_and_which_endpoints_answered() {
    let sim = start_sim(SimConfig { ttft: Duration::from_millis(1), ..SimConfig::default() }).await;
    let out = TempDir::new("meta-sim");
    let o = run_volley_async(loud(run_args("builtin:burst", &sim.url(), json!({"n": 2}), &out)), Duration::from_secs(60)).await;
    o.assert_success();
    let report = read_report(out.path());
    let meta = &report["metadata"];
    let host = &meta["host"];
    assert!(host["cores_available"].as_u64().unwrap() > 0, "{host}");
    assert!(host["memory_total_mib"].as_u64().unwrap() > 0, "{host}");
    assert!(host["cpus_online"].as_u64().unwrap() > 0, "{host}");
    assert_eq!(host["volley_version"], report["volley_version"]);
    assert!(host["gpus"].is_array(), "{host}");
    let server = &meta["server"];
    // The simulator is OpenAI-compatible: its model list answers, nothing else does.
    assert_eq!(endpoint(server, "/v1/models")["ok"], true, "{server}");
    assert!(!server["models"].as_array().unwrap().is_empty(), "{server}");
    for path in ["/version", "/info", "/props", "/v2"] {
        let e = endpoint(server, path);
        assert_eq!(e["ok"], false, "{e}");
        assert!(e["error"].as_str().is_some(), "{e}");
    }
    assert!(server["llamacpp"].is_null() && server["tgi"].is_null() && server["vllm_version"].is_null() && server["kserve"].is_null());
    assert!(o.stderr.lines().any(|l| l.trim_start().starts_with("server: model ") && l.contains("| host: ")), "{}", o.stderr);

    // The HTML report has the section, and a report without metadata (an older one)
    // still reads back: `volley compare` of the two.
    let html = std::fs::read_to_string(out.path().join("report.html")).unwrap();
    assert!(html.contains("<h2>Metadata</h2>") && html.contains("endpoints answered"), "metadata section");
    let old = TempDir::new("meta-old");
    let mut stripped = report.clone();
    stripped.as_object_mut().unwrap().remove("metadata");
    std::fs::write(old.path().join("report.json"), stripped.to_string()).unwrap();
    let o = run_volley(&["compare", old.path().to_str().unwrap(), out.path().to_str().unwrap()], Duration::from_secs(30));
    assert!(o.status.code().is_some_and(|c| c == 0 || c == 1), "a report without metadata reads: {}", o.stderr);
    assert!(!o.stderr.contains("not a valid report") && !o.stderr.contains("metadata"), "{}", o.stderr);
}
