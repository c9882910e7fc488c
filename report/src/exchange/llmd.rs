//! A run's report as llm-d-benchmark benchmark reports (schema 0.2, [`super::llmd_schema`]):
//! one report per stage, as llm-d-benchmark writes one per stage of a multi-stage tool
//! (`scenario.load.standardized.stage`). The run's stages share `run.eid`.
//!
//! What goes where (docs/metrics.md has each definition):
//! - `time_to_first_token` ← `ttft_ms`, `request_latency` ← `latency_ms` (ms);
//! - `time_per_output_token` ← `tpot_ms`, (latency − TTFT) / (output tokens − 1) per
//!   request: the schema's, vLLM's and inference-perf's TPOT, aiperf's and guidellm's ITL;
//! - `inter_token_latency` ← `itl_ms`, the gaps between streamed chunks after the first,
//!   pooled: vLLM's ITL (aiperf's inter-chunk latency);
//! - `normalized_time_per_output_token` (latency / output tokens per request, guidellm's
//!   TPOT) is left out: it is a per-request ratio, not derivable from the stage's
//!   distributions;
//! - `output_token_rate` ← `output_tokens_per_s`, `request_rate` ← `achieved_rps` (one
//!   value each, as `mean`); input and total token rates are left out (Volley does not
//!   total the prompt tokens of every request).
//!
//! Distributions carry the report's own percentiles; p0.1 to p25, p75 and the standard
//! deviation come from the stage's lossless histograms (`mergeable`) when the report has
//! them, and are left out when it does not.

use sha2::{Digest, Sha256};
use volley_core::{Load as VolleyLoad, Summary};

use super::llmd_schema::{
    Aggregate, BenchmarkReport, Component, ComponentMetadata, GenericComponent, Latency, Load, LoadMetadata, LoadStandardized, Native,
    RequestPerformance, Requests, Results, Run, RunTime, Scenario, SequenceLength, Statistics, Throughput, Units, VERSION,
};
use crate::schema::{Report, StageReport};

/// Which run this is, beyond its report: the store's id for it and its labels.
pub struct RunIdentity<'a> {
    pub id: &'a str,
    pub labels: &'a [(String, String)],
}

/// One benchmark report per stage, in order.
pub fn reports(report: &Report, run: &RunIdentity<'_>) -> Vec<BenchmarkReport> {
    (0..report.stages.len()).filter_map(|i| stage_report(report, i, run)).collect()
}

/// The benchmark report of stage `index` (none past the last stage).
pub fn stage_report(report: &Report, index: usize, run: &RunIdentity<'_>) -> Option<BenchmarkReport> {
    let stage = report.stages.get(index)?;
    let model = model(report, stage);
    let keywords: Vec<String> = run.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    Some(BenchmarkReport {
        version: VERSION.to_string(),
        run: Run {
            uid: format!("{}-{index}", run.id),
            eid: Some(run.id.to_string()),
            time: run_time(report, stage),
            description: Some(format!(
                "{} [{}] stage {index} '{}'",
                model.as_deref().unwrap_or(&report.scenario.info.name),
                run.id,
                stage.name
            )),
            keywords: (!keywords.is_empty()).then_some(keywords),
        },
        scenario: Some(Scenario { stack: Some(vec![server(report, model.clone())]), load: load(report, stage, index) }),
        results: Results {
            request_performance: RequestPerformance {
                aggregate: Aggregate { requests: requests(stage), latency: latency(stage), throughput: throughput(stage) },
            },
        },
    })
}

/// The model the stage's requests named when they named one, else the server's first.
fn model(report: &Report, stage: &StageReport) -> Option<String> {
    if stage.models.len() == 1 {
        return stage.models.keys().next().cloned();
    }
    let server = report.metadata.server.as_ref()?;
    server
        .models
        .first()
        .map(|m| m.id.clone())
        .or_else(|| server.tgi.as_ref().and_then(|t| t.model_id.clone()))
        .or_else(|| server.llamacpp.as_ref().and_then(|p| p.model_alias.clone()))
}

