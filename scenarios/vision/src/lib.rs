//! `vision`: chat requests that each send one image from a folder the operator grants
//! (`--dataset images=DIR`: png, jpg, gif, webp, bmp files) with a question, at a rate.
//! The host reads and encodes every image once (a `data:` URL in OpenAI's `image_url`
//! part); the bytes never pass through the scenario.
//!
//! Each response is checked: `answered` passes when the request succeeded with a
//! non-empty answer, so `--threshold 'checks.answered.rate>=0.99'` gates a run on it.
//!
//! Parameters: `dataset` (default "images"), `order` (`"sequential"`, the default,
//! cycling through the folder, or `"random"`), `prompt` (default "Describe this image
//! in one sentence."), `detail` (OpenAI's "low", "high" or "auto"; default none),
//! `max_tokens` (default 64), `stream` (default true), `model`, and the load keys
//! (`load`, default poisson; `rate`, default 5; `n`, `duration_s`, default 10;
//! `requests`).

use volley_sdk::datasets::Dataset;
use volley_sdk::{
    ContentPart, Media, Next, Outcome, Params, PartMessage, Plan, Request, RequestContext, STAGE_PARAMS, Scenario, Stage, checks,
    export_scenario, random,
};

struct Vision {
    stage: Stage,
    dataset: String,
    images: u64,
    sequential: bool,
    prompt: String,
    detail: Option<String>,
    max_tokens: u32,
    stream: bool,
    model: Option<String>,
}

impl Scenario for Vision {
    fn describe() -> volley_sdk::Info {
        volley_sdk::info!("Chat requests with an image each, from a granted folder")
    }

    fn configure(params: &Params) -> Result<Self, String> {
        let own = ["dataset", "order", "prompt", "detail", "max_tokens", "stream", "model"];
        params.allow_only(&[&own[..], STAGE_PARAMS].concat())?;
        let dataset = params.string("dataset", "images")?;
        let images = Dataset::open(&dataset)?.len();
        let sequential = match params.string("order", "sequential")?.as_str() {
            "sequential" => true,
            "random" => false,
            other => return Err(format!("`order` must be \"sequential\" or \"random\", got {other:?}")),
        };
        let detail = params.opt_string("detail")?;
        if let Some(d) = detail.as_deref().filter(|d| !["low", "high", "auto"].contains(d)) {
            return Err(format!("`detail` must be \"low\", \"high\" or \"auto\", got {d:?}"));
        }
        Ok(Vision {
            stage: Stage::from_params("vision", params, "poisson", Some(10.0))?,
            dataset,
            images,
            sequential,
            prompt: params.string("prompt", "Describe this image in one sentence.")?,
            detail,
            max_tokens: params.u32("max_tokens", 64)?,
            stream: params.bool("stream", true)?,
            model: params.opt_string("model")?,
        })
    }

    fn plan(&self) -> Plan {
        // Outcomes are observed for the check.
        Plan::new().stage(self.stage.clone()).observe_outcomes(true)
    }

    fn next_request(&mut self, ctx: &RequestContext) -> Next {
        if self.images == 0 {
            return Next::Done;
        }
        let index = if self.sequential { ctx.seq % self.images } else { random::below(self.images) };
        let media = Media::granted(self.dataset.clone(), index);
        let image = match &self.detail {
            Some(d) => ContentPart::image_detail(media, d.clone()),
            None => ContentPart::image(media),
        };
        let message = PartMessage::user(vec![ContentPart::text(self.prompt.clone()), image]);
        let mut request = Request::chat_parts(vec![message])
            .max_tokens(self.max_tokens)
            .stream(self.stream)
            .keep_text(true)
            .tag(format!("image-{}", index % 16));
        if let Some(model) = &self.model {
            request = request.model(model.clone());
        }
        Next::Send(request)
    }

    fn on_outcome(&mut self, outcome: Outcome) {
        let answered = outcome.ok && outcome.text.as_deref().is_some_and(|t| !t.trim().is_empty());
        checks::check("answered", answered);
    }
}

export_scenario!(Vision);
