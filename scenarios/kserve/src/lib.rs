//! `kserve`: KServe v1 `:predict` or v2 / Triton `infer` requests with generated
//! tensors, and a client batch size (the Triton tutorial's `perf_analyzer -b 16`).
//!
//! Parameters: `protocol` (`"v2"`, the default, or `"v1"`), `model` (required),
//! `version` (v2 path version), `input` (v2: the tensor name, default "INPUT0"),
//! `datatype` (default "FP32"; "BYTES" sends strings), `shape` (one item's shape,
//! without the batch dimension, default [4]), `batch` (items per request, default 1),
//! `fill` (`"random"` numbers in [0, 1), the default, or a number), `stream` (v2 over a
//! `grpc://` target: `ModelStreamInfer`, each response timed; default false), and the load keys
//! (`load`, default poisson; `rate`, `n`, `duration_s`, default 30; `requests`).
//! v1 sends `{"instances": [item, ...]}` with each item a nested list of that shape.

use volley_sdk::{Next, Params, Plan, Request, RequestContext, STAGE_PARAMS, Scenario, Stage, Tensor, export_scenario, random};

enum Fill {
    Random,
    Value(f64),
}

struct KServe {
    stage: Stage,
    stream: bool,
    v1: bool,
    model: String,
    version: Option<String>,
    input: String,
    datatype: String,
    shape: Vec<i64>,
    batch: u32,
    fill: Fill,
}

impl Scenario for KServe {
    fn describe() -> volley_sdk::Info {
        volley_sdk::info!("KServe v1 :predict or v2/Triton infer with generated tensors and a client batch size")
    }

    fn configure(params: &Params) -> Result<Self, String> {
        let own = ["protocol", "model", "version", "input", "datatype", "shape", "batch", "fill", "stream"];
        params.allow_only(&[&own[..], STAGE_PARAMS].concat())?;
        let v1 = match params.string("protocol", "v2")?.as_str() {
            "v1" => true,
            "v2" => false,
            other => return Err(format!("`protocol` must be \"v1\" or \"v2\", got {other:?}")),
        };
        let model = params.opt_string("model")?.ok_or("`model` is required (the model's name on the server)")?;
        let shape = match params.get("shape") {
            None => vec![4],
            Some(v) => v
                .as_array()
                .and_then(|a| a.iter().map(|d| d.as_i64().filter(|d| *d > 0)).collect::<Option<Vec<_>>>())
                .ok_or("`shape` must be a list of positive sizes, e.g. [3, 224, 224]")?,
        };
        let fill = match params.get("fill") {
            None => Fill::Random,
            Some(v) if v.as_str() == Some("random") => Fill::Random,
            Some(v) => Fill::Value(v.as_f64().ok_or("`fill` must be \"random\" or a number")?),
        };
        let batch = params.u32("batch", 1)?;
        if batch == 0 {
            return Err("`batch` must be at least 1".into());
        }
        Ok(KServe {
            stream: params.bool("stream", false)?,
            stage: Stage::from_params("kserve", params, "poisson", Some(30.0))?,
            v1,
            model,
            version: params.opt_string("version")?,
            input: params.string("input", "INPUT0")?,
            datatype: params.string("datatype", "FP32")?,
            shape,
            batch,
            fill,
        })
    }

    fn plan(&self) -> Plan {
        Plan::new().stage(self.stage.clone())
    }

    fn next_request(&mut self, ctx: &RequestContext) -> Next {
        let per_item = Tensor::elements(&self.shape);
        let n = per_item * self.batch as usize;
        let r = if self.v1 {
            let items: Vec<String> = (0..self.batch).map(|_| nested(&self.shape, &mut || self.number())).collect();
            Request::kserve_v1(self.model.clone(), format!("{{\"instances\": [{}]}}", items.join(",")))
        } else {
            let mut shape = vec![i64::from(self.batch)];
            shape.extend(&self.shape);
            let tensor = if self.datatype.eq_ignore_ascii_case("BYTES") {
                Tensor::bytes(self.input.clone(), shape, (0..n).map(|i| format!("item-{}-{i}", ctx.seq)).collect())
            } else {
                Tensor::numbers(self.input.clone(), &self.datatype, shape, (0..n).map(|_| self.number()).collect())
            };
            // Over a grpc:// target, a streamed request is a ModelStreamInfer call.
            let r = Request::kserve_v2(self.model.clone(), vec![tensor]).stream(self.stream);
            match &self.version {
                Some(v) => r.model_version(v.clone()),
                None => r,
            }
        };
        Next::Send(r.batch_size(self.batch))
    }
}

impl KServe {
    fn number(&self) -> f64 {
        match self.fill {
            Fill::Random => (random::f64() * 1000.0).round() / 1000.0,
            Fill::Value(v) => v,
        }
    }
}

/// A JSON nested list of `shape` filled by `next`.
fn nested(shape: &[i64], next: &mut dyn FnMut() -> f64) -> String {
    match shape {
        [] => next().to_string(),
        [n, rest @ ..] => format!("[{}]", (0..*n).map(|_| nested(rest, next)).collect::<Vec<_>>().join(",")),
    }
}

export_scenario!(KServe);
