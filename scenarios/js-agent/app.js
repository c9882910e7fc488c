// js-agent: agent sessions with tool calls, written in JavaScript.
//
// Each task is a session: the model is offered two tools (`search`, `read_file`); when
// it calls them, the scenario answers with synthetic results and the host sends the next
// turn after the tools' latency (and the user's think time). The host keeps each task's
// conversation (the request's `history`): a turn hands over only its new messages, and
// the host sends them after everything said so far, the model's answers included. A task ends when the model
// answers without calling a tool, after `steps` tool rounds, or when a request fails.
// `sessions` tasks are in flight at once (the `sessions` load) until `tasks` have run.
//
// Parameters (all optional):
// - `tasks` (default 100), `sessions` (tasks in flight, default 10)
// - `max_tokens` (default 32), `model` (default: `--model`, else the target's first)
// - `system_tokens` (the shared system prompt's length with `--tokenizer`, default 200)
// - `tool_ms_min`, `tool_ms_max` (each tool call's latency, uniform, default 50 to 150 ms)
// - `think_ms` (the user's think time before each follow-up, default 0)
// - `steps` (tool rounds before the task must answer, default 1)
//
// Build: ./build.sh in a `volley new` project, which runs
//   componentize-js app.js --wit wit --world-name scenario -d http -d fetch-event -o js-agent.wasm

import { nextU64, nextF64 } from "volley:scenario/random@0.6.0";
import { available, synthText } from "volley:scenario/tokenizer@0.6.0";

const NAME = "js-agent";
const VERSION = "0.1.0";

// Parameters and their defaults.
const DEFAULTS = {
  tasks: 100, sessions: 10, max_tokens: 32, system_tokens: 200,
  tool_ms_min: 50, tool_ms_max: 150, think_ms: 0, steps: 1, model: undefined,
};
const FRACTIONAL = ["tool_ms_min", "tool_ms_max", "think_ms"];

const TASKS = [
  "Find where the HTTP retry limit is configured and say what it is.",
  "Find the function that parses the command line and list its flags.",
  "Locate the default timeout of the client and explain how to change it.",
];

/** A tool taking one string argument; its parameters are a JSON schema. */
function tool(name, description, arg) {
  const schema = { type: "object", properties: { [arg]: { type: "string" } }, required: [arg] };
  return { name, description, parameters: JSON.stringify(schema) };
}

const TOOLS = [
  tool("search", "Search the repository; returns matching file paths.", "query"),
  tool("read_file", "Read a file of the repository.", "path"),
];

let P = { ...DEFAULTS }; // the parameters, once `configure` has read them
let SYSTEM = ""; // the system prompt every task shares
// Session id (a BigInt, as u64 is in JS) -> { messages, rounds: tool rounds so far }.
const SESSIONS = new Map();

/** A chat message: list fields are given (empty when unused); an option may be left undefined. */
function msg(role, content, toolCalls = [], toolCallId = undefined) {
  return { role, content, parts: [], toolCalls, toolCallId };
}

/** Turn 1, "plan": the shared system prompt and this task's text. */
function firstTurn(task) {
  const text = TASKS[Number((nextU64() * BigInt(TASKS.length)) >> 64n)]; // uniform, as the Rust SDK's `below`
  const session = BigInt(task);
  const messages = [msg("system", SYSTEM), msg("user", `Task ${task}: ${text}`)];
  SESSIONS.set(session, { rounds: 0 });
  return chat(session, messages, P.steps === 0, undefined);
}

function chat(session, messages, final, delay) {
  return {
    api: "chat-completions",
    model: P.model,
    prompt: { tag: "chat", val: [...messages] },
    maxTokens: P.max_tokens,
    stream: true,
    headers: [],
    inputs: [],
    session,
    keepText: false, // a session's outcomes carry the text and tool calls anyway
    tools: TOOLS,
    toolChoice: final ? { tag: "none" } : { tag: "auto" },
    delay, // none on a first turn: the stage's load paces those
    history: 0, // the host keeps the conversation: send only what is new
  };
}

