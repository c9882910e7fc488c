//! The end-of-run summary on stdout: one block per stage with counts, rates and a
//! percentile table, and one row per stage when there are several. It is a list of
//! lines, each built whole: names, tags, models and error messages come from the
//! scenario, the server or a report file, and one with a newline in it stays inside its
//! line. Write them with [`ConsoleWriter`](super::ConsoleWriter), which makes every line
//! printable.

use volley_core::Summary;

use crate::schema::{GroupReport, Report, StageReport};

/// The lines of a summary, one pushed at a time.
type Lines = Vec<String>;

/// Pushes one formatted line.
macro_rules! push_line {
    ($out:expr, $($arg:tt)*) => {
        $out.push(format!($($arg)*))
    };
}

/// The summary of `report`, as printed at the end of a run: one element per line, none
/// containing a line break of its own (a name's are still in it, for the writer to show).
pub fn lines(report: &Report) -> Vec<String> {
    let mut out = Lines::new();
    let s = &report.scenario;
    out.push(String::new());
    push_line!(
        out,
        "{} {} against {} (seed {}{}){}",
        s.info.name,
        s.info.version,
        report.target,
        report.seed,
        report.protocol.as_deref().map_or(String::new(), |p| format!(", {p}")),
        if report.interrupted { " — INTERRUPTED" } else { "" }
    );
    for w in &report.warnings {
        push_line!(out, "WARNING: {w}");
    }
    for h in &report.hooks {
        let status = h.status.map_or_else(|| "no answer".to_string(), |s| format!("HTTP {s}"));
        let stage = h.stage.map_or(String::new(), |i| format!(" (stage {i})"));
        push_line!(out, "server hook {}:{}{stage}: {} {} {status} in {:.1} ms", h.when, h.action, h.method, h.url, h.ms);
    }
    for stage in &report.stages {
        render_stage(&mut out, stage);
    }
    if report.stages.len() > 1 {
        render_table(&mut out, &report.stages);
    }
    if let Some(g) = report.gpu.as_ref().filter(|g| !g.available) {
        let why = g.unavailable_reason.as_deref().unwrap_or("unknown");
        out.push(String::new());
        push_line!(out, "GPU metrics: none on this machine ({why})");
    }
    if let Some(m) = &report.merged {
        render_shards(&mut out, m);
    }
    render_thresholds(&mut out, report);
    out
}

/// `volley merge`: one row per shard.
fn render_shards(out: &mut Lines, m: &crate::schema::MergeReport) {
    out.push(String::new());
    push_line!(out, "shards: {} of {} merged", m.shards.len(), m.count);
    push_line!(out, "  {:>5}{:>9}{:>9}{:>9}{:>12}{:>12}{:>10}", "shard", "sent", "ok", "failed", "skew ms", "lag p99", "ok/s");
    let num = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.3}"));
    for r in &m.shards {
        push_line!(
            out,
            "  {:>5}{:>9}{:>9}{:>9}{:>12}{:>12}{:>10.2}",
            r.index,
            r.sent,
            r.ok,
            r.failed,
            num(r.start_skew_ms),
            num(r.lag_p99_ms),
            r.achieved_rps
        );
    }
    for k in &m.missing {
        push_line!(out, "  {k:>5}  missing");
    }
}

/// Each threshold's verdict per stage, with the measured value.
fn render_thresholds(out: &mut Lines, report: &Report) {
    if report.thresholds.is_empty() {
        return;
    }
    let failed = report.thresholds.iter().filter(|t| !t.passed).count();
    out.push(String::new());
    push_line!(out, "thresholds: {} passed, {failed} failed", report.thresholds.len() - failed);
    for t in &report.thresholds {
        let value = t.value.map_or("no data".to_string(), fmt);
        let verdict = if t.passed { "PASS" } else { "FAIL" };
        let against = match (t.baseline, t.bound) {
            (Some(b), Some(bound)) => format!(" (baseline {}, bound {})", fmt(b), fmt(bound)),
            _ => String::new(),
        };
        push_line!(out, "  {verdict}  {:<36} stage '{}': {value}{against}", t.threshold, t.stage);
    }
    if let Some(t) = &report.aborted_by {
        push_line!(out, "  sending stopped early: '{t}' had failed (--abort-on-fail)");
    }
}

