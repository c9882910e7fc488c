//! Host memory of a server's whole process tree, from /proc: the sum of the resident
//! set sizes of the process and all its descendants, sampled while it loads and runs.

use std::collections::HashMap;
use std::fs;

/// Resident bytes of `root` and its descendants; 0 when it is gone.
pub fn tree_rss_bytes(root: u32) -> u64 {
    let page = page_size();
    let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
    if let Ok(entries) = fs::read_dir("/proc") {
        for e in entries.flatten() {
            let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else { continue };
            if let Some(ppid) = parent_of(pid) {
                children.entry(ppid).or_default().push(pid);
            }
        }
    }
    let mut total = 0;
    let mut stack = vec![root];
    while let Some(pid) = stack.pop() {
        total += rss_pages(pid) * page;
        if let Some(kids) = children.get(&pid) {
            stack.extend(kids);
        }
    }
    total
}

fn parent_of(pid: u32) -> Option<u32> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces and parentheses: fields start after the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    rest.split_whitespace().nth(1)?.parse().ok()
}

fn rss_pages(pid: u32) -> u64 {
    fs::read_to_string(format!("/proc/{pid}/statm")).ok().and_then(|s| s.split_whitespace().nth(1)?.parse().ok()).unwrap_or(0)
}

fn page_size() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let n = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if n > 0 { n as u64 } else { 4096 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_tree_has_memory() {
        let me = std::process::id();
        let rss = tree_rss_bytes(me);
        assert!(rss > 1 << 20, "{rss}");
        assert_eq!(tree_rss_bytes(u32::MAX - 1), 0);
    }
}
