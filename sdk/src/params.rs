//! [`Params`]: typed access to the operator's JSON parameters, with one-line errors.

use serde_json::{Map, Value};

/// The operator's parameters (`volley run --params '{"rate": 5}'`): a JSON object.
#[derive(Debug, Clone, Default)]
pub struct Params(Map<String, Value>);

impl Params {
    /// Parses a JSON object; an empty string counts as `{}`.
    pub fn parse(json: &str) -> Result<Self, String> {
        if json.trim().is_empty() {
            return Ok(Params::default());
        }
        match serde_json::from_str::<Value>(json) {
            Ok(Value::Object(map)) => Ok(Params(map)),
            Ok(other) => Err(format!("parameters must be a JSON object, got {}", kind(&other))),
            Err(e) => Err(format!("parameters are not valid JSON: {e}")),
        }
    }

    /// Fails on any key not in `known`, so a typo is an error rather than a silent default.
    pub fn allow_only(&self, known: &[&str]) -> Result<(), String> {
        match self.0.keys().find(|k| !known.contains(&k.as_str())) {
            Some(k) => Err(format!("unknown parameter `{k}` (known: {})", known.join(", "))),
            None => Ok(()),
        }
    }

    /// The raw JSON value of a key.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.0.get(key).filter(|v| !v.is_null())
    }

    pub fn f64(&self, key: &str, default: f64) -> Result<f64, String> {
        match self.get(key) {
            None => Ok(default),
            Some(v) => v.as_f64().filter(|x| x.is_finite()).ok_or_else(|| wrong(key, "a number", v)),
        }
    }

    pub fn u64(&self, key: &str, default: u64) -> Result<u64, String> {
        match self.get(key) {
            None => Ok(default),
            Some(v) => v.as_u64().ok_or_else(|| wrong(key, "a non-negative integer", v)),
        }
    }

    pub fn opt_u64(&self, key: &str) -> Result<Option<u64>, String> {
        self.get(key).map(|_| self.u64(key, 0)).transpose()
    }

    pub fn u32(&self, key: &str, default: u32) -> Result<u32, String> {
        let x = self.u64(key, u64::from(default))?;
        u32::try_from(x).map_err(|_| format!("parameter `{key}` is too large: {x}"))
    }

    pub fn bool(&self, key: &str, default: bool) -> Result<bool, String> {
        match self.get(key) {
            None => Ok(default),
            Some(v) => v.as_bool().ok_or_else(|| wrong(key, "true or false", v)),
        }
    }

    pub fn string(&self, key: &str, default: &str) -> Result<String, String> {
        Ok(self.opt_string(key)?.unwrap_or_else(|| default.to_string()))
    }

    pub fn opt_string(&self, key: &str) -> Result<Option<String>, String> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(v) => Err(wrong(key, "a string", v)),
        }
    }

    /// A list of strings, e.g. prompts.
    pub fn strings(&self, key: &str) -> Result<Option<Vec<String>>, String> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| v.as_str().map(str::to_string).ok_or_else(|| wrong(key, "a list of strings", v)))
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
            Some(v) => Err(wrong(key, "a list of strings", v)),
        }
    }
}

impl Params {
    /// A model mix: `"models": {"llama-3-8b": 3, "adapter-a": 1}` (weights), or a single
    /// `"model": "name"`; empty when neither is given.
    pub fn model_mix(&self) -> Result<Vec<(String, f64)>, String> {
        if let Some(single) = self.opt_string("model")? {
            return Ok(vec![(single, 1.0)]);
        }
        match self.get("models") {
            None => Ok(Vec::new()),
            Some(Value::Object(m)) => m
                .iter()
                .map(|(k, v)| match v.as_f64() {
                    Some(w) if w > 0.0 => Ok((k.clone(), w)),
                    _ => Err(format!("the weight of model `{k}` must be a positive number")),
                })
                .collect(),
            Some(v) => Err(wrong("models", "an object of model: weight", v)),
        }
    }
}

fn wrong(key: &str, want: &str, got: &Value) -> String {
    format!("parameter `{key}` must be {want}, got {}", kind(got))
}

fn kind(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => format!("{s:?}"),
        Value::Array(_) => "a list".into(),
        Value::Object(_) => "an object".into(),
    }
}

impl Params {
    /// One of `choices` (default `default`), as a one-line error otherwise.
    pub fn choice(&self, key: &str, choices: &[&str], default: &str) -> Result<String, String> {
        let v = self.string(key, default)?;
        if choices.contains(&v.as_str()) {
            Ok(v)
        } else {
            let list: Vec<String> = choices.iter().map(|c| format!("{c:?}")).collect();
            Err(format!("`{key}` must be one of {}, got {v:?}", list.join(", ")))
        }
    }

    /// `api`: true for "chat", false for "completions" (the default given).
    pub fn chat_api(&self, default: &str) -> Result<bool, String> {
        Ok(self.choice("api", &["chat", "completions"], default)? == "chat")
    }

    /// The per-stage timing of sweeps and searches: `stage_s` (default 10) and
    /// `warmup_s` (default 0, excluded from each stage's statistics, shorter than a stage).
    pub fn stage_timing(&self) -> Result<(std::time::Duration, std::time::Duration), String> {
        let stage_s = self.f64("stage_s", 10.0)?;
        let warmup_s = self.f64("warmup_s", 0.0)?;
        if stage_s <= 0.0 || warmup_s < 0.0 || warmup_s >= stage_s {
            return Err(format!("need stage_s > warmup_s >= 0, got stage_s {stage_s} and warmup_s {warmup_s}"));
        }
        Ok((std::time::Duration::from_secs_f64(stage_s), std::time::Duration::from_secs_f64(warmup_s)))
    }
}