/// One row per stage: a sweep's or a search's result at a glance.
fn render_table(out: &mut Lines, stages: &[StageReport]) {
    let goodput = stages.iter().any(|s| s.goodput_rps.is_some());
    out.push(String::new());
    push_line!(
        out,
        "{:<22}{:>22}{:>10}{:>10}{:>8}{:>10}{:>10}{:>10}{:>10}{:>10}{}",
        "stage",
        "load",
        "target/s",
        "sent/s",
        "ok",
        "ok/s",
        "TTFT p50",
        "TTFT p99",
        "ITL p99",
        "lat p99",
        if goodput { format!("{:>10}{:>8}", "goodput", "SLO %") } else { String::new() }
    );
    let p = |s: &Option<Summary>, f: fn(&Summary) -> f64| s.as_ref().map_or("-".to_string(), |s| fmt(f(s)));
    for st in stages {
        let load = st.load.to_string();
        push_line!(
            out,
            "{:<22}{:>22}{:>10}{:>10}{:>8}{:>10.2}{:>10}{:>10}{:>10}{:>10}{}{}",
            clip(&st.name, 21),
            clip(&load, 21),
            st.target_rps.map_or("-".to_string(), |t| format!("{t:.2}")),
            format!("{:.2}", st.offered_rps),
            st.requests.ok,
            st.achieved_rps,
            p(&st.ttft_ms, |s| s.p50),
            p(&st.ttft_ms, |s| s.p99),
            p(&st.itl_ms, |s| s.p99),
            p(&st.latency_ms, |s| s.p99),
            if goodput {
                format!(
                    "{:>10}{:>8}",
                    st.goodput_rps.map_or("-".to_string(), |g| format!("{g:.2}")),
                    st.slo_attainment.map_or("-".to_string(), |a| format!("{:.1}", a * 100.0))
                )
            } else {
                String::new()
            },
            if st.warnings.is_empty() { "" } else { "  !" }
        );
    }
}

