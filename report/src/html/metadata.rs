//! The report's `metadata` as a section of `report.html`: what the server said of
//! itself, the launch command, the load generator's machine (and every shard's, merged).
//! Every value is the server's or the machine's text, escaped.

use std::fmt::Write as _;

use super::svg::esc;
use crate::metadata::{HostMetadata, Metadata};

/// Appends the section to `h` (nothing when the report has no metadata).
pub(super) fn section(h: &mut String, m: &Metadata) {
    if m.server.is_none() && m.host.is_none() && m.launch.is_none() {
        return;
    }
    h.push_str("<h2>Metadata</h2><table class=\"metadata\">");
    let mut row = |k: &str, v: &str| {
        let _ = write!(h, "<tr><th>{}</th><td class=\"param\">{}</td></tr>", esc(k), esc(v));
    };
    if let Some(s) = &m.server {
        if let Some(summary) = s.summary() {
            row("server", &summary);
        }
        if let Some(p) = &s.llamacpp {
            row("llama.cpp model path", p.model_path.as_deref().unwrap_or("-"));
        }
        let ids: Vec<&str> = s.models.iter().map(|m| m.id.as_str()).collect();
        if !ids.is_empty() {
            row("models", &ids.join(", "));
        }
        let answered = |ok: bool| s.endpoints.iter().filter(|e| e.ok == ok).map(|e| e.path.as_str()).collect::<Vec<_>>().join(", ");
        row("endpoints answered", &answered(true));
        let not = answered(false);
        if !not.is_empty() {
            row("endpoints not available", &not);
        }
    }
    if let Some(l) = &m.launch {
        row("launched", &l.command);
    }
    let host = |row: &mut dyn FnMut(&str, &str), name: &str, h: &HostMetadata| {
        let os = [h.os.as_deref(), h.kernel.as_deref()].into_iter().flatten().collect::<Vec<_>>().join(" · ");
        row(name, &format!("{} · {os} · volley {}", h.summary(), h.volley_version));
    };
    if m.shard_hosts.is_empty() {
        if let Some(hm) = &m.host {
            host(&mut row, "host", hm);
        }
    } else {
        for (i, hm) in m.shard_hosts.iter().enumerate() {
            host(&mut row, &format!("shard {i} host"), hm);
        }
    }
    h.push_str("</table>");
}
