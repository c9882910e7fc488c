// js-chat: streaming chat requests with Poisson arrivals, written in JavaScript.
//
// The same workload as the Rust `chat-poisson` scenario, drawn from the host's seeded
// random stream in the same order, so the same `--seed` gives the same requests.
//
// Parameters (all optional):
// - `rate` (requests/s, default 5), `duration_s` (default 10), `max_requests` (no default)
// - `max_tokens` (default 64), `stream` (default true), `api` (`"chat"` or `"completions"`)
// - `model` (default: the operator's `--model`, else the target's first model)
// - `prompts` (a list of strings; default: a built-in set of short questions)
//
// Build: ./build.sh in a `volley new` project, which runs
//   componentize-js app.js --wit wit --world-name scenario -d http -d fetch-event -o js-chat.wasm

import { nextU64 } from "volley:scenario/random@0.5.0";

const NAME = "js-chat";
const VERSION = "0.1.0";

const DEFAULT_PROMPTS = [
  "Explain in two sentences why the sky is blue.",
  "Write a haiku about load testing.",
  "What is the difference between latency and throughput?",
  "Give three tips for writing clear error messages.",
  "Summarise the plot of Hamlet in one paragraph.",
  "How does a hash map handle collisions?",
  "Describe the water cycle for a ten-year-old.",
  "List five prime numbers greater than one hundred.",
  "Why do cats purr?",
  "Translate 'good morning, how are you?' into French and Spanish.",
  "What is a Poisson process?",
  "Suggest a name for a benchmarking tool and explain it.",
];

const KNOWN = ["rate", "duration_s", "max_requests", "max_tokens", "stream", "api", "model", "prompts"];

/** The operator's `--params` object, read with one-line errors (thrown as strings). */
class Params {
  constructor(text) {
    let value;
    try {
      value = JSON.parse(text);
    } catch (e) {
      throw `parameters are not valid JSON: ${e.message}`;
    }
    if (value === null || typeof value !== "object" || Array.isArray(value)) {
      throw `parameters must be a JSON object, got ${JSON.stringify(value)}`;
    }
    this.values = Object.fromEntries(Object.entries(value).filter(([, v]) => v !== null));
  }
  allowOnly(known) {
    for (const key of Object.keys(this.values)) {
      if (!known.includes(key)) throw `unknown parameter \`${key}\` (known: ${known.join(", ")})`;
    }
  }
  get(key, fallback) {
    return key in this.values ? this.values[key] : fallback;
  }
  number(key, fallback) {
    const v = this.get(key, fallback);
    if (typeof v !== "number" || !Number.isFinite(v)) throw `parameter \`${key}\` must be a number, got ${JSON.stringify(v)}`;
    return v;
  }
  integer(key, fallback, max = Number.MAX_SAFE_INTEGER) {
    const v = this.get(key, fallback);
    if (v === undefined) return undefined;
    if (!Number.isInteger(v) || v < 0) throw `parameter \`${key}\` must be a non-negative integer, got ${JSON.stringify(v)}`;
    if (v > max) throw `parameter \`${key}\` is too large: ${v}`;
    return v;
  }
  boolean(key, fallback) {
    const v = this.get(key, fallback);
    if (typeof v !== "boolean") throw `parameter \`${key}\` must be true or false, got ${JSON.stringify(v)}`;
    return v;
  }
  string(key, fallback) {
    const v = this.get(key, fallback);
    if (v !== undefined && typeof v !== "string") throw `parameter \`${key}\` must be a string, got ${JSON.stringify(v)}`;
    return v;
  }
  strings(key) {
    const v = this.get(key, undefined);
    if (v === undefined) return undefined;
    if (!Array.isArray(v) || !v.every((s) => typeof s === "string")) {
      throw `parameter \`${key}\` must be a list of strings, got ${JSON.stringify(v)}`;
    }
    return v;
  }
}

/** Uniform in [0, n) from one 64-bit draw (multiply-shift, as the Rust SDK). */
function below(n) {
  return n === 0 ? 0 : Number((nextU64() * BigInt(n)) >> 64n);
}

const config = { chat: true, prompts: DEFAULT_PROMPTS, maxTokens: 64, stream: true, model: undefined };

function request() {
  const text = config.prompts[below(config.prompts.length)];
  return {
    api: config.chat ? "chat-completions" : "completions",
    model: config.model,
    prompt: config.chat ? { tag: "chat", val: [{ role: "user", content: text }] } : { tag: "text", val: text },
    maxTokens: config.maxTokens,
    stream: config.stream,
    headers: [],
    inputs: [],
    keepText: false,
  };
}

export const workload = {
  describe() {
    return { name: NAME, version: VERSION, description: "Streaming chat requests with Poisson arrivals (JavaScript)" };
  },

  configure(text) {
    const p = new Params(text);
    p.allowOnly(KNOWN);
    const rate = p.number("rate", 5);
    if (rate <= 0) throw `\`rate\` must be positive, got ${rate}`;
    const durationS = p.number("duration_s", 10);
    if (durationS <= 0) throw `\`duration_s\` must be positive, got ${durationS}`;
    const api = p.string("api", "chat");
    if (api !== "chat" && api !== "completions") throw `\`api\` must be "chat" or "completions", got ${JSON.stringify(api)}`;
    const prompts = p.strings("prompts");
    if (prompts !== undefined && prompts.length === 0) throw "`prompts` must not be empty";
    config.chat = api === "chat";
    config.prompts = prompts ?? DEFAULT_PROMPTS;
    config.maxTokens = p.integer("max_tokens", 64, 0xffffffff);
    config.stream = p.boolean("stream", true);
    config.model = p.string("model", undefined);
    const maxRequests = p.integer("max_requests", undefined);
    const stage = {
      name: "poisson",
      load: { tag: "poisson", val: rate },
      durationMs: BigInt(Math.floor(durationS * 1000)),
      maxRequests: maxRequests === undefined ? undefined : BigInt(maxRequests),
    };
    return { stages: [stage], observeOutcomes: false, adaptive: false };
  },

  nextRequests(stage, seq, max) {
    const requests = [];
    for (let i = 0; i < max; i++) requests.push(request());
    return { requests, done: false };
  },

  onOutcome(outcome) {},

  // A fixed plan: no stages decided during the run.
  nextStage(results) {
    return undefined;
  },
};
