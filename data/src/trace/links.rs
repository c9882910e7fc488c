//! The structure of a recorded session, from its requests' times alone: a request
//! waited for the requests of its session that had answered when it was sent — all of
//! them that no other of them had waited for (the frontier), so a turn after parallel
//! sub-agents waits for every one — and then for the gap between the last of those
//! answers and its own send (tool and think time). Requests nothing answered before are
//! sent at their own time.

use std::collections::HashMap;
use std::sync::Arc;

use anyhow::{Result, bail};

use super::TraceRow;

/// The most requests one session may hold: the frontier costs its square.
const MAX_SESSION: usize = 10_000;

/// A recorded request: its row (lengths, model, session) and when it ran, in ns.
pub(super) struct Timed {
    pub row: TraceRow,
    pub start_ns: u64,
    pub end_ns: u64,
}

/// Rows in send order, each linked to the earlier rows of its session it waited for.
pub(super) fn link(mut timed: Vec<Timed>) -> Result<Vec<TraceRow>> {
    timed.sort_by_key(|t| (t.start_ns, t.end_ns));
    let first = timed.first().map_or(0, |t| t.start_ns);
    let mut sessions: HashMap<Arc<str>, Vec<usize>> = HashMap::new();
    for (i, t) in timed.iter().enumerate() {
        if let Some(s) = &t.row.session {
            sessions.entry(s.clone()).or_default().push(i);
        }
    }
    let mut links: Vec<(Vec<u64>, u64)> = vec![(Vec::new(), 0); timed.len()];
    for (name, members) in &sessions {
        if members.len() > MAX_SESSION {
            bail!("session {name} holds {} requests, past the {MAX_SESSION} a replayed session may", members.len());
        }
        for (k, &i) in members.iter().enumerate() {
            let start = timed[i].start_ns;
            let answered: Vec<usize> = members[..k].iter().copied().filter(|&j| timed[j].end_ns <= start).collect();
            let Some(last_sent) = answered.iter().map(|&j| timed[j].start_ns).max() else { continue };
            let last_end = answered.iter().map(|&j| timed[j].end_ns).max().unwrap_or(start);
            let frontier =
                answered.iter().filter(|&&j| timed[j].end_ns > last_sent || timed[j].start_ns == last_sent).map(|&j| j as u64).collect();
            links[i] = (frontier, (start - last_end) / 1_000);
        }
    }
    Ok(timed
        .into_iter()
        .zip(links)
        .map(|(t, (after, delay_us))| TraceRow { at_us: (t.start_ns - first) / 1_000, after, delay_us, ..t.row })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(session: &str, start_ms: u64, end_ms: u64) -> Timed {
        let row = TraceRow { session: Some(Arc::from(session)), ..TraceRow::default() };
        Timed { row, start_ns: start_ms * 1_000_000, end_ns: end_ms * 1_000_000 }
    }

    #[test]
    fn turns_wait_for_what_answered_and_fan_outs_join() {
        // Session a: plan (0-10), three sub-agents after 5 ms of tool time (15-30,
        // 15-40, 16-35), a final turn 2 ms after the last (42-50). Session b: one
        // request at 3 ms, and one sent while it ran (parallel: no wait).
        let rows = link(vec![
            req("a", 0, 10),
            req("a", 15, 30),
            req("a", 15, 40),
            req("a", 16, 35),
            req("a", 42, 50),
            req("b", 3, 20),
            req("b", 5, 9),
        ])
        .unwrap();
        let shape: Vec<(u64, Vec<u64>, u64)> = rows.iter().map(|r| (r.at_us / 1000, r.after.clone(), r.delay_us / 1000)).collect();
        assert_eq!(
            shape,
            vec![
                (0, vec![], 0),
                (3, vec![], 0),
                (5, vec![], 0),
                (15, vec![0], 5),
                (15, vec![0], 5),
                (16, vec![0], 6),
                (42, vec![3, 4, 5], 2),
            ]
        );
    }
}