export const workload = {
  describe() {
    return { name: NAME, version: VERSION, description: "Agent sessions with tool calls (JavaScript)" };
  },

  configure(text) {
    let given;
    try {
      given = JSON.parse(text);
    } catch (e) {
      throw `parameters are not valid JSON: ${e.message}`;
    }
    if (given === null || typeof given !== "object" || Array.isArray(given)) throw "parameters must be a JSON object";
    P = { ...DEFAULTS };
    for (const [key, value] of Object.entries(given)) {
      if (!(key in DEFAULTS)) throw `unknown parameter \`${key}\` (known: ${Object.keys(DEFAULTS).join(", ")})`;
      if (key === "model") {
        if (typeof value !== "string") throw `parameter \`model\` must be a string, got ${JSON.stringify(value)}`;
      } else if (typeof value !== "number" || !Number.isFinite(value) || value < 0) {
        throw `parameter \`${key}\` must be a non-negative number, got ${JSON.stringify(value)}`;
      } else if (!FRACTIONAL.includes(key) && !Number.isInteger(value)) {
        throw `parameter \`${key}\` must be an integer, got ${JSON.stringify(value)}`;
      }
      P[key] = value;
    }
    if (P.tasks < 1 || P.sessions < 1) throw "`tasks` and `sessions` must be at least 1";
    if (P.tool_ms_max < P.tool_ms_min) throw "`tool_ms_max` must not be below `tool_ms_min`";
    // One system prompt for all tasks: a prefix the server can cache.
    SYSTEM = available()
      ? synthText(P.system_tokens, 7n)
      : "You are a coding agent. Use the tools to look around the repository, then answer briefly.";
    // `sessions` tasks in flight; in a sessions stage `maxRequests` counts the sessions
    // opened (the requests `nextRequests` returns), so it is the task count.
    const stage = { name: "agents", load: { tag: "sessions", val: P.sessions }, maxRequests: BigInt(P.tasks) };
    // observeOutcomes: `onOutcome` is where an agent decides its next turn.
    return { stages: [stage], observeOutcomes: true, adaptive: false };
  },

  nextRequests(stage, seq, max) {
    // Each request returned here opens a task (a session: its id is the task number).
    const end = Math.min(Number(seq) + max, P.tasks);
    const requests = [];
    for (let task = Number(seq); task < end; task++) requests.push(firstTurn(task));
    return { requests, done: end >= P.tasks };
  },

  onOutcome(outcome) {
    const sid = outcome.session;
    const state = sid === undefined ? undefined : SESSIONS.get(sid);
    if (state === undefined) return { requests: [], end: "failed" };
    if (!outcome.ok) {
      SESSIONS.delete(sid);
      return { requests: [], end: "failed" };
    }
    // No tool call (the model answered), or the final turn: the task is done.
    const calls = outcome.toolCalls;
    if (calls.length === 0 || state.rounds >= P.steps) {
      SESSIONS.delete(sid);
      return { requests: [], end: "completed" };
    }
    // Run the tools: one tool message answering each call by its id. The host kept the
    // conversation and the model's turn with its calls; these follow them.
    state.rounds += 1;
    const results = [];
    for (const call of calls) {
      const result = `${call.name}(${call.arguments}) returned: src/config.rs: const MAX_RETRIES: u32 = 3;`;
      results.push(msg("tool", result, [], call.id));
    }
    // The calls run side by side, so the tools take as long as the slowest. The host
    // waits this long after the outcome before sending; the scenario never sleeps.
    let toolMs = 0;
    for (const _ of calls) toolMs = Math.max(toolMs, P.tool_ms_min + (P.tool_ms_max - P.tool_ms_min) * nextF64());
    const delay = { toolNs: BigInt(Math.floor(toolMs * 1e6)), thinkNs: BigInt(Math.floor(P.think_ms * 1e6)) };
    // After the last tool round the model must answer: tool choice none.
    return { requests: [chat(sid, results, state.rounds >= P.steps, delay)], end: undefined };
  },

  // A fixed plan: no stages decided during the run.
  nextStage(results) {
    return undefined;
  },
};
