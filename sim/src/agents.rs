//! Agents: a chat request that offers `tools` may be answered with tool calls (how
//! often, how many at once and which tools are drawn from the simulator's seeded
//! randomness), and every tool-call id the simulator issued is remembered, so the ids a
//! client sends back in later turns can be checked against the ones it was given.

use std::collections::{HashSet, VecDeque};
use std::ops::RangeInclusive;
use std::sync::Mutex;
use std::sync::atomic::Ordering::Relaxed;

use serde_json::{Map, Value, json};
use volley_core::rng::Rng;

use super::SimStats;
use super::prefix_cache::hash_of;

/// Tool-call ids remembered: the most recent this many.
pub const ISSUED_IDS_KEPT: usize = 1_000_000;

/// Argument pieces a call's arguments stream in (fewer when the text is shorter).
const PIECES_PER_CALL: usize = 3;

/// String values of generated arguments.
const VALUES: &[&str] = &["alpha", "bravo", "paris", "tokyo", "volley", "delta", "lima", "oslo"];

/// One tool call of an answer.
#[derive(Debug, Clone)]
pub(crate) struct ToolCall {
    pub id: String,
    pub name: String,
    /// The arguments as JSON text.
    pub arguments: String,
    /// Byte ranges of `arguments`, one per streamed piece.
    pub pieces: Vec<(usize, usize)>,
}

/// What the request asked of tool calling.
pub(crate) struct ToolRequest<'a> {
    pub tools: Option<&'a [Value]>,
    pub tool_choice: Option<&'a Value>,
    pub parallel_tool_calls: Option<bool>,
    pub messages: Option<&'a [Value]>,
}

/// The tool calls to answer a chat request with, if any.
pub(crate) fn plan(
    req: &ToolRequest,
    rate: f64,
    parallel: &RangeInclusive<u32>,
    request_number: u64,
    rng: &mut Rng,
) -> Option<Vec<ToolCall>> {
    let tools: Vec<&Value> = req.tools?.iter().filter(|t| tool_name(t).is_some()).collect();
    if tools.is_empty() {
        return None;
    }
    let choice = req.tool_choice.unwrap_or(&Value::Null);
    let required = choice.as_str() == Some("required");
    let after_tool_result =
        req.messages.and_then(|m| m.last()).and_then(|m| m.get("role")).and_then(Value::as_str).is_some_and(|r| r == "tool");
    if after_tool_result && !required {
        return None;
    }
    // A named function: `{"type": "function", "function": {"name": ...}}`.
    let forced = choice.get("function").and_then(|f| f.get("name")).and_then(Value::as_str);
    let call = match (choice, forced) {
        (_, Some(_)) => true,
        (Value::String(s), _) if s == "none" => false,
        (Value::String(s), _) if s == "required" => true,
        // Absent, "auto", or anything else.
        _ => rate >= 1.0 || (rate > 0.0 && rng.next_f64() < rate),
    };
    if !call {
        return None;
    }
    let n = match req.parallel_tool_calls {
        Some(false) => 1,
        _ => draw(rng, parallel),
    };
    let calls = (0..n)
        .map(|k| {
            let tool = match forced {
                Some(name) => tools.iter().copied().find(|t| tool_name(t) == Some(name)),
                None => Some(tools[(rng.next_u64() % tools.len() as u64) as usize]),
            };
            let name = forced.map(str::to_string).or_else(|| tool.and_then(tool_name).map(str::to_string)).unwrap_or_default();
            let params = tool.and_then(|t| t.get("function")).and_then(|f| f.get("parameters"));
            let arguments = serde_json::to_string(&arguments(params, rng)).unwrap_or_else(|_| "{}".into());
            let pieces = split(&arguments, PIECES_PER_CALL);
            ToolCall { id: format!("call_{request_number}_{k}"), name, arguments, pieces }
        })
        .collect();
    Some(calls)
}

fn tool_name(tool: &Value) -> Option<&str> {
    tool.get("function")?.get("name")?.as_str().filter(|n| !n.is_empty())
}

/// Uniform in the range (raised to at least 1).
fn draw(rng: &mut Rng, range: &RangeInclusive<u32>) -> u32 {
    let lo = (*range.start()).max(1);
    let hi = (*range.end()).max(lo);
    lo + (rng.next_u64() % (u64::from(hi - lo) + 1)) as u32
}

/// A JSON object with one short value per property of the schema: an `enum`'s member,
/// else a value of the property's type (strings and numbers; booleans, arrays and
/// objects where the schema asks for them).
fn arguments(params: Option<&Value>, rng: &mut Rng) -> Value {
    let mut out = Map::new();
    let props = params.and_then(|p| p.get("properties")).and_then(Value::as_object);
    for (name, schema) in props.into_iter().flatten() {
        out.insert(name.clone(), value(schema, rng));
    }
    Value::Object(out)
}