/// When the stage ran: its window when the report has one, else the run's.
fn run_time(report: &Report, stage: &StageReport) -> Option<RunTime> {
    let (start_ms, seconds) = match &stage.window {
        Some(w) if w.started_unix_ms > 0.0 => (w.started_unix_ms, (w.finished_ms / 1000.0).max(0.0)),
        _ => (report.started_unix_ms as f64, report.duration_s.max(0.0)),
    };
    if !start_ms.is_finite() || !seconds.is_finite() || start_ms <= 0.0 {
        return None;
    }
    Some(RunTime { start: iso8601(start_ms), end: iso8601(start_ms + seconds * 1000.0), duration: format!("PT{seconds}S") })
}

/// `2026-12-08T00:44:37.250Z` from Unix milliseconds.
fn iso8601(unix_ms: f64) -> String {
    let ms = unix_ms.max(0.0).round() as u64;
    // utc_stamp is YYYYmmdd-HHMMSS.
    let t = volley_core::time::utc_stamp(std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms));
    format!("{}-{}-{}T{}:{}:{}.{:03}Z", &t[0..4], &t[4..6], &t[6..8], &t[9..11], &t[11..13], &t[13..15], ms % 1000)
}

/// SHA-256 of a configuration's JSON (its keys sorted), as hex.
fn cfg_id(config: &serde_json::Value) -> String {
    use std::fmt::Write;
    let mut hex = String::with_capacity(64);
    for b in Sha256::digest(config.to_string().as_bytes()) {
        let _ = write!(hex, "{b:02x}");
    }
    hex
}

/// The server at the target, with what it said of itself (and the command that
/// started it, when Volley did) as its native configuration.
fn server(report: &Report, model: Option<String>) -> Component {
    let meta = report.metadata.server.as_ref();
    let (tool, version) = match meta {
        Some(m) if m.vllm_version.is_some() => ("vllm", m.vllm_version.clone()),
        Some(m) if m.llamacpp.is_some() => ("llama.cpp", m.llamacpp.as_ref().and_then(|p| p.build_info.clone())),
        Some(m) if m.tgi.is_some() => ("tgi", m.tgi.as_ref().and_then(|t| t.version.clone())),
        Some(m) if m.kserve.is_some() => ("kserve-v2", m.kserve.as_ref().and_then(|k| k.version.clone())),
        _ => ("unknown", None),
    };
    let config = serde_json::json!({ "server": meta, "launch": report.metadata.launch });
    Component {
        metadata: ComponentMetadata {
            schema_version: "0.0.1".into(),
            label: "server-0".into(),
            cfg_id: cfg_id(&config),
            description: Some("the inference server at the target, as it described itself to Volley".into()),
        },
        standardized: GenericComponent {
            kind: "generic".into(),
            tool: tool.into(),
            tool_version: version.unwrap_or_else(|| "unknown".into()),
            model,
            target: Some(report.target.clone()),
        },
        native: Native { config: Some(config) },
    }
}

/// The workload of the stage. None when no input length is known (the schema requires
/// one, and Volley counts prompt tokens only where the scenario or the server says).
fn load(report: &Report, stage: &StageReport, index: usize) -> Option<Load> {
    let input = stage.prompt_tokens.received_mean.or(stage.prompt_tokens.requested_mean)?;
    let output = stage.output_tokens.requested_mean.filter(|_| stage.output_tokens.compared > 0).map(|value| SequenceLength {
        distribution: "other".into(),
        value,
        max: None,
    });
    let concurrency = match stage.load {
        VolleyLoad::Concurrency { n } if n > 0 => Some(u64::from(n)),
        _ => None,
    };
    let config = serde_json::json!({
        "scenario": report.scenario,
        "params": report.params,
        "seed": report.seed,
        "target": report.target,
        "stage": { "name": stage.name, "load": stage.load, "planned_duration_s": stage.planned_duration.map(|d| d.as_secs_f64()),
                   "max_requests": stage.max_requests },
        "host": report.metadata.host,
    });
    Some(Load {
        metadata: LoadMetadata {
            schema_version: "0.0.1".into(),
            cfg_id: Some(cfg_id(&config)),
            description: (!report.scenario.info.description.is_empty()).then(|| report.scenario.info.description.clone()),
        },
        standardized: LoadStandardized {
            tool: "volley".into(),
            tool_version: report.volley_version.clone(),
            parallelism: report.merged.as_ref().map_or(1, |m| u64::from(m.count.max(1))),
            source: if report.datasets.is_empty() { "unknown" } else { "sampled" }.into(),
            stage: index as u64,
            input_seq_len: SequenceLength { distribution: "other".into(), value: input, max: None },
            output_seq_len: output,
            rate_qps: stage.target_rps.filter(|r| r.is_finite() && *r > 0.0),
            concurrency,
        },
        native: Native { config: Some(config) },
    })
}

