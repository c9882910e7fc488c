"""python-agent: agent sessions with tool calls, written in Python.

Each task is a session: the model is offered two tools (`search`, `read_file`); when
it calls them, the scenario answers with synthetic results and the host sends the next
turn after the tools' latency (and the user's think time). The host keeps each task's
conversation (the request's `history`): a turn hands over only its new messages, and the
host sends them after everything said so far, the model's answers included. A task ends when the model
answers without calling a tool, after `steps` tool rounds, or when a request fails.
`sessions` tasks are in flight at once (the `sessions` load) until `tasks` have run.

Parameters (all optional):
- `tasks` (default 100), `sessions` (tasks in flight, default 10)
- `max_tokens` (default 32), `model` (default: `--model`, else the target's first)
- `system_tokens` (the shared system prompt's length with `--tokenizer`, default 200)
- `tool_ms_min`, `tool_ms_max` (each tool call's latency, uniform, default 50 to 150 ms)
- `think_ms` (the user's think time before each follow-up, default 0)
- `steps` (tool rounds before the task must answer, default 1)

Build: ./build.sh in a `volley new` project, which runs
    componentize-py -d wit -w scenario componentize app -o python-agent.wasm
"""

import json
from typing import Optional

from componentize_py_types import Err
from wit_world import exports
from wit_world.exports.workload import Info
from wit_world.imports import random, tokenizer
from wit_world.imports.types import (
    Api, Batch, Delay, Load_Sessions, Message, Plan, Prompt_Chat, Reaction, Request, Stage,
    TaskEnd, Tool, ToolChoice_Auto, ToolChoice_None_,
)

NAME = "python-agent"
VERSION = "0.1.0"

# Parameters and their defaults.
DEFAULTS = {
    "tasks": 100, "sessions": 10, "max_tokens": 32, "system_tokens": 200,
    "tool_ms_min": 50, "tool_ms_max": 150, "think_ms": 0, "steps": 1, "model": None,
}

TASKS = [
    "Find where the HTTP retry limit is configured and say what it is.",
    "Find the function that parses the command line and list its flags.",
    "Locate the default timeout of the client and explain how to change it.",
]


def tool(name: str, description: str, arg: str) -> Tool:
    """A tool taking one string argument; its parameters are a JSON schema (compact, as
    JavaScript's JSON.stringify writes it, so both templates send the same bytes)."""
    schema = {"type": "object", "properties": {arg: {"type": "string"}}, "required": [arg]}
    return Tool(name, description, json.dumps(schema, separators=(",", ":")))


TOOLS = [
    tool("search", "Search the repository; returns matching file paths.", "query"),
    tool("read_file", "Read a file of the repository.", "path"),
]

# Module-level state: componentize-py may make a new `Workload` object for every call.
P = dict(DEFAULTS)  # the parameters, once `configure` has read them
SYSTEM = ""  # the system prompt every task shares
SESSIONS = {}  # session id -> {"rounds": tool rounds so far}


def msg(role: str, content: str, calls=(), call_id: Optional[str] = None) -> Message:
    return Message(role, content, [], list(calls), call_id)


