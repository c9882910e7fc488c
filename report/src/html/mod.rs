//! `report.html`: one self-contained page (inline SVG, CSS and a few lines of script, no
//! CDN) with what `report.json` holds: the run's parameters, model and target; the
//! stages; breakdowns per tag, per model, per check and per task; and the charts people
//! look at: latency percentiles per stage, TTFT, TPOT and latency over time, requests
//! and output tokens per second, schedule lag, distributions over the data's own range,
//! throughput and latency against offered load across stages (sweeps), and the server's
//! metrics series. Every point, vertex and bar shows its value on hover.
//!
//! The run's own sections are here and in [`run`] and [`groups`]; the charts in [`svg`]
//! (ticks in [`axis`]); the comparison of several runs (`volley compare --html`) in
//! [`compare`]; a stored metric over runs (`volley runs trend --html`) in [`trend`];
//! `volley coldstart`'s page in [`coldstart`].

pub(crate) mod axis;
pub mod coldstart;
pub mod compare;
mod groups;
mod metadata;
mod run;
pub mod svg;
pub mod trend;

use std::fmt::Write as _;

use svg::{Kind, Series, esc};
use volley_core::Summary;

use crate::points::{ChartPoints, StagePoints, Thinned};
use crate::schema::{Report, StageReport};

/// Most points drawn per scatter chart, shared among its series (each keeps at least
/// [`MIN_POINTS`]); more are thinned evenly. Each point carries its hover title, so this
/// bounds the page's size.
const MAX_POINTS: usize = 3000;
const MIN_POINTS: usize = 200;

fn thin(points: &[(f64, f64)], series: usize) -> Vec<(f64, f64)> {
    let most = (MAX_POINTS / series.max(1)).max(MIN_POINTS);
    let step = points.len().div_ceil(most).max(1);
    points.iter().step_by(step).copied().collect()
}

fn percentiles(s: &Option<Summary>) -> Vec<(String, f64)> {
    s.map(|s| vec![("p50".to_string(), s.p50), ("p90".into(), s.p90), ("p99".into(), s.p99)]).unwrap_or_default()
}

