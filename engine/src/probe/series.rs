//! Prometheus exposition lines ([`parse_line`]), and what the scraper keeps of an
//! endpoint's answers, bounded whatever the server sends: at most [`MAX_SERIES`]
//! distinct series over the run, keys of at most [`MAX_KEY_BYTES`], at most
//! [`MAX_SERIES`] samples a scrape, and at most [`MAX_POINTS`] points in all. Samples past the first three bounds are counted in
//! `dropped_samples`, never silently lost. Past the last, the periodic samples are
//! thinned — every other one dropped, and the scraper's interval doubled — so a long
//! run keeps its whole span at a coarser step; the samples taken at stage boundaries
//! (which the stages' windows start and end on) are always kept.

use volley_report::server::Scrapes;

/// Distinct series kept over the run (vLLM exposes a few hundred with the default
/// prefixes; Triton about ten per model).
pub const MAX_SERIES: usize = 10_000;
/// Longest series key (name and labels) kept, bytes.
pub const MAX_KEY_BYTES: usize = 1024;
/// Points kept over the run (16 bytes each): 300 series scraped every second for
/// about 1.8 hours before the first thinning.
pub const MAX_POINTS: usize = 2_000_000;

/// One sample line: `name{labels} value [timestamp]`, as (series key, value).
pub fn parse_line(line: &str) -> Option<(&str, f64)> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    // The key runs to the end of the labels (if any), else to the first space.
    let key_end = match (line.find('{'), line.find(' ')) {
        (Some(brace), Some(space)) if brace < space => line[brace..].find('}').map(|i| brace + i + 1)?,
        (_, Some(space)) => space,
        _ => return None,
    };
    let (key, rest) = line.split_at(key_end);
    let value = rest.split_whitespace().next()?;
    let value = match value {
        "NaN" => f64::NAN,
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        v => v.parse().ok()?,
    };
    Some((key, value))
}

/// The scrapes so far, and what bounds them.
pub(crate) struct SeriesStore {
    pub(crate) scrapes: Scrapes,
    /// Parallel to `scrapes.scrape_times`: taken at a stage boundary (never thinned).
    pinned: Vec<bool>,
    /// Points kept, over every series.
    points: usize,
    prefixes: Vec<String>,
}

impl SeriesStore {
    pub(crate) fn new(scrapes: Scrapes, prefixes: Vec<String>) -> SeriesStore {
        SeriesStore { scrapes, pinned: Vec::new(), points: 0, prefixes }
    }

    /// Takes the samples of one answer, sent at `at` and answered at `answered` (ms since
    /// the run's start); `pinned`: a stage-boundary sample. True when the points were
    /// thinned to make room (the scraper then doubles its interval).
    pub(crate) fn ingest(&mut self, body: &[u8], at: f64, answered: f64, pinned: bool) -> bool {
        let s = &mut self.scrapes;
        s.scrapes = s.scrapes.saturating_add(1);
        s.scrape_times.push((at, answered));
        self.pinned.push(pinned);
        let mut taken = 0usize;
        for line in body.split(|&b| b == b'\n') {
            let Ok(line) = std::str::from_utf8(line) else { continue };
            let Some((key, value)) = parse_line(line) else { continue };
            if !self.prefixes.iter().any(|p| key.starts_with(p.as_str())) {
                continue;
            }
            let full = taken >= MAX_SERIES || self.points >= MAX_POINTS;
            let room = s.series.len() < MAX_SERIES;
            let kept = match s.series.get_mut(key) {
                Some(points) if !full => {
                    points.push((at, value));
                    true
                }
                None if !full && room && key.len() <= MAX_KEY_BYTES => {
                    s.series.insert(key.to_string(), vec![(at, value)]);
                    true
                }
                _ => false,
            };
            match kept {
                true => {
                    taken += 1;
                    self.points += 1;
                }
                false => s.dropped_samples = s.dropped_samples.saturating_add(1),
            }
        }
        if self.points < MAX_POINTS {
            return false;
        }
        self.thin();
        true
    }

    /// Drops every other periodic scrape's samples (the older of each pair goes first),
    /// keeping the stage-boundary ones.
    fn thin(&mut self) {
        let mut gone: Vec<f64> = Vec::new();
        let mut drop_next = false;
        for (&(sent, _), &pinned) in self.scrapes.scrape_times.iter().zip(&self.pinned) {
            if !pinned {
                if drop_next {
                    gone.push(sent);
                }
                drop_next = !drop_next;
            }
        }
        let is_gone = |t: f64| gone.binary_search_by(|g| g.total_cmp(&t)).is_ok();
        let mut kept = self.pinned.iter();
        let mut pinned = Vec::with_capacity(self.pinned.len());
        self.scrapes.scrape_times.retain(|&(sent, _)| {
            let p = kept.next().copied().unwrap_or(true);
            let keep = !is_gone(sent);
            if keep {
                pinned.push(p);
            }
            keep
        });
        self.pinned = pinned;
        self.points = 0;
        for points in self.scrapes.series.values_mut() {
            points.retain(|&(t, _)| !is_gone(t));
            points.shrink_to_fit();
            self.points += points.len();
        }
        self.scrapes.series.retain(|_, points| !points.is_empty());
        self.scrapes.thinned = self.scrapes.thinned.saturating_add(1);
    }