class Workload(exports.Workload):
    def describe(self) -> Info:
        return Info(NAME, VERSION, "Agent sessions with tool calls (Python)")

    def configure(self, params: str) -> Plan:
        global SYSTEM
        try:
            given = json.loads(params)
        except ValueError as e:
            raise Err(f"parameters are not valid JSON: {e}")
        if not isinstance(given, dict):
            raise Err("parameters must be a JSON object")
        P.clear()
        P.update(DEFAULTS)
        for key, value in given.items():
            if key not in DEFAULTS:
                raise Err(f"unknown parameter `{key}` (known: {', '.join(DEFAULTS)})")
            if key == "model":
                if not isinstance(value, str):
                    raise Err(f"parameter `model` must be a string, got {json.dumps(value)}")
            elif isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise Err(f"parameter `{key}` must be a non-negative number, got {json.dumps(value)}")
            elif key not in ("tool_ms_min", "tool_ms_max", "think_ms") and not isinstance(value, int):
                raise Err(f"parameter `{key}` must be an integer, got {json.dumps(value)}")
            P[key] = value
        if P["tasks"] < 1 or P["sessions"] < 1:
            raise Err("`tasks` and `sessions` must be at least 1")
        if P["tool_ms_max"] < P["tool_ms_min"]:
            raise Err("`tool_ms_max` must not be below `tool_ms_min`")
        # One system prompt for all tasks: a prefix the server can cache.
        if tokenizer.available():
            SYSTEM = tokenizer.synth_text(P["system_tokens"], 7)
        else:
            SYSTEM = "You are a coding agent. Use the tools to look around the repository, then answer briefly."
        # `sessions` tasks in flight; in a sessions stage `max-requests` counts the
        # sessions opened (the requests `next_requests` returns), so it is the task count.
        stage = Stage("agents", Load_Sessions(P["sessions"]), None, P["tasks"], None, None, None)
        # observe_outcomes: `on_outcome` is where an agent decides its next turn.
        return Plan([stage], observe_outcomes=True, adaptive=False)

    def next_requests(self, stage: int, seq: int, max: int) -> Batch:
        # Each request returned here opens a task (a session: its id is the task number).
        tasks = P["tasks"]
        end = min(seq + max, tasks)
        return Batch([first_turn(task) for task in range(seq, end)], end >= tasks)

    def on_outcome(self, outcome) -> Reaction:
        sid = outcome.session
        state = SESSIONS.get(sid)
        if state is None:
            return Reaction([], TaskEnd.FAILED)
        if not outcome.ok:
            del SESSIONS[sid]
            return Reaction([], TaskEnd.FAILED)
        # No tool call (the model answered), or the final turn: the task is done.
        if not outcome.tool_calls or state["rounds"] >= P["steps"]:
            del SESSIONS[sid]
            return Reaction([], TaskEnd.COMPLETED)
        # Run the tools: one tool message answering each call by its id. The host kept
        # the conversation and the model's turn with its calls; these follow them.
        state["rounds"] += 1
        messages = []
        for call in outcome.tool_calls:
            result = f"{call.name}({call.arguments}) returned: src/config.rs: const MAX_RETRIES: u32 = 3;"
            messages.append(msg("tool", result, call_id=call.id))
        # The calls run side by side, so the tools take as long as the slowest. The host
        # waits this long after the outcome before sending; the scenario never sleeps.
        lo, hi = P["tool_ms_min"], P["tool_ms_max"]
        tool_ms = max(lo + (hi - lo) * random.next_f64() for _ in outcome.tool_calls)
        delay = Delay(int(tool_ms * 1e6), int(P["think_ms"] * 1e6))
        # After the last tool round the model must answer: tool choice none.
        return Reaction([chat(sid, messages, state["rounds"] >= P["steps"], delay)], None)

    def next_stage(self, results) -> Optional[Stage]:
        return None  # a fixed plan


def first_turn(task: int) -> Request:
    """Turn 1, "plan": the shared system prompt and this task's text."""
    text = TASKS[(random.next_u64() * len(TASKS)) >> 64]  # uniform pick, as the Rust SDK's `below`
    messages = [msg("system", SYSTEM), msg("user", f"Task {task}: {text}")]
    SESSIONS[task] = {"rounds": 0}
    return chat(task, messages, P["steps"] == 0, None)


def chat(session: int, messages, final: bool, delay: Optional[Delay]) -> Request:
    return Request(
        api=Api.CHAT_COMPLETIONS, model=P["model"], prompt=Prompt_Chat(list(messages)),
        max_tokens=P["max_tokens"], stream=True, headers=[], body_extra=None, tag=None,
        session=session, prompt_tokens=None, inputs=[], model_version=None, body=None,
        method=None, path=None, batch_size=None, gap_ns=None,
        keep_text=False,  # a session's outcomes carry the text and tool calls anyway
        tools=TOOLS, tool_choice=ToolChoice_None_() if final else ToolChoice_Auto(),
        delay=delay,  # none on a first turn: the stage's load paces those
        history=0,  # the host keeps the conversation: send only what is new
        key=None,
    )
