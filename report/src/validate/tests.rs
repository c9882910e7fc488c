use std::time::{Duration, Instant};

use serde_json::{Value, json};
use volley_core::{Api, ErrorClass, Info, Load, RequestRecord, Shard, Stage, StageStats, StageWindow};

use crate::read::parse_report;
use crate::schema::{CheckReport, HostReport, Report, RunInfo, ScenarioReport, StageReport, WholeStage, WindowReport};

/// A shard's report as a run writes it: a stage of 20 requests (two failed, tagged),
/// its lossless statistics, window and a check; as JSON, to be read back.
fn shard_json() -> Value {
    let stage = Stage::new("steady", Load::Poisson { rate: 5.0 }, Some(Duration::from_secs(4)), None);
    let mut stats = StageStats::new();
    let t0 = Instant::now();
    for seq in 0..20u64 {
        let mut r = RequestRecord::new(0, seq, Api::Completions, true, t0);
        r.sent = Some(t0);
        r.first_token = Some(t0 + Duration::from_millis(10 + seq));
        r.done = t0 + Duration::from_millis(40 + seq);
        r.output_tokens = 4;
        r.tag = Some(if seq % 2 == 0 { "even" } else { "odd" }.into());
        if seq % 10 == 3 {
            r.status = 500;
            r.error = Some(ErrorClass::HttpStatus);
            r.error_message = Some("status 500".into());
        }
        stats.record(&r);
    }
    let window = StageWindow { started: t0, sending_ended: t0 + Duration::from_secs(3), finished: t0 + Duration::from_secs(4), sent: 20 };
    let mut s = StageReport::build(&stage, &stats, &window);
    s.mergeable = Some(stats.to_wire());
    s.shard_of = Some(WholeStage { load: Load::Poisson { rate: 10.0 }, max_requests: None });
    s.window = Some(WindowReport { started_unix_ms: 1.7e12, ..WindowReport::of(&window) });
    s.checks.insert("answered".into(), CheckReport::new(18, 2));
    let report = Report {
        stages: vec![s],
        shard: Some(Shard { index: 0, count: 2 }),
        ..Report::new(RunInfo {
            scenario: ScenarioReport {
                info: Info { name: "x".into(), version: "1".into(), description: String::new() },
                source: "builtin:x".into(),
                digest: Some("sha256:00".into()),
                wit: None,
            },
            target: "http://127.0.0.1:1".into(),
            seed: 1,
            params: json!({"rate": 10}),
            started_unix_ms: 1_700_000_000_000,
            duration_s: 4.0,
            interrupted: false,
            datasets: Vec::new(),
            host: HostReport { peak_rss_mib: 20.0 },
        })
    };
    serde_json::to_value(&report).unwrap()
}

fn read(v: &Value) -> Result<Report, String> {
    parse_report(serde_json::to_string_pretty(v).unwrap().as_bytes())
}

#[test]
fn a_report_as_written_reads_back_valid() {
    let r = read(&shard_json()).unwrap();
    assert_eq!(r.params, json!({"rate": 10}));
    assert_eq!(r.stages[0].requests.sent, 20);
    assert_eq!(r.stages[0].load, Load::Poisson { rate: 5.0 });
    assert_eq!(r.scenario.info.name, "x");
}

#[test]
fn numbers_out_of_range_or_that_do_not_add_up_are_refused_naming_the_field() {
    type Mutation = Box<dyn Fn(&mut Value)>;
    let cases: Vec<(&str, Mutation, &str)> = vec![
        ("ok over sent", Box::new(|v| v["stages"][0]["requests"]["ok"] = json!(25)), "stage 'steady': requests: 25 ok of 20 requests"),
        (
            "failed that is not sent less ok",
            Box::new(|v| v["stages"][0]["requests"]["failed"] = json!(18446744073709551612u64)),
            "requests: 18446744073709551612 failed, but 20 requests less 18 ok is 2",
        ),
        (
            "errors that are not the failures",
            Box::new(|v| v["stages"][0]["requests"]["errors"]["http-status"]["count"] = json!(5)),
            "the errors add up to 5",
        ),
        (
            "a window of 1e300",
            Box::new(|v| v["stages"][0]["window"]["started_unix_ms"] = json!(1e300)),
            "window.started_unix_ms is 1e300, outside 0 to",
        ),
        ("a negative elapsed time", Box::new(|v| v["stages"][0]["elapsed_s"] = json!(-1.0)), "elapsed_s is -1, outside 0 to"),
        ("a load of negative rate", Box::new(|v| v["stages"][0]["load"]["rate"] = json!(-5)), "load.rate is -5"),
        (
            "percentiles out of order",
            Box::new(|v| v["stages"][0]["ttft_ms"]["p50"] = json!(1e6)),
            "ttft_ms.p50 (1000000) is above ttft_ms.p90",
        ),
        (
            "a tag with more ok than requests",
            Box::new(|v| v["stages"][0]["tags"]["odd"]["ok"] = json!(1000)),
            "tag 'odd': 1000 ok of 10 requests",
        ),
        (
            "sent and ok raised together, past what the timings count",
            Box::new(|v| {
                v["stages"][0]["requests"]["sent"] = json!(u64::MAX);
                v["stages"][0]["requests"]["ok"] = json!(u64::MAX - 2);
            }),
            "requests: 18446744073709551613 ok, but latency_from_planned_ms counts 18 of them",
        ),
        (
            "more timing samples than successful requests",
            Box::new(|v| v["stages"][0]["ttft_ms"]["count"] = json!(19)),
            "ttft_ms: 19 samples, more than the 18 successful requests",
        ),
        ("mergeable counts", Box::new(|v| v["stages"][0]["mergeable"]["ok"] = json!(21)), "mergeable: 21 ok of 20 requests"),
        ("a check rate past 1", Box::new(|v| v["stages"][0]["checks"]["answered"]["rate"] = json!(2.5)), "check 'answered'.rate is 2.5"),
        ("a shard past its count", Box::new(|v| v["shard"] = json!({"index": 5, "count": 4})), "shard 5/4 is not a shard"),
        ("a start past the year 9999", Box::new(|v| v["started_unix_ms"] = json!(u64::MAX)), "started_unix_ms is 1.8446744073709552e19"),
        ("a duration past Duration", Box::new(|v| v["stages"][0]["planned_duration_s"] = json!(1e300)), "to Duration"),
        (
            "a duration of a thousand years",
            Box::new(|v| v["stages"][0]["planned_duration_s"] = json!(3.2e10)),
            "planned_duration_s is 32000000000, outside 0 to",
        ),
    ];
    for (what, mutate, says) in cases {
        let mut v = shard_json();
        mutate(&mut v);
        let e = read(&v).err().unwrap_or_else(|| panic!("{what}: accepted"));
        assert!(e.contains(says), "{what}: {e}");
        assert!(!e.contains('\n'), "{what}: {e}");
    }
}

