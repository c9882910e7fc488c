//! What the server says of itself, asked once before the run for the report's
//! `metadata.server`: the OpenAI-compatible model list (`/v1/models`), vLLM's
//! `/version`, TGI's `/info`, llama.cpp's `/props`, KServe v2's `/v2` and one model's
//! `/v2/models/{model}/config`. Which are asked follows `--server-kind`; without it the
//! cheap ones of every kind are, and what answers 200 with the JSON expected is kept.
//!
//! The answers are a stranger's: each endpoint passes the egress gate as one of the
//! target's own (nothing else is asked), has [`TIMEOUT`] (all asked at once) and is read
//! through the bounded reader ([`super::answer`]) at most [`MAX_BYTES`]; only a
//! whitelisted subset of fields is parsed, strings clipped to
//! [`MAX_TEXT_CHARS`] characters, lists to [`MAX_LIST`] elements. A failure never fails
//! the run: the endpoint's entry says what went wrong.

use std::fmt;
use std::marker::PhantomData;
use std::time::Duration;

use serde::Deserialize;
use serde::de::{Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use volley_core::hooks::ServerKind;
use volley_core::text::{clip, printable};
use volley_net::Egress;
use volley_report::metadata::{
    EndpointAnswer, KserveInfo, KserveModelConfig, LlamaCppProps, MAX_LIST, MAX_TEXT_CHARS, ServerMetadata, ServerModel, TgiInfo,
};

use super::answer;

/// How long each endpoint may take (they are asked in parallel).
pub const TIMEOUT: Duration = Duration::from_secs(2);
/// Largest answer read from one endpoint.
pub const MAX_BYTES: usize = 256 << 10;

/// The endpoints asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    Models,
    Version,
    Info,
    Props,
    Kserve,
}

impl Endpoint {
    fn path(self) -> &'static str {
        match self {
            Endpoint::Models => "/v1/models",
            Endpoint::Version => "/version",
            Endpoint::Info => "/info",
            Endpoint::Props => "/props",
            Endpoint::Kserve => "/v2",
        }
    }
}

/// The endpoints a server of `kind` has (none named: the cheap ones of every kind).
fn endpoints(kind: Option<ServerKind>) -> &'static [Endpoint] {
    match kind {
        Some(ServerKind::Vllm) => &[Endpoint::Models, Endpoint::Version],
        Some(ServerKind::Sglang) => &[Endpoint::Models],
        Some(ServerKind::LlamaCpp) => &[Endpoint::Models, Endpoint::Props],
        None => &[Endpoint::Models, Endpoint::Version, Endpoint::Info, Endpoint::Props, Endpoint::Kserve],
    }
}

/// Asks the target (checked by `egress`) what it is; `model` names the model whose
/// KServe v2 configuration is asked when the target speaks KServe v2.
pub async fn collect(egress: &Egress, kind: Option<ServerKind>, model: Option<&str>) -> ServerMetadata {
    let mut meta = ServerMetadata { kind: kind.map_or("any", ServerKind::as_str).to_string(), ..ServerMetadata::default() };
    let mut asked = tokio::task::JoinSet::new();
    for (i, &e) in endpoints(kind).iter().enumerate() {
        match egress.on_target("server metadata", e.path()) {
            Ok(to) => {
                asked.spawn(async move { (i, e, answer::fetch(&to, TIMEOUT, MAX_BYTES).await) });
            }
            Err(err) => meta.endpoints.push(failed(e.path(), None, err.to_string())),
        }
    }
    let mut answers = Vec::new();
    while let Some(joined) = asked.join_next().await {
        if let Ok(a) = joined {
            answers.push(a);
        }
    }
    answers.sort_by_key(|(i, _, _)| *i);
    for (_, e, got) in answers {
        let entry = match got {
            Err(why) => failed(e.path(), None, why),
            Ok((200, body)) => match keep(&mut meta, e, &body) {
                Ok(()) => EndpointAnswer { path: e.path().into(), status: Some(200), ok: true, error: None },
                Err(why) => failed(e.path(), Some(200), why),
            },
            Ok((status, _)) => failed(e.path(), Some(status), format!("HTTP {status}")),
        };
        meta.endpoints.push(entry);
    }
    if let (Some(k), Some(m)) = (meta.kserve.as_mut(), model.filter(|m| path_safe(m))) {
        let path = format!("/v2/models/{m}/config");
        let entry = match egress.on_target("server metadata", &path) {
            Err(err) => failed(&path, None, err.to_string()),
            Ok(to) => match answer::fetch(&to, TIMEOUT, MAX_BYTES).await {
                Err(why) => failed(&path, None, why),
                Ok((200, body)) => match answer::json::<ModelConfig>(&body) {
                    Ok(c) => {
                        k.model = Some(KserveModelConfig {
                            name: c.name.0,
                            platform: c.platform.0,
                            backend: c.backend.0,
                            max_batch_size: c.max_batch_size.0,
                        });
                        EndpointAnswer { path: path.clone(), status: Some(200), ok: true, error: None }
                    }
                    Err(why) => failed(&path, Some(200), why),
                },
                Ok((status, _)) => failed(&path, Some(status), format!("HTTP {status}")),
            },
        };
        meta.endpoints.push(entry);
    }
    meta
}

