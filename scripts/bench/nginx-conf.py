"""Writes the nginx configuration of the benchmark's target: a fixed OpenAI completion
(non-streaming, port A) and a fixed stream of 16 chunks plus usage and [DONE] (port B),
with /v1/models and /health, one worker, no access log (../shared/peers/NOTES.md).

usage: nginx-conf.py DIR PORT_PLAIN PORT_STREAM > nginx.conf
"""
import json
import sys

work, plain, stream = sys.argv[1], sys.argv[2], sys.argv[3]
base = {"id": "cmpl-1", "object": "text_completion", "created": 0, "model": "tiny"}
completion = dict(base, choices=[{"index": 0, "text": " a b c d", "finish_reason": "length"}],
                  usage={"prompt_tokens": 8, "completion_tokens": 4, "total_tokens": 12})
events = [dict(base, choices=[{"index": 0, "text": " tok", "finish_reason": None}]) for _ in range(16)]
events.append(dict(base, choices=[], usage={"prompt_tokens": 8, "completion_tokens": 16, "total_tokens": 24}))
body = "".join(f"data: {json.dumps(e)}\\n\\n" for e in events) + "data: [DONE]\\n\\n"
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
}}""")