    /// The run's warnings about what was not kept.
    pub(crate) fn warnings(s: &Scrapes) -> Vec<String> {
        let mut out = Vec::new();
        let url = volley_core::text::printable(&s.url, 200);
        if s.dropped_samples > 0 {
            out.push(format!(
                "--server-metrics {url}: {} samples were not kept: the server offered more series than Volley keeps \
                 ({MAX_SERIES} a run, {MAX_SERIES} a scrape, keys up to {MAX_KEY_BYTES} bytes)",
                s.dropped_samples
            ));
        }
        if s.thinned > 0 {
            out.push(format!(
                "--server-metrics {url}: samples were thinned {} times to stay within {MAX_POINTS} points; periodic samples are \
                 {} ms apart (stage boundaries are kept)",
                s.thinned,
                s.interval_ms.saturating_mul(1u64.checked_shl(s.thinned).unwrap_or(u64::MAX))
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> SeriesStore {
        SeriesStore::new(Scrapes { url: "http://m/metrics".into(), interval_ms: 100, ..Scrapes::default() }, vec!["vllm:".into()])
    }

    #[test]
    fn parses_exposition_lines() {
        assert_eq!(parse_line("llamacpp:requests_processing 3"), Some(("llamacpp:requests_processing", 3.0)));
        assert_eq!(
            parse_line(r#"nv_inference_count{model="sum_fp32",version="1"} 4103 1700000000000"#),
            Some((r#"nv_inference_count{model="sum_fp32",version="1"}"#, 4103.0))
        );
        assert_eq!(parse_line(r#"vllm:x{a="b c"} 1.5e3"#), Some((r#"vllm:x{a="b c"}"#, 1500.0)));
        assert_eq!(parse_line("# HELP x y"), None);
        assert!(parse_line("m NaN").unwrap().1.is_nan());
    }

    #[test]
    fn renamed_series_are_bounded_and_counted() {
        let mut s = store();
        for scrape in 0..3u64 {
            let body: String = (0..(MAX_SERIES as u64 + 500)).map(|i| format!("vllm:s{}_{i} 1\n", scrape)).collect();
            s.ingest(body.as_bytes(), scrape as f64 * 100.0, scrape as f64 * 100.0 + 1.0, false);
        }
        assert_eq!(s.scrapes.series.len(), MAX_SERIES);
        assert_eq!(s.scrapes.dropped_samples, 500 + 2 * (MAX_SERIES as u64 + 500));
        let long = format!("vllm:{} 1\nother_metric 2\nvllm:ok{{a=\"b\"}} 3\n", "k".repeat(MAX_KEY_BYTES));
        let mut fresh = store();
        fresh.ingest(long.as_bytes(), 0.0, 1.0, false);
        assert_eq!(fresh.scrapes.series.keys().collect::<Vec<_>>(), vec!["vllm:ok{a=\"b\"}"]);
        assert_eq!(fresh.scrapes.dropped_samples, 1, "the long key; the unselected prefix is not a drop");
        let w = SeriesStore::warnings(&s.scrapes);
        assert!(w.len() == 1 && w[0].contains("samples were not kept") && w[0].contains("10000 a run"), "{w:?}");
    }

    #[test]
    fn points_past_the_bound_are_thinned_keeping_stage_boundaries() {
        let mut s = store();
        let series = 1000;
        let body: String = (0..series).map(|i| format!("vllm:g{i} {i}\n")).collect();
        let per_bound = MAX_POINTS / series;
        let mut thinned_at = None;
        for scrape in 0..per_bound + 10 {
            // Every tenth scrape stands for a stage boundary.
            if s.ingest(body.as_bytes(), scrape as f64 * 100.0, scrape as f64 * 100.0 + 1.0, scrape % 10 == 0) {
                thinned_at.get_or_insert(scrape);
            }
        }
        assert_eq!(thinned_at, Some(per_bound - 1));
        assert_eq!(s.scrapes.thinned, 1);
        let times: Vec<f64> = s.scrapes.scrape_times.iter().map(|t| t.0).collect();
        for boundary in (0..per_bound + 10).step_by(10) {
            assert!(times.contains(&(boundary as f64 * 100.0)), "stage boundary {boundary} kept");
        }
        let kept = s.scrapes.series["vllm:g7"].len();
        assert!(kept < per_bound * 6 / 10 && kept > per_bound * 4 / 10, "about half kept: {kept} of {per_bound}");
        assert_eq!(s.scrapes.series.values().map(Vec::len).sum::<usize>(), s.points);
        assert!(s.points < MAX_POINTS);
        assert!(s.scrapes.series["vllm:g7"].iter().all(|(t, _)| times.contains(t)), "every point belongs to a kept scrape");
        let w = SeriesStore::warnings(&s.scrapes);
        assert!(w.iter().any(|w| w.contains("thinned 1 times") && w.contains("200 ms apart")), "{w:?}");
    }
}