#[test]
fn generic_fields_and_long_lists_are_bounded_before_they_are_kept() {
    // Parameters of more than 1 MiB (a run file holds at most 1 MiB).
    let mut v = shard_json();
    v["params"] = json!({"junk": "x".repeat((1 << 20) + 10)});
    assert!(read(&v).unwrap_err().contains("over its bound of 1048576"));
    // Junk that serde would buffer in a tagged load or the flattened scenario.
    let mut v = shard_json();
    v["stages"][0]["load"]["junk"] = json!(vec![json!([]); 5000]);
    assert!(read(&v).unwrap_err().contains("over its bound of 4096"));
    let mut v = shard_json();
    v["scenario"]["junk"] = json!(vec![json!([]); 100_000]);
    assert!(read(&v).unwrap_err().contains("over its bound of 262144"));
    // More warnings than any run writes.
    let mut v = shard_json();
    v["stages"][0]["warnings"] = json!(vec![""; 10_001]);
    assert!(read(&v).unwrap_err().contains("a list of more than 10000 elements"));
    let mut v = shard_json();
    let sources: serde_json::Map<String, Value> = (0..65).map(|i| (format!("s{i}"), json!(1))).collect();
    v["stages"][0]["output_tokens"]["source"] = Value::Object(sources);
    assert!(read(&v).unwrap_err().contains("a map of more than 64 entries"));
}

#[test]
fn merge_checks_what_it_is_given_and_never_wraps_or_panics() {
    use crate::merge::{ShardInput, merge};
    let shards = || {
        let (mut a, mut b) = (shard_json(), shard_json());
        a["shard"] = json!({"index": 0, "count": 2});
        b["shard"] = json!({"index": 1, "count": 2});
        [read(&a).unwrap(), read(&b).unwrap()]
    };
    let inputs =
        |[a, b]: [Report; 2]| vec![ShardInput { dir: "shard-0".into(), report: a }, ShardInput { dir: "shard-1".into(), report: b }];
    let merged = merge(inputs(shards()), false, &[], None).unwrap();
    assert_eq!(merged.stages[0].requests.sent, 40);
    assert_eq!(merged.stages[0].requests.failed, 4);

    // The server's metadata is the first shard's; every shard's host is listed.
    let mut with_meta = shards();
    for (i, r) in with_meta.iter_mut().enumerate() {
        let host = crate::metadata::HostMetadata { hostname: Some(format!("gen-{i}")), cores_available: 2, ..Default::default() };
        let server = crate::metadata::ServerMetadata { kind: format!("kind-{i}"), ..Default::default() };
        r.metadata = crate::metadata::Metadata { server: Some(server), host: Some(host), ..Default::default() };
    }
    let merged = merge(inputs(with_meta), false, &[], None).unwrap();
    assert_eq!(merged.metadata.server.unwrap().kind, "kind-0");
    let hosts: Vec<_> = merged.metadata.shard_hosts.iter().map(|h| h.hostname.as_deref().unwrap()).collect();
    assert_eq!(hosts, ["gen-0", "gen-1"]);

    // Given directly (not read from a file), a window of 1e300 is still refused.
    let mut far = shards();
    far[1].stages[0].window.as_mut().unwrap().started_unix_ms = 1e300;
    let e = merge(inputs(far), false, &[], None).err().unwrap().to_string();
    assert!(e.contains("shard-1/report.json is not a valid report: stage 'steady': window.started_unix_ms is 1e300"), "{e}");

    // Each shard's counts add up; their sum passes 2^64.
    let mut huge = shards();
    for r in &mut huge {
        let wire = r.stages[0].mergeable.as_mut().unwrap();
        (wire.requests, wire.ok, wire.slo_met) = (u64::MAX - 5, u64::MAX - 5, 0);
        wire.errors.clear();
    }
    let e = merge(inputs(huge), false, &[], None).err().unwrap().to_string();
    assert_eq!(e, "stage 'steady': the shards' requests sum past 2^64");
}