fn failed(path: &str, status: Option<u16>, why: String) -> EndpointAnswer {
    EndpointAnswer { path: clip(path, MAX_TEXT_CHARS).into_owned(), status, ok: false, error: Some(printable(&why, 300)) }
}

/// A model name that is one plain path segment.
fn path_safe(m: &str) -> bool {
    !m.is_empty() && m.len() <= 128 && m != "." && m != ".." && m.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
}

/// Keeps the whitelisted part of `e`'s answer in `meta`, or says why it is not the JSON
/// expected.
fn keep(meta: &mut ServerMetadata, e: Endpoint, body: &[u8]) -> Result<(), String> {
    match e {
        Endpoint::Models => {
            let list: ModelList = answer::json(body)?;
            meta.models = list
                .data
                .0
                .into_iter()
                .filter_map(|m| {
                    Some(ServerModel {
                        id: m.id.0?,
                        owned_by: m.owned_by.0,
                        max_model_len: m.max_model_len.0,
                        n_ctx_train: m.meta.as_ref().and_then(|x| x.n_ctx_train.0),
                        n_params: m.meta.as_ref().and_then(|x| x.n_params.0),
                    })
                })
                .collect();
        }
        Endpoint::Version => {
            let v: Version = answer::json(body)?;
            meta.vllm_version = Some(v.version.0.ok_or("it has no version")?);
        }
        Endpoint::Info => {
            let i: Info = answer::json(body)?;
            if i.model_id.0.is_none() && i.version.0.is_none() {
                return Err("it names neither a model_id nor a version".into());
            }
            meta.tgi = Some(TgiInfo {
                model_id: i.model_id.0,
                model_sha: i.model_sha.0,
                model_dtype: i.model_dtype.0,
                version: i.version.0,
                sha: i.sha.0,
                docker_label: i.docker_label.0,
                max_input_tokens: i.max_input_tokens.0.or(i.max_input_length.0),
                max_total_tokens: i.max_total_tokens.0,
                max_concurrent_requests: i.max_concurrent_requests.0,
                max_batch_total_tokens: i.max_batch_total_tokens.0,
            });
        }
        Endpoint::Props => {
            let p: Props = answer::json(body)?;
            let n_ctx = p.default_generation_settings.as_ref().and_then(|d| d.n_ctx.0).or(p.n_ctx.0);
            if p.build_info.0.is_none() && p.model_path.0.is_none() && n_ctx.is_none() && p.total_slots.0.is_none() {
                return Err("it has none of build_info, model_path, n_ctx, total_slots".into());
            }
            meta.llamacpp = Some(LlamaCppProps {
                build_info: p.build_info.0,
                model_path: p.model_path.0,
                model_alias: p.model_alias.0,
                model_ftype: p.model_ftype.0,
                n_ctx,
                total_slots: p.total_slots.0,
                chat_template_name: p.chat_template_name.0,
                chat_template_bytes: p.chat_template.0,
            });
        }
        Endpoint::Kserve => {
            let s: KserveServer = answer::json(body)?;
            if s.name.0.is_none() && s.version.0.is_none() {
                return Err("it names neither a name nor a version".into());
            }
            meta.kserve = Some(KserveInfo {
                name: s.name.0,
                version: s.version.0,
                extensions: s.extensions.0.into_iter().filter_map(|t| t.0).collect(),
                model: None,
            });
        }
    }
    Ok(())
}

#[derive(Deserialize)]
struct ModelList {
    #[serde(default)]
    data: Few<Model>,
}

#[derive(Deserialize)]
struct Model {
    #[serde(default)]
    id: Text,
    #[serde(default)]
    owned_by: Text,
    #[serde(default)]
    max_model_len: Num,
    #[serde(default)]
    meta: Option<ModelMeta>,
}

#[derive(Deserialize)]
struct ModelMeta {
    #[serde(default)]
    n_ctx_train: Num,
    #[serde(default)]
    n_params: Num,
}

