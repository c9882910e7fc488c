//! Reports for unit tests (the comparison's here, the store's with feature `testing`),
//! made the way a run makes them: requests recorded into a stage's statistics, the
//! stage's report built from those.

use std::time::{Duration, Instant};

use volley_core::{Api, Info, Load, RequestRecord, Stage, StageStats, StageWindow};

use crate::schema::{HostReport, Report, RunInfo, ScenarioReport, StageReport};

/// A stage of one successful request per TTFT (ms) given, over one second, with its
/// lossless statistics (`mergeable`) as a run writes them.
pub fn stage_with_ttfts(name: &str, ttfts_ms: &[u64]) -> StageReport {
    let stage = Stage::new(name, Load::Poisson { rate: 5.0 }, Some(Duration::from_secs(1)), None);
    let mut stats = StageStats::new();
    let t0 = Instant::now();
    for (seq, &ttft) in ttfts_ms.iter().enumerate() {
        let mut r = RequestRecord::new(0, seq as u64, Api::Completions, true, t0);
        r.sent = Some(t0);
        r.first_token = Some(t0 + Duration::from_millis(ttft));
        r.done = t0 + Duration::from_millis(ttft + 1);
        r.output_tokens = 4;
        stats.record(&r);
    }
    let sent = ttfts_ms.len() as u64;
    let window = StageWindow { started: t0, sending_ended: t0, finished: t0 + Duration::from_secs(1), sent };
    let mut report = StageReport::build(&stage, &stats, &window);
    report.mergeable = Some(stats.to_wire());
    report
}

/// A run's report holding `stages`.
pub fn one_run(stages: Vec<StageReport>) -> Report {
    Report {
        stages,
        ..Report::new(RunInfo {
            scenario: ScenarioReport {
                info: Info { name: "x".into(), version: "1".into(), description: String::new() },
                source: "native:x".into(),
                digest: None,
                wit: None,
            },
            target: "t".into(),
            seed: 1,
            params: serde_json::json!({}),
            started_unix_ms: 0,
            duration_s: 1.0,
            interrupted: false,
            datasets: Vec::new(),
            host: HostReport { peak_rss_mib: 1.0 },
        })
    }
}