/// The report pages' stylesheet (also used by `coldstart.html`).
pub const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:24px;color:#1a202c;max-width:1360px}\
.warn{color:#c53030;font-weight:600;text-align:left}h1{font-size:22px}h2{font-size:17px;margin-top:28px}table{border-collapse:collapse;font-size:13px}\
td,th{border:1px solid #cbd5e0;padding:3px 8px;text-align:right}th{background:#edf2f7}td:first-child,th:first-child{text-align:left}\
.charts{display:flex;flex-wrap:wrap;gap:12px}.chart{margin:0;width:640px;border:1px solid #e2e8f0}\
.chart svg{width:100%;height:auto}.plot{fill:#fff;stroke:#a0aec0}.grid{stroke:#edf2f7}.tick,.legend{font-size:10px;fill:#4a5568}\
.axis{font-size:11px;fill:#2d3748}.title{font-size:13px;font-weight:600;fill:#1a202c}.meta{color:#4a5568;font-size:13px}\
circle.point:hover,rect.bar:hover{stroke:#1a202c;stroke-width:1.5}.better{color:#2f855a;font-weight:600}.worse{color:#c53030;font-weight:600}\
.noise{color:#718096}td.param{text-align:left;font-family:ui-monospace,monospace;max-width:900px;overflow-wrap:anywhere}\
#tip{position:absolute;display:none;background:#1a202c;color:#fff;font-size:12px;padding:3px 7px;border-radius:3px;pointer-events:none;white-space:nowrap;z-index:9}";

/// The page for `report`, with per-request charts from `points` when the run kept them
/// (a merged or re-read report has only its summaries).
pub fn render(report: &Report, points: &ChartPoints) -> String {
    let mut h = String::new();
    let s = &report.scenario;
    let _ = write!(
        h,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Volley: {name}</title><style>{STYLE}</style></head><body>\
         <h1>Volley report: {name} {version}</h1><p class=\"meta\">target {target} · seed {seed} · {dur:.1} s · scenario {digest} · WIT {wit}{int}</p>",
        name = esc(&s.info.name),
        version = esc(&s.info.version),
        target = esc(&report.target),
        seed = report.seed,
        dur = report.duration_s,
        digest = esc(s.digest.as_deref().unwrap_or("native")),
        wit = esc(s.wit.as_deref().unwrap_or("-")),
        int = if report.interrupted { " · <b>interrupted</b>" } else { "" }
    );
    run::run_table(&mut h, report);
    // Summary table.
    h.push_str(
        "<h2>Stages</h2><table><tr><th>stage</th><th>load</th><th>target/s</th><th>sent/s</th><th>ok</th><th>failed</th>\
                <th>req/s</th><th>tok/s</th><th>TTFT p50</th><th>TTFT p99</th><th>ITL p50</th><th>latency p50</th>\
                <th>latency p99</th><th>lag p99</th><th>goodput/s</th></tr>",
    );
    let cell = |s: &Option<Summary>, f: fn(&Summary) -> f64| s.as_ref().map(|s| format!("{:.1}", f(s))).unwrap_or_else(|| "-".into());
    for st in &report.stages {
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{:.2}</td><td>{}</td><td>{}</td><td>{:.2}</td><td>{:.1}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&st.name),
            esc(&st.load.to_string()),
            st.target_rps.map_or("-".to_string(), |t| format!("{t:.2}")),
            st.offered_rps,
            st.requests.ok,
            st.requests.failed,
            st.achieved_rps,
            st.output_tokens_per_s,
            cell(&st.ttft_ms, |s| s.p50),
            cell(&st.ttft_ms, |s| s.p99),
            cell(&st.itl_ms, |s| s.p50),
            cell(&st.latency_ms, |s| s.p50),
            cell(&st.latency_ms, |s| s.p99),
            cell(&st.schedule_lag_ms, |s| s.p99),
            st.goodput_rps.map_or("-".to_string(), |g| format!("{g:.2}"))
        );
    }
    // The generator's own health, loudly: a lagging generator hides server latency.
    for st in &report.stages {
        for w in &st.warnings {
            let _ = write!(h, "<tr><td colspan=\"15\" class=\"warn\">⚠ {}: {}</td></tr>", esc(&st.name), esc(w));
        }
        if st.excluded > 0 {
            let _ = write!(
                h,
                "<tr><td colspan=\"15\">{}: {} warm-up/cool-down requests excluded (kept in requests.jsonl)</td></tr>",
                esc(&st.name),
                st.excluded
            );
        }
    }
    h.push_str("</table>");
    for w in &report.warnings {
        let _ = write!(h, "<p class=\"warn\">⚠ {}</p>", esc(w));
    }
    run::thresholds_table(&mut h, report);
    if let Some(m) = &report.merged {
        shards_table(&mut h, m);
    }
    groups::tags_and_models(&mut h, &report.stages);
    groups::checks(&mut h, &report.stages);
    tasks_table(&mut h, &report.stages);
    h.push_str("<h2>Latency</h2><div class=\"charts\">");
    let groups = |f: fn(&StageReport) -> &Option<Summary>| -> Vec<(String, Vec<(String, f64)>)> {
        report.stages.iter().map(|st| (st.name.clone(), percentiles(f(st)))).filter(|(_, v)| !v.is_empty()).collect()
    };
    for (title, g) in [
        ("TTFT percentiles by stage (ms)", groups(|s| &s.ttft_ms)),
        ("ITL percentiles by stage (ms)", groups(|s| &s.itl_ms)),
        ("End-to-end latency percentiles by stage (ms)", groups(|s| &s.latency_ms)),
    ] {
        if !g.is_empty() {
            h.push_str(&svg::bars(title, "ms", &g));
        }
    }
    let series = |f: fn(&StagePoints) -> &Thinned| -> Vec<Series> {
        report
            .stages
            .iter()
            .enumerate()
            .filter_map(|(i, st)| {
                points.stages.get(&(i as u32)).map(|p| Series { name: st.name.clone(), points: thin(f(p).points(), report.stages.len()) })
            })
            .filter(|s| !s.points.is_empty())
            .collect()
    };
    let (ttft, latency, lag, tpot) = (series(|p| &p.ttft), series(|p| &p.latency), series(|p| &p.lag), series(|p| &p.tpot));
    if !ttft.is_empty() {
        h.push_str(&svg::xy("TTFT over time", "seconds since start", "ms", &ttft, Kind::Scatter));
    }
    if !tpot.is_empty() {
        h.push_str(&svg::xy("TPOT over time (per request)", "seconds since start", "ms per token", &tpot, Kind::Scatter));
    }
    if !latency.is_empty() {
        h.push_str(&svg::xy("Latency over time", "seconds since start", "ms", &latency, Kind::Scatter));
    }
    let per_second = |f: fn(&StagePoints) -> &std::collections::BTreeMap<i64, u64>| -> Vec<Series> {
        report
            .stages
            .iter()
            .enumerate()
            .filter_map(|(i, st)| {
                let per_second = f(points.stages.get(&(i as u32))?).iter().map(|(s, n)| (*s as f64, *n as f64)).collect();
                Some(Series { name: st.name.clone(), points: per_second })
            })
            .filter(|s| !s.points.is_empty())
            .collect()
    };
    let tput = per_second(|p| &p.completed);
    if !tput.is_empty() {
        h.push_str(&svg::xy("Completed requests per second", "seconds since start", "requests/s", &tput, Kind::Line));
    }
    let tokens = per_second(|p| &p.output_tokens);
    if tokens.iter().any(|s| s.points.iter().any(|(_, n)| *n > 0.0)) {
        h.push_str(&svg::xy("Output tokens per second (by completion)", "seconds since start", "tokens/s", &tokens, Kind::Line));
    }
    if !lag.is_empty() {
        h.push_str(&svg::xy("Schedule lag (actual − planned send)", "seconds since start", "ms", &lag, Kind::Scatter));
    }
    let all = |f: fn(&StagePoints) -> &Thinned| -> Vec<f64> {
        points.stages.values().flat_map(|p| f(p).points().iter().map(|(_, v)| *v)).collect()
    };
    let (ttft_values, latency_values) = (all(|p| &p.ttft), all(|p| &p.latency));
    if !ttft_values.is_empty() {
        h.push_str(&svg::histogram("TTFT distribution", "ms", &ttft_values, 30));
    }
    if !latency_values.is_empty() {
        h.push_str(&svg::histogram("Latency distribution", "ms", &latency_values, 30));
    }
    h.push_str("</div>");
    // Sweeps: throughput and latency against offered load.
    if report.stages.len() > 1 {
        h.push_str("<h2>Against offered load</h2><div class=\"charts\">");
        let by_load = |f: fn(&StageReport) -> Option<f64>| -> Vec<(f64, f64)> {
            let mut v: Vec<(f64, f64)> = report.stages.iter().filter_map(|s| Some((s.offered_rps, f(s)?))).collect();
            v.sort_by(|a, b| a.0.total_cmp(&b.0));
            v
        };
        h.push_str(&svg::xy(
            "Achieved vs offered requests/s",
            "offered requests/s",
            "achieved requests/s",
            &[Series { name: "achieved".into(), points: by_load(|s| Some(s.achieved_rps)) }],
            Kind::Line,
        ));
        h.push_str(&svg::xy(
            "Latency vs offered load",
            "offered requests/s",
            "ms",
            &[
                Series { name: "TTFT p50".into(), points: by_load(|s| s.ttft_ms.map(|x| x.p50)) },
                Series { name: "latency p50".into(), points: by_load(|s| s.latency_ms.map(|x| x.p50)) },
                Series { name: "latency p99".into(), points: by_load(|s| s.latency_ms.map(|x| x.p99)) },
            ],
            Kind::Line,
        ));
        h.push_str("</div>");
    }
    // This machine's GPUs during the run.
    if let Some(g) = report.gpu.as_ref().filter(|g| g.available && !g.samples.is_empty()) {
        let per_device = |f: fn(&crate::gpu::GpuPoint) -> Option<f64>| -> Vec<Series> {
            g.devices
                .iter()
                .map(|d| Series {
                    name: format!("GPU {}", d.index),
                    points: g.samples.iter().filter(|p| p.index == d.index).filter_map(|p| Some((p.t_ms / 1000.0, f(p)?))).collect(),
                })
                .collect()
        };
        h.push_str("<h2>GPU</h2><div class=\"charts\">");
        h.push_str(&svg::xy("GPU utilisation", "seconds since start", "%", &per_device(|p| p.utilization_pct), Kind::Line));
        h.push_str(&svg::xy("GPU power", "seconds since start", "W", &per_device(|p| p.power_w), Kind::Line));
        h.push_str(&svg::xy("GPU memory used", "seconds since start", "MiB", &per_device(|p| Some(p.memory_used_mib)), Kind::Line));
        h.push_str("</div>");
    }
    // The server's own series.
    if let Some(scrapes) = &report.server_metrics {
        let moved: Vec<Series> = scrapes
            .series
            .iter()
            .filter(|(_, pts)| pts.iter().any(|(_, v)| v.is_finite() && *v != pts[0].1))
            .take(8)
            .map(|(k, pts)| Series { name: k.clone(), points: pts.iter().map(|(t, v)| (t / 1000.0, *v)).collect() })
            .collect();
        if !moved.is_empty() {
            h.push_str("<h2>Server metrics</h2><div class=\"charts\">");
            for s in moved {
                let title = s.name.clone();
                h.push_str(&svg::xy(&title, "seconds since start", "value", &[s], Kind::Line));
            }
            h.push_str("</div>");
        }
    }
    metadata::section(&mut h, &report.metadata);
    h.push_str(CHECK_SCRIPT);
    h.push_str("</body></html>");
    h
}

/// Marks the page with what the browser rendered, for automated checks (the number of
/// charts and of charts without data), and shows an element's `<title>` in a tooltip
/// (`#tip`) as soon as the pointer is over it.
pub const CHECK_SCRIPT: &str = "<script>(function(){var c=document.querySelectorAll('figure.chart');\
var empty=0;c.forEach(function(f){if(!f.querySelector('circle,polyline,rect.bar')||f.dataset.points==='0'){empty++;f.dataset.empty='1';}});\
document.body.dataset.charts=String(c.length);document.body.dataset.emptyCharts=String(empty);\
var d=document.createElement('div');d.id='tip';document.body.appendChild(d);\
function tt(n){for(;n&&n.nodeType===1;n=n.parentNode){for(var k=n.firstElementChild;k;k=k.nextElementSibling){if(k.tagName==='title')return k.textContent;}if(n.tagName==='svg')break;}return null;}\
document.addEventListener('mouseover',function(e){var s=tt(e.target);if(s){d.textContent=s;d.style.display='block';d.style.left=(e.pageX+12)+'px';d.style.top=(e.pageY+12)+'px';}else{d.style.display='none';}});\
document.addEventListener('mousemove',function(e){if(d.style.display==='block'){d.style.left=(e.pageX+12)+'px';d.style.top=(e.pageY+12)+'px';}});})();</script>";

/// `volley merge`: what each shard contributed.
/// The stages whose sessions are tasks: counts, task latency, per-task needs, and TTFT by
/// turn (a bar chart per stage).
fn tasks_table(h: &mut String, stages: &[StageReport]) {
    let with: Vec<_> = stages.iter().filter_map(|st| st.tasks.as_ref().map(|t| (st, t))).collect();
    if with.is_empty() {
        return;
    }
    h.push_str(
        "<h2>Tasks</h2><table><tr><th>stage</th><th>started</th><th>completed</th><th>failed</th><th>unfinished</th><th>tasks/s</th>\
         <th>latency p50</th><th>latency p99</th><th>turns mean</th><th>tool calls mean</th><th>input tok mean</th>\
         <th>output tok mean</th><th>tool wait s</th><th>think wait s</th><th>follow-up lag p99</th></tr>",
    );
    let ms = |s: &Option<Summary>, f: fn(&Summary) -> f64| s.as_ref().map_or("-".to_string(), |s| format!("{:.1}", f(s)));
    for (st, t) in &with {
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.2}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>\
             <td>{}</td><td>{}</td><td>{:.3}</td><td>{:.3}</td><td>{}</td></tr>",
            esc(&st.name),
            t.started,
            t.completed,
            t.failed,
            t.unfinished,
            t.tasks_per_s,
            ms(&t.latency_ms, |s| s.p50),
            ms(&t.latency_ms, |s| s.p99),
            ms(&t.turns, |s| s.mean),
            ms(&t.tool_calls, |s| s.mean),
            ms(&t.input_tokens, |s| s.mean),
            ms(&t.output_tokens, |s| s.mean),
            t.tool_wait_s,
            t.think_wait_s,
            ms(&t.follow_up_lag_ms, |s| s.p99),
        );
    }
    h.push_str("</table><div class=\"charts\">");
    for (st, t) in &with {
        let by_turn: Vec<(String, Vec<(String, f64)>)> = t
            .ttft_by_turn
            .iter()
            .map(|b| (format!("turn {}", b.from), vec![("p50".into(), b.ttft_ms.p50), ("p99".into(), b.ttft_ms.p99)]))
            .collect();
        if !by_turn.is_empty() {
            h.push_str(&svg::bars(&format!("TTFT by turn, {} (ms)", st.name), "ms", &by_turn));
        }
    }
    h.push_str("</div>");
}

fn shards_table(h: &mut String, m: &crate::schema::MergeReport) {
    let _ = write!(
        h,
        "<h2>Shards ({} of {})</h2><table><tr><th>shard</th><th>sent</th><th>ok</th><th>failed</th><th>start skew ms</th>\
         <th>lag p99 ms</th><th>ok/s</th><th>directory</th></tr>",
        m.shards.len(),
        m.count
    );
    let num = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.3}"));
    for r in &m.shards {
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.2}</td><td>{}</td></tr>",
            r.index,
            r.sent,
            r.ok,
            r.failed,
            num(r.start_skew_ms),
            num(r.lag_p99_ms),
            r.achieved_rps,
            esc(&r.dir)
        );
    }
    for k in &m.missing {
        let _ = write!(h, "<tr><td>{k}</td><td colspan=\"7\" class=\"warn\">missing</td></tr>");
    }
    h.push_str("</table>");
}