fn value(schema: &Value, rng: &mut Rng) -> Value {
    if let Some(options) = schema.get("enum").and_then(Value::as_array).filter(|o| !o.is_empty()) {
        return options[(rng.next_u64() % options.len() as u64) as usize].clone();
    }
    let ty = match schema.get("type") {
        Some(Value::String(s)) => s.as_str(),
        // `["string", "null"]`: the first non-null type.
        Some(Value::Array(types)) => types.iter().filter_map(Value::as_str).find(|t| *t != "null").unwrap_or("string"),
        _ => "string",
    };
    match ty {
        "integer" | "number" => json!(rng.next_u64() % 100),
        "boolean" => json!(rng.next_u64().is_multiple_of(2)),
        "array" => json!([VALUES[(rng.next_u64() % VALUES.len() as u64) as usize]]),
        "object" => json!({}),
        _ => json!(VALUES[(rng.next_u64() % VALUES.len() as u64) as usize]),
    }
}

/// `text` cut into at most `n` pieces of about equal length, on character boundaries.
fn split(text: &str, n: usize) -> Vec<(usize, usize)> {
    let chars: Vec<usize> = text.char_indices().map(|(i, _)| i).collect();
    let n = n.min(chars.len()).max(1);
    let bound = |j: usize| if j * chars.len() / n >= chars.len() { text.len() } else { chars[j * chars.len() / n] };
    (0..n).map(|j| (bound(j), bound(j + 1))).collect()
}

/// The tool-call ids issued, most recent [`ISSUED_IDS_KEPT`] (as hashes of the id text).
pub(crate) struct IssuedIds {
    inner: Mutex<Ledger>,
    keep: usize,
}

impl Default for IssuedIds {
    fn default() -> Self {
        IssuedIds::keeping(ISSUED_IDS_KEPT)
    }
}

#[derive(Default)]
struct Ledger {
    set: HashSet<u64>,
    order: VecDeque<u64>,
}

impl IssuedIds {
    pub(crate) fn keeping(keep: usize) -> Self {
        IssuedIds { inner: Mutex::default(), keep }
    }