fn render_stage(out: &mut Lines, st: &StageReport) {
    let r = &st.requests;
    out.push(String::new());
    push_line!(
        out,
        "stage '{}' ({}): {} sent, {} ok, {} failed in {:.2} s — {:.2} req/s ok, {:.1} output tok/s",
        st.name,
        st.load,
        r.sent,
        r.ok,
        r.failed,
        st.elapsed_s,
        st.achieved_rps,
        st.output_tokens_per_s
    );
    for (class, e) in &r.errors {
        push_line!(out, "  {class}: {} (e.g. {})", e.count, e.example);
    }
    if let Some(t) = st.target_rps {
        push_line!(out, "  target {t:.2} req/s, sent {:.2} req/s", st.offered_rps);
    }
    if st.excluded > 0 {
        push_line!(out, "  {} warm-up/cool-down requests excluded from these statistics (kept in requests.jsonl)", st.excluded);
    }
    if let (Some(g), Some(a)) = (st.goodput_rps, st.slo_attainment) {
        push_line!(out, "  goodput {g:.2} req/s meeting the SLO ({:.1} % of requests)", a * 100.0);
    }
    for w in &st.warnings {
        push_line!(out, "  WARNING: {w}");
    }
    if st.reasoning.requests_reasoning > 0 {
        let q = &st.reasoning;
        push_line!(
            out,
            "  reasoning in {} of {} requests: {} reasoning, {} answer tokens",
            q.requests_reasoning,
            q.counted,
            q.reasoning_tokens,
            q.answer_tokens
        );
    }
    let t = &st.timing;
    if t.first_byte_ms.is_some() {
        let p = |s: &Option<Summary>| s.as_ref().map_or("-".to_string(), |s| fmt(s.p50));
        push_line!(
            out,
            "  before the first token (p50 ms): request written {}, first byte {}, headers {}; {} new connections (connect {}, TLS {})",
            p(&t.request_written_ms),
            p(&t.first_byte_ms),
            p(&t.response_headers_ms),
            t.new_connections,
            p(&t.connect_ms),
            p(&t.tls_ms)
        );
    }
    for g in &st.gpu {
        let pct = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.0} %"));
        push_line!(
            out,
            "  GPU {}: utilisation {} mean, {} max; {:.0} MiB max; {} W mean; {} J{}",
            g.index,
            pct(g.utilization_mean_pct),
            pct(g.utilization_max_pct),
            g.memory_max_mib,
            g.power_mean_w.map_or("-".to_string(), |w| format!("{w:.0}")),
            g.energy_j.map_or("-".to_string(), |j| format!("{j:.1}")),
            st.output_tokens_per_joule
                .filter(|_| g.index == st.gpu[0].index)
                .map_or(String::new(), |t| format!("; {t:.3} output tokens/J (all GPUs)"))
        );
    }
    if st.tool_calls.requests > 0 {
        push_line!(out, "  {} tool calls in {} requests", st.tool_calls.calls, st.tool_calls.requests);
    }
    if let Some(h) = st.prefix_cache.hit_ratio {
        let share = st.prefix_cache.reported_share.unwrap_or(0.0) * 100.0;
        push_line!(out, "  prefix cache hit ratio {:.1} % (reported by {share:.0} % of requests)", h * 100.0);
    }
    // TTFO is TTFT unless the model reasons: shown only then.
    let ttfo = (st.reasoning.requests_reasoning > 0).then_some(("TTFO", &st.ttfo_ms));
    let rows = [
        ("TTFT", &st.ttft_ms),
        ("TTST", &st.ttst_ms),
        ("ITL/chunk", &st.itl_ms),
        ("ITL/token", &st.itl_per_token_ms),
        ("TPOT", &st.tpot_ms),
        ("latency", &st.latency_ms),
        ("lat/planned", &st.latency_from_planned_ms),
        ("sched lag", &st.schedule_lag_ms),
    ];
    push_line!(out, "  {:<12}{:>10}{:>10}{:>10}{:>10}{:>10}{:>10}", "ms", "p50", "p90", "p99", "p99.9", "mean", "count");
    for (name, summary) in rows.into_iter().take(1).chain(ttfo).chain(rows.into_iter().skip(1)) {
        match summary {
            Some(s) => {
                push_line!(
                    out,
                    "  {:<12}{:>10}{:>10}{:>10}{:>10}{:>10}{:>10}",
                    name,
                    fmt(s.p50),
                    fmt(s.p90),
                    fmt(s.p99),
                    fmt(s.p99_9),
                    fmt(s.mean),
                    s.count
                );
            }
            None => {
                push_line!(out, "  {:<12}{:>10}", name, "-");
            }
        }
    }
    let t = &st.output_tokens;
    let sources: Vec<String> = t.source.iter().map(|(k, v)| format!("{k}: {v}")).collect();
    let received = match (t.requested_mean, t.received_mean) {
        (Some(want), Some(got)) => format!("; requested {want:.1} mean, received {got:.1}, {} short", t.short),
        _ => String::new(),
    };
    push_line!(
        out,
        "  output tokens: {} total, {:.1} mean, {} max (counted from {}){received}",
        t.total,
        t.mean,
        t.max,
        if sources.is_empty() { "-".to_string() } else { sources.join(", ") }
    );
    let p = &st.prompt_tokens;
    if let (Some(want), Some(got)) = (p.requested_mean, p.received_mean) {
        push_line!(out, "  prompt tokens: requested {want:.1} mean, server counted {got:.1}, {} of {} differ", p.mismatched, p.compared);
    }
    render_groups(out, "tag", &st.tags);
    render_groups(out, "model", &st.models);
    for t in &st.triton {
        let sizes: Vec<String> = t.batch_sizes.iter().map(|(b, n)| format!("{b}:{n}")).collect();
        push_line!(
            out,
            "  triton {}:{}: {} inferences in {} executions; batches by size {{{}}}",
            t.model,
            t.version,
            t.inference_count,
            t.execution_count,
            sizes.join(", ")
        );
    }
    // Only the series that moved; all of them are in report.json.
    let moved: Vec<_> = st.server_metrics.iter().filter(|(_, w)| w.changed()).collect();
    if !moved.is_empty() {
        push_line!(out, "  {:<60}{:>12}{:>12}{:>12}", "server metric (changed)", "delta", "min", "max");
        let num = |v: Option<f64>| v.map(|v| format!("{v:.1}")).unwrap_or_else(|| "-".into());
        for (key, w) in moved.iter().take(16) {
            push_line!(out, "  {:<60}{:>12.1}{:>12}{:>12}", clip(key, 60), w.delta, num(w.min), num(w.max));
        }
        if moved.len() > 16 {
            push_line!(out, "  ... {} more in report.json", moved.len() - 16);
        }
    }
    render_checks(out, st);
    if let Some(t) = &st.tasks {
        render_tasks(out, t);
    }
    for e in &st.probe_errors {
        push_line!(out, "  probe error: {e}");
    }
}