fn requests(stage: &StageReport) -> Requests {
    let tokens = &stage.output_tokens;
    let output_length = (stage.requests.ok > 0).then(|| {
        let mut s = Statistics::mean(Units::Count, tokens.mean);
        s.p50 = Some(tokens.p50 as f64);
        s.max = Some(tokens.max as f64);
        if let Some(h) = stage.mergeable.as_ref().and_then(|w| volley_core::histogram::decode(&w.output_tokens).ok()) {
            fill_from_histogram(&mut s, &h, 1.0);
        }
        s
    });
    Requests {
        total: stage.requests.sent,
        failures: stage.requests.failed,
        input_length: stage.prompt_tokens.received_mean.map(|m| Statistics::mean(Units::Count, m)),
        output_length,
    }
}

fn latency(stage: &StageReport) -> Latency {
    let wire = stage.mergeable.as_ref();
    Latency {
        time_to_first_token: distribution(stage.ttft_ms, wire.map(|w| w.ttft.as_str()), Units::Ms),
        normalized_time_per_output_token: None,
        time_per_output_token: distribution(stage.tpot_ms, wire.map(|w| w.tpot.as_str()), Units::MsPerToken),
        inter_token_latency: distribution(stage.itl_ms, wire.map(|w| w.itl.as_str()), Units::MsPerToken),
        request_latency: distribution(stage.latency_ms, wire.map(|w| w.latency.as_str()), Units::Ms),
    }
}

fn throughput(stage: &StageReport) -> Throughput {
    let rate = |v: f64, units| v.is_finite().then(|| Statistics::mean(units, v));
    Throughput {
        output_token_rate: rate(stage.output_tokens_per_s, Units::TokensPerS),
        request_rate: rate(stage.achieved_rps, Units::QueriesPerS),
    }
}

/// A duration distribution in ms: the summary's figures, and the rest from the encoded
/// histogram (µs) when it reads.
fn distribution(summary: Option<Summary>, histogram: Option<&str>, units: Units) -> Option<Statistics> {
    let m = summary?;
    let mut s = Statistics::mean(units, m.mean);
    s.min = Some(m.min);
    s.p50 = Some(m.p50);
    s.p90 = Some(m.p90);
    s.p95 = Some(m.p95);
    s.p99 = Some(m.p99);
    s.p99p9 = Some(m.p99_9);
    s.max = Some(m.max);
    if let Some(h) = histogram.and_then(|text| volley_core::histogram::decode(text).ok()) {
        fill_from_histogram(&mut s, &h, 1000.0);
    }
    Some(s)
}