    pub(crate) fn issue<'a>(&self, ids: impl IntoIterator<Item = &'a str>) {
        let mut l = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        for id in ids {
            let h = hash_of(id);
            if l.set.insert(h) {
                l.order.push_back(h);
                if l.order.len() > self.keep
                    && let Some(old) = l.order.pop_front()
                {
                    l.set.remove(&old);
                }
            }
        }
    }

    fn issued(&self, ids: &[&str]) -> Vec<bool> {
        let l = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        ids.iter().map(|id| l.set.contains(&hash_of(*id))).collect()
    }

    /// Checks the ids a request sends back: each `tool` message's `tool_call_id`, and
    /// each id of an assistant message's `tool_calls`.
    pub(crate) fn check(&self, messages: &[Value], stats: &SimStats) {
        let results: Vec<&str> = messages
            .iter()
            .filter(|m| m.get("role").and_then(Value::as_str) == Some("tool"))
            .map(|m| m.get("tool_call_id").and_then(Value::as_str).unwrap_or(""))
            .collect();
        let echoes: Vec<&str> = messages
            .iter()
            .filter(|m| m.get("role").and_then(Value::as_str) == Some("assistant"))
            .filter_map(|m| m.get("tool_calls")?.as_array())
            .flatten()
            .map(|c| c.get("id").and_then(Value::as_str).unwrap_or(""))
            .collect();
        if results.is_empty() && echoes.is_empty() {
            return;
        }
        let count = |ids: &[&str],
                     received: &std::sync::atomic::AtomicU64,
                     matched: &std::sync::atomic::AtomicU64,
                     unknown: &std::sync::atomic::AtomicU64| {
            if ids.is_empty() {
                return;
            }
            let known = self.issued(ids).into_iter().filter(|k| *k).count() as u64;
            received.fetch_add(ids.len() as u64, Relaxed);
            matched.fetch_add(known, Relaxed);
            unknown.fetch_add(ids.len() as u64 - known, Relaxed);
        };
        count(&results, &stats.tool_results_received, &stats.tool_results_matched, &stats.tool_results_unknown);
        count(&echoes, &stats.assistant_tool_calls_received, &stats.assistant_tool_calls_matched, &stats.assistant_tool_calls_unknown);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use volley_core::rng::Stream;

    fn weather() -> Value {
        json!([{"type": "function", "function": {"name": "get_weather", "description": "d",
            "parameters": {"type": "object", "properties": {
                "city": {"type": "string"}, "days": {"type": "integer"},
                "unit": {"type": "string", "enum": ["c", "f"]}, "alerts": {"type": "boolean"}}}}},
               {"type": "function", "function": {"name": "now", "parameters": {"type": "object"}}}])
    }

    fn req<'a>(tools: &'a Value, choice: Option<&'a Value>, messages: &'a [Value]) -> ToolRequest<'a> {
        ToolRequest { tools: tools.as_array().map(Vec::as_slice), tool_choice: choice, parallel_tool_calls: None, messages: Some(messages) }
    }

    #[test]
    fn arguments_follow_the_schema() {
        let tools = weather();
        let user = [json!({"role": "user", "content": "hi"})];
        let choice = json!({"type": "function", "function": {"name": "get_weather"}});
        let mut rng = Rng::new(1, Stream::Simulator);
        let calls = plan(&req(&tools, Some(&choice), &user), 0.0, &(2..=2), 7, &mut rng).unwrap();
        assert_eq!(calls.len(), 2);
        for (k, c) in calls.iter().enumerate() {
            assert_eq!((c.id.as_str(), c.name.as_str()), (format!("call_7_{k}").as_str(), "get_weather"));
            let args: Value = serde_json::from_str(&c.arguments).unwrap();
            assert!(args["city"].is_string() && args["days"].is_u64() && args["alerts"].is_boolean(), "{args}");
            assert!(args["unit"] == "c" || args["unit"] == "f", "{args}");
            let joined: String = c.pieces.iter().map(|&(a, b)| &c.arguments[a..b]).collect();
            assert_eq!(joined, c.arguments);
            assert_eq!(c.pieces.len(), PIECES_PER_CALL);
        }
        let none = json!({"type": "function", "function": {"name": "now"}});
        let calls = plan(&req(&tools, Some(&none), &user), 1.0, &(1..=1), 8, &mut rng).unwrap();
        assert_eq!((calls[0].arguments.as_str(), calls[0].pieces.len()), ("{}", 2));
    }

    #[test]
    fn tool_choice_and_tool_results_decide() {
        let tools = weather();
        let user = [json!({"role": "user", "content": "hi"})];
        let after = [json!({"role": "user", "content": "hi"}), json!({"role": "tool", "tool_call_id": "x", "content": "1"})];
        let mut rng = Rng::new(1, Stream::Simulator);
        let (none, required) = (json!("none"), json!("required"));
        assert!(plan(&req(&tools, Some(&none), &user), 1.0, &(1..=1), 0, &mut rng).is_none());
        assert!(plan(&req(&tools, None, &user), 0.0, &(1..=1), 0, &mut rng).is_none());
        assert!(plan(&req(&tools, None, &user), 1.0, &(1..=1), 0, &mut rng).is_some());
        assert!(plan(&req(&tools, None, &after), 1.0, &(1..=1), 0, &mut rng).is_none());
        assert!(plan(&req(&tools, Some(&required), &after), 0.0, &(1..=1), 0, &mut rng).is_some());
        let empty = json!([]);
        assert!(plan(&req(&empty, Some(&required), &user), 1.0, &(1..=1), 0, &mut rng).is_none());
        // About the rate, and reproducible.
        let draws = |seed| {
            let mut rng = Rng::new(seed, Stream::Simulator);
            (0..1000).filter(|_| plan(&req(&tools, None, &user), 0.3, &(1..=3), 0, &mut rng).is_some()).count()
        };
        let n = draws(5);
        assert!((240..=360).contains(&n), "{n}");
        assert_eq!(n, draws(5));
    }

    #[test]
    fn parallel_counts_cover_the_range() {
        let tools = weather();
        let user = [json!({"role": "user", "content": "hi"})];
        let mut rng = Rng::new(3, Stream::Simulator);
        let mut seen = [0; 5];
        for _ in 0..300 {
            seen[plan(&req(&tools, None, &user), 1.0, &(2..=4), 0, &mut rng).unwrap().len()] += 1;
        }
        assert_eq!((seen[0], seen[1]), (0, 0));
        assert!(seen[2..].iter().all(|&n| n > 50), "{seen:?}");
        let mut r = req(&tools, None, &user);
        r.parallel_tool_calls = Some(false);
        assert_eq!(plan(&r, 1.0, &(2..=4), 0, &mut rng).unwrap().len(), 1);
    }

    #[test]
    fn split_keeps_characters_whole() {
        let t = "{\"a\":\"é漢字\"}";
        let pieces = split(t, 3);
        assert_eq!(pieces.len(), 3);
        assert_eq!(pieces.iter().map(|&(a, b)| &t[a..b]).collect::<String>(), t);
        assert_eq!(split("x", 3), vec![(0, 1)]);
    }

    #[test]
    fn the_ledger_is_bounded_and_checks_ids() {
        let ids = IssuedIds::keeping(100);
        ids.issue(["call_1_0", "call_1_1"]);
        let stats = SimStats::default();
        let msgs = [
            json!({"role": "assistant", "content": null, "tool_calls": [{"id": "call_1_0"}, {"id": "call_1_1"}]}),
            json!({"role": "tool", "tool_call_id": "call_1_0", "content": "1"}),
            json!({"role": "tool", "tool_call_id": "call_9_9", "content": "2"}),
        ];
        ids.check(&msgs, &stats);
        let s = stats.snapshot();
        assert_eq!((s.tool_results_received, s.tool_results_matched, s.tool_results_unknown), (2, 1, 1));
        assert_eq!((s.assistant_tool_calls_received, s.assistant_tool_calls_matched, s.assistant_tool_calls_unknown), (2, 2, 0));
        let many: Vec<String> = (0..100).map(|i| format!("call_x_{i}")).collect();
        ids.issue(many.iter().map(String::as_str));
        let l = ids.inner.lock().unwrap();
        assert_eq!((l.set.len(), l.order.len()), (100, 100));
        assert!(!l.set.contains(&hash_of("call_1_0")));
    }
}
