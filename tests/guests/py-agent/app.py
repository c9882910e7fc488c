"""py-agent: a Python scenario against volley:scenario@0.6.0 (a test guest).

Agent sessions: `tasks` tasks, `sessions` of them in flight (the `sessions` load, the
stage bounded by `max-requests` = tasks: in a sessions stage that counts the sessions
opened). Each task is one session whose id is the task's number:

- turn 1, "plan": a streamed chat request with a shared system prompt and the task's
  user text, offering two tools (`search(query)`, `read_file(path)`), tool choice auto;
- `on-outcome`: a failed outcome ends the task failed; an outcome with tool calls gets
  one follow-up: the conversation so far, an assistant message carrying exactly the
  model's tool calls, and one tool message per call (a synthetic result), sent
  `delay` after the outcome: tool-ns = the slowest call's latency, each drawn uniformly
  from [`tool_ms_min`, `tool_ms_max`] ms with the host's random stream; think-ns =
  `think_ms`. An outcome without tool calls ends the task completed;
- after `steps` tool rounds the next turn gets tool choice none, and its outcome ends
  the task completed.

The per-session state is a dict keyed by session id, deleted when the task ends.

Parameters (all optional): `tasks` (100), `sessions` (10), `max_tokens` (32),
`system_tokens` (200; used when the operator gave a tokenizer, else a fixed system
text), `tool_ms_min` (50), `tool_ms_max` (150), `think_ms` (0), `steps` (1), `model`.

Build (as py-vision): `volley new py-agent --lang python --template agent`, copy this
file over its app.py, then its ./build.sh, which runs
    componentize-py -d wit -w scenario componentize app -o py-agent.wasm
"""

import json
from typing import Dict, List, Optional

from componentize_py_types import Err
from wit_world import exports
from wit_world.exports.workload import Info
from wit_world.imports import random, tokenizer
from wit_world.imports.types import (
    Api, Batch, Delay, Load_Sessions, Message, Outcome, Plan, Prompt_Chat, Reaction, Request,
    Stage, TaskEnd, Tool, ToolCall, ToolChoice, ToolChoice_Auto, ToolChoice_None_,
)

NAME = "py-agent"
VERSION = "0.1.0"

KNOWN = [
    "tasks", "sessions", "max_tokens", "system_tokens", "tool_ms_min", "tool_ms_max", "think_ms",
    "steps", "model",
]

FIXED_SYSTEM = (
    "You are a coding agent working in a software repository. Use the tools to find what "
    "you need: `search` finds files by a query, `read_file` returns a file's contents. "
    "Call the tools you need, then answer briefly."
)

TASKS = [
    "Find where the HTTP retry limit is configured and say what it is.",
    "Find the function that parses the command line and list its flags.",
    "Find out which tests cover the tokenizer and summarise them.",
    "Locate the default timeout of the client and explain how to change it.",
    "Find where the report is written and name its output files.",
    "Find the code that validates parameters and list the checks it makes.",
]

TOOLS = [
    Tool(
        "search",
        "Search the repository; returns the paths of matching files.",
        json.dumps({
            "type": "object",
            "properties": {"query": {"type": "string", "description": "What to look for"}},
            "required": ["query"],
        }),
    ),
    Tool(
        "read_file",
        "Read a file of the repository; returns its text.",
        json.dumps({
            "type": "object",
            "properties": {"path": {"type": "string", "description": "The file's path"}},
            "required": ["path"],
        }),
    ),
]


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
        if isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0:
            raise Err(f"parameter `{key}` must be a non-negative number, got {json.dumps(v)}")
        return float(v)

    def integer(self, key, default, bits=64):
        v = self.values.get(key, default)
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            raise Err(f"parameter `{key}` must be a non-negative integer, got {json.dumps(v)}")
        if v >= 1 << bits:
            raise Err(f"parameter `{key}` is too large: {v}")
        return v

    def string(self, key, default):
        v = self.values.get(key, default)
        if v is not None and not isinstance(v, str):
            raise Err(f"parameter `{key}` must be a string, got {json.dumps(v)}")
        return v


class Config:
    """What `configure` read; module level, as componentize-py may make a new `Workload`
    object for each call from the host."""

    tasks = 100
    max_tokens = 32
    tool_ms_min = 50.0
    tool_ms_max = 150.0
    think_ms = 0.0
    steps = 1
    model: Optional[str] = None
    system = FIXED_SYSTEM


CONFIG = Config()


class Session:
    """One task in flight: its conversation so far and the tool rounds it has had."""

    def __init__(self, messages: List[Message]):
        self.messages = messages
        self.rounds = 0


# Open sessions by id; a task's entry is deleted when it ends.
SESSIONS: Dict[int, Session] = {}


def below(n: int) -> int:
    """Uniform in [0, n) from one 64-bit draw (multiply-shift, as the Rust SDK)."""
    return 0 if n == 0 else (random.next_u64() * n) >> 64


