//! The structure of a trace's sessions, read once before the replay: which rows open
//! the replay at their own time (roots), which wait for earlier rows (and for how many
//! still), and how many rows each session has left, so its task ends with its last.

use std::collections::HashMap;

/// A row that waits for earlier rows of its session.
pub struct Waiting {
    /// Predecessors that have not answered yet.
    pub left: u32,
}

#[derive(Default)]
pub struct Sessions {
    /// Session names to the ids requests carry.
    pub ids: HashMap<String, u64>,
    /// For each row that others wait for: those rows.
    pub followers: HashMap<u64, Vec<u64>>,
    pub waiting: HashMap<u64, Waiting>,
    /// Rows not yet answered, per session; and whether one failed.
    pub open: HashMap<u64, (u64, bool)>,
}

impl Sessions {
    /// Notes row `index` of session `name` waiting for `after`; the session's id.
    pub fn add(&mut self, index: u64, name: &str, after: &[u64]) -> u64 {
        let next = self.ids.len() as u64;
        let id = *self.ids.entry(name.to_string()).or_insert(next);
        self.open.entry(id).or_default().0 += 1;
        if !after.is_empty() {
            for a in after {
                self.followers.entry(*a).or_default().push(index);
            }
            self.waiting.insert(index, Waiting { left: after.len() as u32 });
        }
        id
    }

    /// Whether row `index` is sent as a follow-up rather than at its own time.
    pub fn follows(&self, index: u64) -> bool {
        self.waiting.contains_key(&index)
    }

    /// Row `index` of session `id` answered: the rows now free to go (their last
    /// predecessor answered), and whether the session has no row left.
    pub fn answered(&mut self, index: u64, id: u64, ok: bool) -> (Vec<u64>, Option<bool>) {
        let mut ready = Vec::new();
        for f in self.followers.remove(&index).unwrap_or_default() {
            if let Some(w) = self.waiting.get_mut(&f) {
                w.left = w.left.saturating_sub(1);
                if w.left == 0 {
                    self.waiting.remove(&f);
                    ready.push(f);
                }
            }
        }
        let ended = match self.open.get_mut(&id) {
            Some((left, failed)) => {
                *left = left.saturating_sub(1);
                *failed |= !ok;
                let (left, failed) = (*left, *failed);
                if left == 0 {
                    self.open.remove(&id);
                    Some(!failed)
                } else {
                    None
                }
            }
            None => None,
        };
        (ready, ended)
    }
}
