//! `http`: plain HTTP requests from a template, for services that speak neither
//! OpenAI nor KServe — the Flask `GET /predict/<text>` and the FastAPI `POST /predict`
//! with a base64 image of the seeds.
//!
//! Parameters: `method` (default GET), `path` (default "/"), `body` (a string, or a
//! JSON value sent as JSON), `headers` (an object), `words` (list for `{word}`),
//! `b64_bytes` (size of the random payload `{b64}` stands for, default 1024), `tag`,
//! and the load keys (`load`, default constant; `rate`, `n`, `duration_s`, default 10;
//! `requests`). Placeholders in `path` and `body`: `{seq}` (request number), `{word}`
//! (a random entry of `words`), `{rand}` (a random integer), `{b64}` (base64 of
//! `b64_bytes` random bytes). Paths are relative to the target; the host refuses
//! anything else.

use volley_sdk::{Next, Params, Plan, Request, RequestContext, STAGE_PARAMS, Scenario, Stage, export_scenario, random};

struct Http {
    stage: Stage,
    method: String,
    path: String,
    body: Option<String>,
    headers: Vec<(String, String)>,
    words: Vec<String>,
    b64_bytes: usize,
    tag: Option<String>,
}

impl Scenario for Http {
    fn describe() -> volley_sdk::Info {
        volley_sdk::info!("Plain HTTP requests from a template (method, path, body, headers)")
    }

    fn configure(params: &Params) -> Result<Self, String> {
        let own = ["method", "path", "body", "headers", "words", "b64_bytes", "tag"];
        params.allow_only(&[&own[..], STAGE_PARAMS].concat())?;
        let body = match params.get("body") {
            None => None,
            Some(volley_sdk::serde_json::Value::String(s)) => Some(s.clone()),
            Some(v) => Some(v.to_string()),
        };
        let headers = match params.get("headers") {
            None => Vec::new(),
            Some(volley_sdk::serde_json::Value::Object(m)) => m
                .iter()
                .map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string())).ok_or(format!("header `{k}` must be a string")))
                .collect::<Result<_, _>>()?,
            Some(_) => return Err("`headers` must be an object of strings".into()),
        };
        Ok(Http {
            stage: Stage::from_params("http", params, "constant", Some(10.0))?,
            method: params.string("method", "GET")?,
            path: params.string("path", "/")?,
            body,
            headers,
            words: params.strings("words")?.unwrap_or_else(|| vec!["hello".into(), "volley".into()]),
            b64_bytes: params.u64("b64_bytes", 1024)? as usize,
            tag: params.opt_string("tag")?,
        })
    }

    fn plan(&self) -> Plan {
        Plan::new().stage(self.stage.clone())
    }

    fn next_request(&mut self, ctx: &RequestContext) -> Next {
        let mut r = Request::http(self.method.clone(), self.fill(&self.path, ctx.seq));
        if let Some(b) = &self.body {
            r = r.body(self.fill(b, ctx.seq));
        }
        for (k, v) in &self.headers {
            r = r.header(k.clone(), v.clone());
        }
        if let Some(t) = &self.tag {
            r = r.tag(t.clone());
        }
        Next::Send(r)
    }
}

impl Http {
    fn fill(&self, template: &str, seq: u64) -> String {
        let mut out = template.replace("{seq}", &seq.to_string());
        while out.contains("{word}") {
            let word = random::choose(&self.words).cloned().unwrap_or_default();
            out = out.replacen("{word}", &word, 1);
        }
        while out.contains("{rand}") {
            out = out.replacen("{rand}", &random::u64().to_string(), 1);
        }
        if out.contains("{b64}") {
            let bytes: Vec<u8> = (0..self.b64_bytes).map(|_| random::u64() as u8).collect();
            out = out.replace("{b64}", &base64(&bytes));
        }
        out
    }
}

fn base64(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

export_scenario!(Http);