/// The figures a summary lacks, from the histogram they were made from (values divided
/// by `per_unit`: 1000 for µs to ms). Nothing from an empty histogram.
fn fill_from_histogram(s: &mut Statistics, h: &hdrhistogram::Histogram<u64>, per_unit: f64) {
    if h.is_empty() {
        return;
    }
    let at = |q: f64| Some(h.value_at_quantile(q) as f64 / per_unit);
    s.stddev = Some(h.stdev() / per_unit).filter(|v| v.is_finite());
    s.min = s.min.or(Some(h.min() as f64 / per_unit));
    s.p0p1 = at(0.001);
    s.p1 = at(0.01);
    s.p5 = at(0.05);
    s.p10 = at(0.10);
    s.p25 = at(0.25);
    s.p75 = at(0.75);
    s.p90 = s.p90.or(at(0.90));
    s.p95 = s.p95.or(at(0.95));
    s.p99 = s.p99.or(at(0.99));
    s.p99p9 = s.p99p9.or(at(0.999));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{one_run, stage_with_ttfts};

    #[test]
    fn each_stage_is_a_report_with_the_stage_figures_in_the_schema_units() {
        let mut report = one_run(vec![stage_with_ttfts("warm", &[10, 20, 30, 40]), stage_with_ttfts("load", &[50])]);
        report.started_unix_ms = 1_765_154_677_250;
        let labels = vec![("build".to_string(), "a".to_string())];
        let run = RunIdentity { id: "00ff", labels: &labels };
        let out = reports(&report, &run);
        assert_eq!(out.len(), 2);
        // Written and read back as JSON (YAML readers read it too).
        let text = serde_json::to_string_pretty(&out[0]).unwrap();
        let back: BenchmarkReport = serde_json::from_str(&text).unwrap();
        assert_eq!(back, out[0]);
        assert_eq!((back.version.as_str(), back.run.uid.as_str(), back.run.eid.as_deref()), ("0.2", "00ff-0", Some("00ff")));
        assert_eq!(back.run.keywords, Some(vec!["build=a".to_string()]));
        assert_eq!(back.run.time.as_ref().unwrap().start, "2025-12-08T00:44:37.250Z");
        let stage = &report.stages[0];
        let agg = &back.results.request_performance.aggregate;
        assert_eq!((agg.requests.total, agg.requests.failures), (4, 0));
        let ttft = agg.latency.time_to_first_token.as_ref().unwrap();
        assert_eq!(ttft.units, Units::Ms);
        let m = stage.ttft_ms.unwrap();
        assert_eq!((ttft.p50, ttft.p99, ttft.max), (Some(m.p50), Some(m.p99), Some(m.max)));
        // p25 and p75 come from the lossless histogram: of 10, 20, 30, 40 ms, the nearest
        // ranks are the first and the third (to the histogram's 0.1 % precision).
        let (p25, p75) = (ttft.p25.unwrap(), ttft.p75.unwrap());
        assert!((p25 - 10.0).abs() <= 0.011 && (p75 - 30.0).abs() <= 0.031, "{ttft:?}");
        let tpot = agg.latency.time_per_output_token.as_ref().unwrap();
        assert_eq!((tpot.units, tpot.p99), (Units::MsPerToken, Some(stage.tpot_ms.unwrap().p99)));
        // Not derivable, so absent: NTPOT; no chunk gaps in these stages, so no ITL.
        assert!(agg.latency.normalized_time_per_output_token.is_none() && agg.latency.inter_token_latency.is_none());
        assert!(!text.contains("normalized_time_per_output_token") && !text.contains("\"p0p1\": null"));
        let rate = agg.throughput.request_rate.as_ref().unwrap();
        assert_eq!((rate.units, rate.mean), (Units::QueriesPerS, stage.achieved_rps));
        // No prompt lengths in these stages: the schema requires one for a load, so none.
        assert!(back.scenario.as_ref().unwrap().load.is_none());
        assert_eq!(out[1].run.uid, "00ff-1");
    }

    #[test]
    fn a_stage_without_histograms_keeps_the_summary_figures_only() {
        let mut stage = stage_with_ttfts("s", &[10, 20]);
        stage.mergeable = None;
        let report = one_run(vec![stage]);
        let out = stage_report(&report, 0, &RunIdentity { id: "1", labels: &[] }).unwrap();
        let ttft = out.results.request_performance.aggregate.latency.time_to_first_token.unwrap();
        assert_eq!((ttft.p25, ttft.stddev, ttft.p99.is_some()), (None, None, true));
        assert!(stage_report(&report, 1, &RunIdentity { id: "1", labels: &[] }).is_none());
    }
}
