//! Datasets granted by the operator: replay, malformed files, grants, and memory use on
//! a dataset far larger than what Volley keeps in memory.

use std::io::{BufWriter, Write};
use std::time::Duration;

use crate::support::*;
use serde_json::json;
use volley::sim::SimConfig;

fn fast_sim() -> SimConfig {
    SimConfig { ttft: Duration::ZERO, itl: Duration::ZERO, ..SimConfig::default() }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sharegpt_rows_are_replayed_in_order() {
    let sim = start_sim(fast_sim()).await;
    let dir = TempDir::new("sharegpt");
    let data = dir.path().join("tiny_sharegpt.json");
    let rows: Vec<_> = (0..5)
        .map(|i| {
            json!({"id": format!("r{i}"), "conversations": [
                {"from": "system", "value": "be brief"},
                {"from": "human", "value": format!("question {i}")},
                {"from": "gpt", "value": "a fairly short answer"},
                {"from": "human", "value": "follow-up"}]})
        })
        .collect();
    std::fs::write(&data, serde_json::to_vec(&rows).unwrap()).unwrap();
    let out = TempDir::new("sharegpt-out");
    let params = json!({"order": "sequential", "rate": 100, "max_tokens": 50, "stream": false});
    let grant = format!("sharegpt={}", data.display());
    let args = with(
        run_args("builtin:sharegpt", &sim.url(), params, &out),
        &["--dataset", &grant, "--tokenizer", &tokenizer_path(), "--record-text"],
    );
    run_volley_async(args, Duration::from_secs(60)).await.assert_success();
    let mut records = read_records(out.path());
    records.sort_by_key(|r| r["seq"].as_u64());
    assert_eq!(records.len(), 5, "the scenario stops at the end of the dataset");
    for (i, r) in records.iter().enumerate() {
        let messages = r["request_body"]["messages"].as_array().unwrap();
        assert_eq!(messages.len(), 2, "system + first user turn: {r}");
        assert_eq!(messages[1], json!({"role": "user", "content": format!("question {i}")}));
        // Output length replayed from the dataset's answer ("a fairly short answer": 4 tokens).
        assert_eq!(r["max_tokens"], 4);
    }
    let report = read_report(out.path());
    assert_eq!(report["datasets"][0]["rows"], 5);
    assert_eq!(report["datasets"][0]["format"], "sharegpt");
}

#[test]
fn malformed_dataset_is_one_line_naming_file_and_line() {
    let dir = TempDir::new("bad");
    let data = dir.path().join("bad.jsonl");
    std::fs::write(&data, "{\"prompt\": \"fine\"}\n{\"prompt\": \"fine\"}\n{\"prompt\": \"broken\n").unwrap();
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let target = format!("http://{}", l.local_addr().unwrap());
    let grant = format!("sharegpt={}", data.display());
    let o = run_volley(&["run", "builtin:sharegpt", "--target", &target, "--dataset", &grant], Duration::from_secs(30));
    assert_eq!(o.status.code(), Some(1));
    let errors = o.error_lines();
    assert_eq!(errors.len(), 1, "{}", o.stderr);
    assert!(errors[0].contains("bad.jsonl:3: malformed row: invalid JSON"), "{}", errors[0]);
    assert!(!o.stderr.contains("panicked"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_rows_are_skipped_and_counted_when_asked() {
    let sim = start_sim(fast_sim()).await;
    let dir = TempDir::new("skip");
    let data = dir.path().join("mixed.jsonl");
    let mut text = String::new();
    for i in 0..20 {
        if i % 5 == 4 {
            text.push_str("{\"no_prompt_here\": 1}\n");
        } else {
            text.push_str(&format!("{{\"prompt\": \"row {i}\"}}\n"));
        }
    }
    std::fs::write(&data, text).unwrap();
    let out = TempDir::new("skip-out");
    let grant = format!("data={}", data.display());
    let params = json!({"dataset": "data", "order": "sequential", "rate": 200, "stream": false});
    let args = with(run_args("builtin:sharegpt", &sim.url(), params, &out), &["--dataset", &grant, "--dataset-errors", "skip"]);
    run_volley_async(args, Duration::from_secs(60)).await.assert_success();
    let report = read_report(out.path());
    assert_eq!((report["datasets"][0]["rows"].as_u64(), report["datasets"][0]["skipped"].as_u64()), (Some(16), Some(4)));
    assert_eq!(read_records(out.path()).len(), 16);
}

#[test]
fn scenario_cannot_open_an_ungranted_dataset() {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let target = format!("http://{}", l.local_addr().unwrap());
    let o = run_volley(&["run", "builtin:sharegpt", "--target", &target], Duration::from_secs(30));
    assert_eq!(o.status.code(), Some(1));
    let errors = o.error_lines();
    assert_eq!(errors.len(), 1, "{}", o.stderr);
    assert!(errors[0].contains("no dataset 'sharegpt' was granted"), "{}", errors[0]);
    let o = run_volley(&["run", "builtin:synthetic", "--target", &target], Duration::from_secs(30));
    assert!(o.error_lines()[0].contains("needs the model's tokenizer"), "{}", o.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_one_gigabyte_jsonl_runs_in_a_fraction_of_its_size() {
    // ~1 GiB of JSONL, 1 KiB prompts. Volley indexes it (12 bytes a row) and reads the
    // rows it sends from disk, so its peak RSS must stay far below the file's size.
    let dir = TempDir::new("big");
    let data = dir.path().join("big.jsonl");
    let filler = "lorem ipsum dolor sit amet ".repeat(38); // ~1 KiB
    {
        let mut w = BufWriter::with_capacity(1 << 20, std::fs::File::create(&data).unwrap());
        for i in 0..1_000_000u32 {
            writeln!(w, "{{\"id\": {i}, \"prompt\": \"{i} {filler}\"}}").unwrap();
        }
        w.flush().unwrap();
    }
    let size_mib = std::fs::metadata(&data).unwrap().len() as f64 / (1 << 20) as f64;
    assert!(size_mib > 1000.0, "{size_mib} MiB");
    let sim = start_sim(fast_sim()).await;
    let out = TempDir::new("big-out");
    let grant = format!("big={}", data.display());
    let params = json!({"dataset": "big", "rate": 200, "requests": 200, "max_tokens": 4, "stream": false});
    let args = with(run_args("builtin:sharegpt", &sim.url(), params, &out), &["--dataset", &grant]);
    run_volley_async(args, Duration::from_secs(300)).await.assert_success();
    let report = read_report(out.path());
    assert_eq!(report["datasets"][0]["rows"], 1_000_000);
    assert_eq!(report["stages"][0]["requests"]["ok"], 200);
    let rss = report["host"]["peak_rss_mib"].as_f64().unwrap();
    assert!(rss < size_mib / 4.0, "peak RSS {rss:.0} MiB for a {size_mib:.0} MiB dataset");
}