class Workload(exports.Workload):
    def describe(self) -> Info:
        return Info(NAME, VERSION, "Agent sessions with tool calls (Python, WIT 0.6)")

    def configure(self, params: str) -> Plan:
        p = Params(params)
        p.allow_only(KNOWN)
        tasks = p.integer("tasks", 100)
        if tasks == 0:
            raise Err("`tasks` must be at least 1")
        sessions = p.integer("sessions", 10, bits=32)
        if sessions == 0:
            raise Err("`sessions` must be at least 1")
        CONFIG.tasks = tasks
        CONFIG.max_tokens = p.integer("max_tokens", 32, bits=32)
        system_tokens = p.integer("system_tokens", 200, bits=32)
        CONFIG.tool_ms_min = p.number("tool_ms_min", 50)
        CONFIG.tool_ms_max = p.number("tool_ms_max", 150)
        if CONFIG.tool_ms_max < CONFIG.tool_ms_min:
            raise Err(f"`tool_ms_max` ({CONFIG.tool_ms_max}) is below `tool_ms_min` ({CONFIG.tool_ms_min})")
        CONFIG.think_ms = p.number("think_ms", 0)
        CONFIG.steps = p.integer("steps", 1, bits=32)
        CONFIG.model = p.string("model", None)
        # One system prompt shared by every task (a prefix the server can cache).
        CONFIG.system = tokenizer.synth_text(system_tokens, 7) if tokenizer.available() else FIXED_SYSTEM
        SESSIONS.clear()
        # In a sessions stage `max-requests` counts the sessions opened: the tasks.
        stage = Stage("agents", Load_Sessions(sessions), None, tasks, None, None, None)
        return Plan([stage], observe_outcomes=True, adaptive=False)

    def next_requests(self, stage: int, seq: int, max: int) -> Batch:
        # Each request returned here opens a task; its session id is the task's number.
        end = min(seq + max, CONFIG.tasks)
        return Batch([first_turn(task) for task in range(seq, end)], end >= CONFIG.tasks)

    def on_outcome(self, outcome: Outcome) -> Reaction:
        if outcome.session is None or outcome.session not in SESSIONS:
            return Reaction([], TaskEnd.FAILED)
        sid = outcome.session
        state = SESSIONS[sid]
        if not outcome.ok:
            del SESSIONS[sid]
            return Reaction([], TaskEnd.FAILED)
        # The turn after the last tool round (tool choice none) ends the task, as does an
        # answer without tool calls.
        if state.rounds >= CONFIG.steps or not outcome.tool_calls:
            del SESSIONS[sid]
            return Reaction([], TaskEnd.COMPLETED)
        state.rounds += 1
        calls = list(outcome.tool_calls)
        # The assistant's turn, carrying exactly the calls the model made, then one tool
        # message answering each call by its id.
        state.messages.append(Message("assistant", outcome.text or "", [], calls, None))
        for call in calls:
            state.messages.append(Message("tool", tool_result(call), [], [], call.id))
        # The calls run in parallel: the tools take as long as the slowest one.
        tool_ns = max(tool_latency_ns() for _ in calls)
        delay = Delay(tool_ns, int(CONFIG.think_ms * 1_000_000))
        follow = chat(sid, state.messages, final=state.rounds >= CONFIG.steps, delay=delay)
        return Reaction([follow], None)

    def next_stage(self, results) -> Optional[Stage]:
        return None


def first_turn(task: int) -> Request:
    """Turn 1, "plan": the shared system prompt and the task's text."""
    user = f"Task {task}: {TASKS[below(len(TASKS))]}"
    messages = [Message("system", CONFIG.system, [], [], None), Message("user", user, [], [], None)]
    SESSIONS[task] = Session(messages)
    return chat(task, messages, final=CONFIG.steps == 0, delay=None)


def chat(session: int, messages: List[Message], final: bool, delay: Optional[Delay]) -> Request:
    choice: ToolChoice = ToolChoice_None_() if final else ToolChoice_Auto()
    return Request(
        api=Api.CHAT_COMPLETIONS, model=CONFIG.model, prompt=Prompt_Chat(list(messages)),
        max_tokens=CONFIG.max_tokens, stream=True, headers=[], body_extra=None, tag=None,
        session=session, prompt_tokens=None, inputs=[], model_version=None, body=None,
        method=None, path=None, batch_size=None, gap_ns=None,
        # Requests with a session get their text and tool calls back anyway.
        keep_text=False,
        tools=TOOLS, tool_choice=choice, delay=delay,
        # This guest sends the whole conversation every turn (the templates have the
        # host keep it): both ways are tested.
        history=None,
        key=None,
    )


def tool_latency_ns() -> int:
    """One call's latency, uniform in [tool_ms_min, tool_ms_max] ms."""
    ms = CONFIG.tool_ms_min + (CONFIG.tool_ms_max - CONFIG.tool_ms_min) * random.next_f64()
    return int(ms * 1_000_000)


def tool_result(call: ToolCall) -> str:
    """A synthetic result for `call`, naming what it was asked."""
    try:
        args = json.loads(call.arguments)
    except ValueError:
        args = {}
    if not isinstance(args, dict):
        args = {}
    if call.name == "search":
        query = str(args.get("query", ""))
        return json.dumps({"matches": ["src/config.rs", "src/client/retry.rs", "docs/usage.md"], "query": query})
    if call.name == "read_file":
        path = str(args.get("path", "src/config.rs"))
        return json.dumps({"path": path, "text": "pub const MAX_RETRIES: u32 = 3;\npub const TIMEOUT_S: u64 = 30;\n"})
    return json.dumps({"error": f"unknown tool {call.name!r}"})
