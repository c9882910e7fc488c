//! `volley runs export`: a stored run as CSV (a row per stage, read back with an RFC 4180
//! reader) and as llm-d-benchmark's benchmark report (schema 0.2, read back as JSON),
//! each figure checked against the run's report.json; a format Volley does not write is
//! refused in one line.

use std::time::Duration;

use crate::support::*;
use serde_json::{Value, json};
use volley::sim::SimConfig;

fn sim() -> SimConfig {
    SimConfig { ttft: Duration::from_millis(15), itl: Duration::from_millis(2), ..SimConfig::default() }
}

/// The rows of a CSV text, read by the `csv` crate (an RFC 4180 reader that is not ours).
fn csv_rows(text: &str) -> Vec<Vec<String>> {
    csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(text.as_bytes())
        .records()
        .map(|r| r.expect("a well-formed CSV row").iter().map(str::to_string).collect())
        .collect()
}

fn export(args: &[&str], store: &str) -> Output {
    let mut all = vec!["runs", "export"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--store", store]);
    run_volley(&all, Duration::from_secs(30))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stored_run_exports_as_csv_and_as_an_llmd_benchmark_report() {
    let dir = TempDir::new("export");
    let store = dir.path().join("runs.sqlite").display().to_string();
    let server = start_sim(sim()).await;
    // Two runs: a sweep of four stages, and one stage of chat-poisson.
    let sweep_out = TempDir::new("export-sweep");
    let params = json!({"benchmarks": 4, "stage_s": 1.0, "max_concurrency": 4, "output_tokens": 6, "prompt_tokens": 8});
    // With a tokenizer the prompts have the lengths asked for, which llm-d's load needs.
    let tokenizer = tokenizer_path();
    let args = with(
        run_args("builtin:sweep", &server.url(), params, &sweep_out),
        &["--store", &store, "--label", "kind=sweep", "--tokenizer", &tokenizer],
    );
    run_volley_async(args, Duration::from_secs(90)).await.assert_success();
    let poisson_out = TempDir::new("export-poisson");
    let params = json!({"rate": 20, "duration_s": 1, "max_tokens": 5});
    let args = with(run_args("builtin:chat-poisson", &server.url(), params, &poisson_out), &["--store", &store, "--label", "kind=poisson"]);
    run_volley_async(args, Duration::from_secs(60)).await.assert_success();
    let sweep = read_report(sweep_out.path());
    let stages = sweep["stages"].as_array().unwrap();
    assert_eq!(stages.len(), 4);

    // CSV: a header and a row per stage, the figures as report.json has them.
    let o = export(&["label:kind=sweep", "--format", "csv"], &store);
    o.assert_success();
    let rows = csv_rows(&o.stdout);
    assert_eq!(rows.len(), 1 + stages.len(), "{}", o.stdout);
    let col = |name: &str| rows[0].iter().position(|c| c == name).unwrap_or_else(|| panic!("no column {name}: {:?}", rows[0]));
    for (row, stage) in rows[1..].iter().zip(stages) {
        assert_eq!(row.len(), rows[0].len());
        assert_eq!(row[col("name")], stage["name"].as_str().unwrap());
        assert_eq!(row[col("sent")].parse::<u64>().unwrap(), stage["requests"]["sent"].as_u64().unwrap());
        assert_eq!(row[col("achieved_rps")].parse::<f64>().unwrap(), stage["achieved_rps"].as_f64().unwrap());
        assert_eq!(row[col("ttft_p99_ms")].parse::<f64>().unwrap(), stage["ttft_ms"]["p99"].as_f64().unwrap());
        assert_eq!(row[col("tpot_p90_ms")].parse::<f64>().unwrap(), stage["tpot_ms"]["p90"].as_f64().unwrap());
    }

    // llm-d: one report per stage; the sweep's third stage by index, to stdout.
    let o = export(&["label:kind=sweep", "--format", "llm-d", "--stage", "2"], &store);
    o.assert_success();
    let br: Value = serde_json::from_str(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", o.stdout));
    assert_eq!(br["version"], "0.2");
    assert_eq!(br["scenario"]["load"]["standardized"]["tool"], "volley");
    assert_eq!(br["scenario"]["load"]["standardized"]["stage"], 2);
    assert_eq!(br["scenario"]["load"]["standardized"]["rate_qps"], stages[2]["target_rps"]);
    assert_eq!(br["scenario"]["stack"][0]["standardized"]["target"], sweep["target"]);
    let agg = &br["results"]["request_performance"]["aggregate"];
    assert_eq!(agg["requests"]["total"], stages[2]["requests"]["sent"]);
    let ttft = &agg["latency"]["time_to_first_token"];
    assert_eq!(ttft["units"], "ms");
    assert_eq!(ttft["p99"].as_f64(), stages[2]["ttft_ms"]["p99"].as_f64());
    let tpot = &agg["latency"]["time_per_output_token"];
    assert_eq!((tpot["units"].as_str(), tpot["p50"].as_f64()), (Some("ms/token"), stages[2]["tpot_ms"]["p50"].as_f64()));
    let itl = &agg["latency"]["inter_token_latency"];
    assert_eq!(itl["mean"].as_f64(), stages[2]["itl_ms"]["mean"].as_f64());
    assert!(agg["latency"].get("normalized_time_per_output_token").is_none(), "not derivable, so not written: {agg}");
    assert_eq!(agg["throughput"]["output_token_rate"]["mean"], stages[2]["output_tokens_per_s"]);
    // By name, the same report.
    let name = stages[2]["name"].as_str().unwrap();
    let by_name = export(&["label:kind=sweep", "--format", "llm-d", "--stage", name], &store);
    assert_eq!(by_name.stdout, o.stdout);
    // Every stage, a file each; the run's stages share the experiment id.
    let all = dir.path().join("br");
    export(&["label:kind=sweep", "--format", "llm-d", "--out", &all.display().to_string()], &store).assert_success();
    let uids: Vec<(Value, Value)> = (0..stages.len())
        .map(|i| {
            let v: Value = serde_json::from_str(&std::fs::read_to_string(all.join(format!("stage-{i}.json"))).unwrap()).unwrap();
            (v["run"]["uid"].clone(), v["run"]["eid"].clone())
        })
        .collect();
    assert!(uids.iter().all(|(_, eid)| *eid == uids[0].1) && uids[0].0 != uids[1].0, "{uids:?}");
    // Several stages to stdout without --stage: refused in one line.
    let o = export(&["label:kind=sweep", "--format", "llm-d"], &store);
    assert!(!o.status.success() && o.error_lines().len() == 1, "{}", o.stderr);
    assert!(o.stderr.contains("--stage"), "{}", o.stderr);

    // One stage needs no --stage; the run's labels are its keywords.
    let o = export(&["label:kind=poisson", "--format", "llm-d"], &store);
    o.assert_success();
    let br: Value = serde_json::from_str(&o.stdout).unwrap();
    let poisson = read_report(poisson_out.path());
    let latency = &br["results"]["request_performance"]["aggregate"]["latency"]["request_latency"];
    assert_eq!(latency["p90"].as_f64(), poisson["stages"][0]["latency_ms"]["p90"].as_f64());
    assert_eq!(br["run"]["keywords"], json!(["kind=poisson"]));

    // A format Volley does not write, and --stage where it means nothing: one line each.
    for bad in [&["label:kind=poisson", "--format", "yaml"][..], &["label:kind=poisson", "--format", "csv", "--stage", "0"]] {
        let o = export(bad, &store);
        assert!(!o.status.success(), "{bad:?}: {}", o.stdout);
        assert_eq!(o.error_lines().len(), 1, "{bad:?}: {}", o.stderr);
        assert!(o.stdout.is_empty(), "{bad:?}: {}", o.stdout);
    }
}