/// A stage's tasks: how they ended, how long they took, what each needed, and TTFT by
/// turn.
fn render_tasks(out: &mut Lines, t: &crate::schema::TaskReport) {
    push_line!(
        out,
        "  tasks: {} started, {} completed, {} failed, {} unfinished ({:.2} completed/s)",
        t.started,
        t.completed,
        t.failed,
        t.unfinished,
        t.tasks_per_s
    );
    let ms = |s: &Option<Summary>| s.map_or_else(|| "-".to_string(), |s| format!("p50 {} p99 {} ms", fmt(s.p50), fmt(s.p99)));
    let per = |s: &Option<Summary>| s.map_or_else(|| "-".to_string(), |s| format!("mean {:.1}, p50 {}, max {}", s.mean, s.p50, s.max));
    push_line!(out, "  task latency {}", ms(&t.latency_ms));
    push_line!(out, "  per task: turns {}; tool calls {}", per(&t.turns), per(&t.tool_calls));
    push_line!(out, "  per task: input tokens {}; output tokens {}", per(&t.input_tokens), per(&t.output_tokens));
    push_line!(
        out,
        "  waited on tools {:.3} s, on thinking {:.3} s; follow-up lag {}",
        t.tool_wait_s,
        t.think_wait_s,
        ms(&t.follow_up_lag_ms)
    );
    if let Some(h) = &t.prefix_cache_hit_ratio {
        push_line!(out, "  prefix-cache hit ratio per task: mean {:.1}%, p50 {:.1}%", h.mean * 100.0, h.p50 * 100.0);
    }
    if !t.ttft_by_turn.is_empty() {
        let row: Vec<String> = t.ttft_by_turn.iter().take(12).map(|b| format!("{}: {}", b.from, fmt(b.ttft_ms.p50))).collect();
        push_line!(out, "  TTFT p50 by turn (ms): {}", row.join(", "));
    }
}

/// The scenario's checks: pass rate and counts, as k6 prints them.
fn render_checks(out: &mut Lines, st: &StageReport) {
    if st.checks.is_empty() {
        return;
    }
    push_line!(out, "  {:<40}{:>10}{:>10}{:>10}", "check", "rate", "passes", "fails");
    for (name, c) in st.checks.iter().take(20) {
        let mark = if c.fails == 0 { "✓" } else { "✗" };
        let rate = format!("{:.1}%", c.rate * 100.0);
        push_line!(out, "  {mark} {:<38}{rate:>10}{:>10}{:>10}", clip(name, 38), c.passes, c.fails);
    }
    if st.checks.len() > 20 {
        push_line!(out, "  ... {} more in report.json", st.checks.len() - 20);
    }
}

fn render_groups(out: &mut Lines, what: &str, groups: &std::collections::BTreeMap<String, GroupReport>) {
    if groups.is_empty() {
        return;
    }
    push_line!(out, "  {:<24}{:>8}{:>8}{:>12}{:>12}", what, "ok", "failed", "TTFT p50", "lat p50");
    for (name, g) in groups.iter().take(20) {
        let p50 = |s: &Option<Summary>| s.map(|s| fmt(s.p50)).unwrap_or_else(|| "-".into());
        push_line!(out, "  {:<24}{:>8}{:>8}{:>12}{:>12}", clip(name, 24), g.ok, g.failed, p50(&g.ttft_ms), p50(&g.latency_ms));
    }
    if groups.len() > 20 {
        push_line!(out, "  ... {} more in report.json", groups.len() - 20);
    }
}

fn clip(s: &str, n: usize) -> String {
    if s.chars().count() <= n { s.to_string() } else { s.chars().take(n - 1).chain(['…']).collect() }
}

fn fmt(ms: f64) -> String {
    if ms >= 100.0 { format!("{ms:.1}") } else { format!("{ms:.3}") }
}