#[derive(Deserialize)]
struct Version {
    #[serde(default)]
    version: Text,
}

#[derive(Deserialize)]
struct Info {
    #[serde(default)]
    model_id: Text,
    #[serde(default)]
    model_sha: Text,
    #[serde(default)]
    model_dtype: Text,
    #[serde(default)]
    version: Text,
    #[serde(default)]
    sha: Text,
    #[serde(default)]
    docker_label: Text,
    #[serde(default)]
    max_input_tokens: Num,
    #[serde(default)]
    max_input_length: Num,
    #[serde(default)]
    max_total_tokens: Num,
    #[serde(default)]
    max_concurrent_requests: Num,
    #[serde(default)]
    max_batch_total_tokens: Num,
}

#[derive(Deserialize)]
struct Props {
    #[serde(default)]
    build_info: Text,
    #[serde(default)]
    model_path: Text,
    #[serde(default)]
    model_alias: Text,
    #[serde(default)]
    model_ftype: Text,
    #[serde(default)]
    n_ctx: Num,
    #[serde(default)]
    default_generation_settings: Option<GenerationSettings>,
    #[serde(default)]
    total_slots: Num,
    #[serde(default)]
    chat_template_name: Text,
    #[serde(default)]
    chat_template: Len,
}

#[derive(Deserialize)]
struct GenerationSettings {
    #[serde(default)]
    n_ctx: Num,
}

#[derive(Deserialize)]
struct KserveServer {
    #[serde(default)]
    name: Text,
    #[serde(default)]
    version: Text,
    #[serde(default)]
    extensions: Few<Text>,
}

#[derive(Deserialize)]
struct ModelConfig {
    #[serde(default)]
    name: Text,
    #[serde(default)]
    platform: Text,
    #[serde(default)]
    backend: Text,
    #[serde(default)]
    max_batch_size: Num,
}

/// A string, clipped to [`MAX_TEXT_CHARS`]; anything else (or an empty string) is none.
#[derive(Debug, Default)]
struct Text(Option<String>);

/// A non-negative integer, or a decimal string of one; anything else is none.
#[derive(Debug, Default)]
struct Num(Option<u64>);

/// The length in bytes of a string; anything else is none (the text is not kept).
#[derive(Debug, Default)]
struct Len(Option<u64>);

/// The first [`MAX_LIST`] elements of an array, the rest skipped as read.
#[derive(Debug)]
struct Few<T>(Vec<T>);

impl<T> Default for Few<T> {
    fn default() -> Self {
        Few(Vec::new())
    }
}

/// What a visitor does with the values it does not keep: skips them, holding nothing.
macro_rules! skip_others {
    ($out:expr) => {
        fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
            Ok($out)
        }
        fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
            Ok($out)
        }
        fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
            Ok($out)
        }
        fn visit_unit<E>(self) -> Result<Self::Value, E> {
            Ok($out)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            Ok($out)
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
            Ok($out)
        }
    };
}

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Text;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E>(self, v: &str) -> Result<Text, E> {
                Ok(Text((!v.is_empty()).then(|| clip(v, MAX_TEXT_CHARS).into_owned())))
            }
            fn visit_u64<E>(self, _: u64) -> Result<Text, E> {
                Ok(Text(None))
            }
            skip_others!(Text(None));
        }
        d.deserialize_any(V)
    }
}

