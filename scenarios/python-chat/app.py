"""python-chat: streaming chat requests with Poisson arrivals, written in Python.

The same workload as the Rust `chat-poisson` scenario, drawn from the host's seeded
random stream in the same order, so the same `--seed` gives the same requests.

Parameters (all optional):
- `rate` (requests/s, default 5), `duration_s` (default 10), `max_requests` (no default)
- `max_tokens` (default 64), `stream` (default true), `api` (`"chat"` or `"completions"`)
- `model` (default: the operator's `--model`, else the target's first model)
- `prompts` (a list of strings; default: a built-in set of short questions)

Build: ./build.sh in a `volley new` project, which runs
    componentize-py -d wit -w scenario componentize app -o python-chat.wasm
"""

import json
from typing import Optional

from componentize_py_types import Err
from wit_world import exports
from wit_world.exports.workload import Info
from wit_world.imports import random
from wit_world.imports.types import (
    Api, Batch, Load_Poisson, Message, Plan, Prompt_Chat, Prompt_Text, Request, Stage,
)

NAME = "python-chat"
VERSION = "0.1.0"

DEFAULT_PROMPTS = [
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
]

KNOWN = ["rate", "duration_s", "max_requests", "max_tokens", "stream", "api", "model", "prompts"]


class Params:
    """The operator's `--params` object, read with one-line errors."""

    def __init__(self, text: str):
        try:
            value = json.loads(text)
        except ValueError as e:
            raise Err(f"parameters are not valid JSON: {e}")
        if not isinstance(value, dict):
            raise Err(f"parameters must be a JSON object, got {type(value).__name__}")
        self.values = {k: v for k, v in value.items() if v is not None}

    def allow_only(self, known):
        for key in self.values:
            if key not in known:
                raise Err(f"unknown parameter `{key}` (known: {', '.join(known)})")

    def number(self, key, default):
        v = self.values.get(key, default)
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise Err(f"parameter `{key}` must be a number, got {json.dumps(v)}")
        return float(v)

    def integer(self, key, default, bits=64):
        v = self.values.get(key, default)
        if v is None:
            return None
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            raise Err(f"parameter `{key}` must be a non-negative integer, got {json.dumps(v)}")
        if v >= 1 << bits:
            raise Err(f"parameter `{key}` is too large: {v}")
        return v

    def boolean(self, key, default):
        v = self.values.get(key, default)
        if not isinstance(v, bool):
            raise Err(f"parameter `{key}` must be true or false, got {json.dumps(v)}")
        return v

    def string(self, key, default):
        v = self.values.get(key, default)
        if v is not None and not isinstance(v, str):
            raise Err(f"parameter `{key}` must be a string, got {json.dumps(v)}")
        return v

    def strings(self, key):
        v = self.values.get(key)
        if v is None:
            return None
        if not isinstance(v, list) or not all(isinstance(s, str) for s in v):
            raise Err(f"parameter `{key}` must be a list of strings, got {json.dumps(v)}")
        return v


def below(n: int) -> int:
    """Uniform in [0, n) from one 64-bit draw (multiply-shift, as the Rust SDK)."""
    return 0 if n == 0 else (random.next_u64() * n) >> 64


class Config:
    """What `configure` read; kept at module level because componentize-py may make a new
    `Workload` object for each call from the host."""

    chat = True
    prompts = DEFAULT_PROMPTS
    max_tokens = 64
    stream = True
    model = None


CONFIG = Config()


class Workload(exports.Workload):
    def describe(self) -> Info:
        return Info(NAME, VERSION, "Streaming chat requests with Poisson arrivals (Python)")

    def configure(self, params: str) -> Plan:
        p = Params(params)
        p.allow_only(KNOWN)
        rate = p.number("rate", 5.0)
        if rate <= 0:
            raise Err(f"`rate` must be positive, got {rate}")
        duration_s = p.number("duration_s", 10.0)
        if duration_s <= 0:
            raise Err(f"`duration_s` must be positive, got {duration_s}")
        api = p.string("api", "chat")
        if api not in ("chat", "completions"):
            raise Err(f'`api` must be "chat" or "completions", got {json.dumps(api)}')
        prompts = p.strings("prompts")
        if prompts is not None and not prompts:
            raise Err("`prompts` must not be empty")
        CONFIG.chat = api == "chat"
        CONFIG.prompts = prompts if prompts is not None else DEFAULT_PROMPTS
        CONFIG.max_tokens = p.integer("max_tokens", 64, bits=32)
        CONFIG.stream = p.boolean("stream", True)
        CONFIG.model = p.string("model", None)
        max_requests = p.integer("max_requests", None)
        stage = Stage("poisson", Load_Poisson(rate), int(duration_s * 1000), max_requests, None, None, None)
        return Plan([stage], observe_outcomes=False, adaptive=False)

    def next_requests(self, stage: int, seq: int, max: int) -> Batch:
        return Batch([request(CONFIG) for _ in range(max)], False)

    def on_outcome(self, outcome) -> None:
        pass

    def next_stage(self, results) -> Optional[Stage]:
        return None  # a fixed plan: no stages decided during the run


def request(c: Config) -> Request:
    text = c.prompts[below(len(c.prompts))]
    if c.chat:
        api, prompt = Api.CHAT_COMPLETIONS, Prompt_Chat([Message("user", text)])
    else:
        api, prompt = Api.COMPLETIONS, Prompt_Text(text)
    return Request(
        api=api, model=c.model, prompt=prompt, max_tokens=c.max_tokens,
        stream=c.stream, headers=[], body_extra=None, tag=None, session=None,
        prompt_tokens=None, inputs=[], model_version=None, body=None, method=None,
        path=None, batch_size=None, gap_ns=None, keep_text=False,
    )
