"""Writes the nginx configuration of the benchmark's target: a fixed OpenAI completion
(non-streaming, port A), a fixed stream of 16 chunks plus usage and [DONE] (port B), and
a long stream of 1,024 one-token chunks (port C: the stream-parsing row), with
/v1/models and /health, one worker, no access log (../shared/peers/NOTES.md).

usage: nginx-conf.py DIR PORT_PLAIN PORT_STREAM PORT_LONG > nginx.conf
"""
import json
import sys

work, plain, stream, long_stream = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
base = {"id": "cmpl-1", "object": "text_completion", "created": 0, "model": "tiny"}
completion = dict(base, choices=[{"index": 0, "text": " a b c d", "finish_reason": "length"}],
                  usage={"prompt_tokens": 8, "completion_tokens": 4, "total_tokens": 12})
events = [dict(base, choices=[{"index": 0, "text": " tok", "finish_reason": None}]) for _ in range(16)]
events.append(dict(base, choices=[], usage={"prompt_tokens": 8, "completion_tokens": 16, "total_tokens": 24}))
body = "".join(f"data: {json.dumps(e)}\\n\\n" for e in events) + "data: [DONE]\\n\\n"
long_events = [dict(base, choices=[{"index": 0, "text": " t", "finish_reason": None}]) for _ in range(1024)]
long_events.append(dict(base, choices=[], usage={"prompt_tokens": 8, "completion_tokens": 1024, "total_tokens": 1032}))
# Too long for a `return` string: served as a file (a POST to a file is a 405, turned
# into the file's 200 by error_page).
with open(f"{work}/long.sse", "w") as f:
    f.write("".join(f"data: {json.dumps(e)}\n\n" for e in long_events) + "data: [DONE]\n\n")
models = json.dumps({"object": "list", "data": [{"id": "tiny", "object": "model"}]})


def quote(s):
    return "'" + s.replace("\\'", "'").replace("'", "\\'") + "'"


def server(port, content_type, payload):
    return f"""
  server {{
    listen 127.0.0.1:{port};
    location = /v1/models {{ default_type application/json; return 200 {quote(models)}; }}
    location = /health {{ return 200 'ok'; }}
    location / {{ default_type {content_type}; return 200 {quote(payload)}; }}
  }}"""


temps = "\n".join(f"  {k}_temp_path {work}/{k};" for k in ["client_body", "proxy", "fastcgi", "uwsgi", "scgi"])
print(f"""worker_processes 1;
pid {work}/nginx.pid;
error_log {work}/nginx-error.log warn;
events {{ worker_connections 19000; }}
http {{
  access_log off;
  keepalive_requests 10000000;
  keepalive_timeout 120s;
{temps}
{server(plain, "application/json", json.dumps(completion))}
{server(stream, "text/event-stream", body)}
  server {{
    listen 127.0.0.1:{long_stream};
    location = /v1/models {{ default_type application/json; return 200 {quote(models)}; }}
    location = /health {{ return 200 'ok'; }}
    location = /long.sse {{ root {work}; default_type text/event-stream; }}
    location / {{ error_page 405 =200 /long.sse; root {work}; default_type text/event-stream; try_files /long.sse =404; }}
  }}
}}""")