impl<'de> Deserialize<'de> for Num {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Num;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a count")
            }
            fn visit_u64<E>(self, v: u64) -> Result<Num, E> {
                Ok(Num(Some(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Num, E> {
                Ok(Num(v.trim().parse().ok()))
            }
            skip_others!(Num(None));
        }
        d.deserialize_any(V)
    }
}

impl<'de> Deserialize<'de> for Len {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Len;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E>(self, v: &str) -> Result<Len, E> {
                Ok(Len(Some(v.len() as u64)))
            }
            fn visit_u64<E>(self, _: u64) -> Result<Len, E> {
                Ok(Len(None))
            }
            skip_others!(Len(None));
        }
        d.deserialize_any(V)
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Few<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = Few<T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an array")
            }
            fn visit_unit<E>(self) -> Result<Few<T>, E> {
                Ok(Few(Vec::new()))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Few<T>, A::Error> {
                let mut out = Vec::new();
                while out.len() < MAX_LIST {
                    match seq.next_element::<T>()? {
                        Some(x) => out.push(x),
                        None => return Ok(Few(out)),
                    }
                }
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Few(out))
            }
        }
        d.deserialize_any(V(PhantomData))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kept(e: Endpoint, body: &str) -> Result<ServerMetadata, String> {
        let mut m = ServerMetadata::default();
        keep(&mut m, e, body.as_bytes()).map(|()| m)
    }

    #[test]
    fn llama_cpp_props_and_models() {
        let props = r#"{"default_generation_settings": {"params": {"seed": 1}, "n_ctx": 8192}, "total_slots": 4,
            "model_alias": "smollm2", "model_ftype": "Q4_1", "model_path": "/m/SmolLM2.gguf", "modalities": {"vision": false},
            "chat_template": "{% for m in messages %}…{% endfor %}", "build_info": "b0-0c1e5709", "is_sleeping": false}"#;
        let p = kept(Endpoint::Props, props).unwrap().llamacpp.unwrap();
        assert_eq!(p.build_info.as_deref(), Some("b0-0c1e5709"));
        assert_eq!((p.n_ctx, p.total_slots), (Some(8192), Some(4)));
        assert_eq!(p.model_path.as_deref(), Some("/m/SmolLM2.gguf"));
        assert_eq!(p.model_ftype.as_deref(), Some("Q4_1"));
        assert_eq!(p.chat_template_bytes, Some("{% for m in messages %}…{% endfor %}".len() as u64));
        let models = r#"{"object": "list", "data": [{"id": "smollm2", "owned_by": "llamacpp", "meta": {"n_ctx_train": 8192, "n_params": 134515008}},
            {"id": "vllm-model", "owned_by": "vllm", "max_model_len": "4096", "root": "x"}]}"#;
        let m = kept(Endpoint::Models, models).unwrap().models;
        assert_eq!(m.len(), 2);
        assert_eq!(
            (m[0].id.as_str(), m[0].owned_by.as_deref(), m[0].n_ctx_train, m[0].n_params),
            ("smollm2", Some("llamacpp"), Some(8192), Some(134515008))
        );
        assert_eq!(m[1].max_model_len, Some(4096));
    }

    #[test]
    fn other_servers_answers() {
        assert_eq!(kept(Endpoint::Version, r#"{"version": "0.6.3.post1"}"#).unwrap().vllm_version.as_deref(), Some("0.6.3.post1"));
        let tgi = r#"{"model_id": "bigscience/bloom-560m", "model_dtype": "torch.float16", "max_input_length": 1024,
            "max_total_tokens": 2048, "version": "2.0.4", "sha": "abc", "docker_label": null}"#;
        let t = kept(Endpoint::Info, tgi).unwrap().tgi.unwrap();
        assert_eq!(
            (t.model_id.as_deref(), t.version.as_deref(), t.max_input_tokens, t.docker_label),
            (Some("bigscience/bloom-560m"), Some("2.0.4"), Some(1024), None)
        );
        let k = kept(Endpoint::Kserve, r#"{"name": "triton", "version": "2.41.0", "extensions": ["classification", "statistics", 3]}"#)
            .unwrap()
            .kserve
            .unwrap();
        assert_eq!((k.name.as_deref(), k.extensions.len()), (Some("triton"), 2));
        // A 404 page of another server is not taken for an answer.
        assert!(kept(Endpoint::Info, r#"{"error": "not found"}"#).is_err());
        assert!(kept(Endpoint::Props, r#"{"detail": "Not Found"}"#).is_err());
        assert!(kept(Endpoint::Version, "<html>").unwrap_err().starts_with("not JSON"));
    }

    #[test]
    fn hostile_answers_stay_small() {
        // Thousands of models, long and control-laden ids, values of the wrong type.
        let mut body = String::from(r#"{"data": ["#);
        body.push_str(&format!(
            r#"{{"id": "a\u001b[2Jb{}", "owned_by": 7, "max_model_len": [1, 2], "meta": {{"n_params": "x"}}}}"#,
            "x".repeat(5000)
        ));
        body.push_str(&r#",{"id": "m", "owned_by": {"deep": [[[]]]}}"#.repeat(10_000));
        body.push_str("]}");
        let m = kept(Endpoint::Models, &body).unwrap().models;
        assert_eq!(m.len(), MAX_LIST);
        assert_eq!(m[0].id.chars().count(), MAX_TEXT_CHARS + 1);
        assert!(m[0].id.starts_with("a\u{1b}[2Jb"));
        assert_eq!((m[0].owned_by.as_deref(), m[0].max_model_len, m[0].n_params), (None, None, None));
        assert!(path_safe("smollm2-135m.Q4") && !path_safe("..") && !path_safe("a/b") && !path_safe("a b") && !path_safe(""));
    }
}
