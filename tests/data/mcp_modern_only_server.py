"""A stdio MCP server of the 2026-07-28 era only, written on raw JSON-RPC as a third party might:
it refuses the ``initialize`` handshake (-32022, naming the versions it serves) and answers
``server/discover``, ``tools/list`` and ``tools/call`` (one tool, ``echo``) with the per-request
envelope. The eras a request came in are appended to the file named by ``ERA_LOG``, if set."""

import json
import os
import sys

VERSION = "2026-07-28"
META = {"io.modelcontextprotocol/serverInfo": {"name": "modern-only", "version": "1"}}
TOOL = {
    "name": "echo",
    "description": "Echo the text back.",
    "inputSchema": {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]},
}


def answer(msg):
    method, params = msg.get("method"), msg.get("params") or {}
    era = "modern" if "io.modelcontextprotocol/protocolVersion" in (params.get("_meta") or {}) else "handshake"
    if os.environ.get("ERA_LOG"):
        with open(os.environ["ERA_LOG"], "a") as log:
            log.write(f"{method} {era}\n")
    if method == "initialize":
        requested = params.get("protocolVersion", "")
        return {
            "error": {
                "code": -32022,
                "message": "this server speaks 2026-07-28 only",
                "data": {"supported": [VERSION], "requested": requested},
            }
        }
    if era != "modern":
        return {"error": {"code": -32600, "message": "requests must carry the 2026-07-28 envelope"}}
    common = {"resultType": "complete", "_meta": META}
    if method == "server/discover":
        return {
            "result": {
                "supportedVersions": [VERSION],
                "capabilities": {"tools": {"listChanged": False}},
                "cacheScope": "private",
                "ttlMs": 0,
                **common,
            }
        }
    if method == "tools/list":
        return {"result": {"tools": [TOOL], "cacheScope": "private", "ttlMs": 0, **common}}
    if method == "tools/call" and params.get("name") == "echo":
        text = (params.get("arguments") or {}).get("text", "")
        return {"result": {"content": [{"type": "text", "text": f"echo: {text}"}], "isError": False, **common}}
    return {"error": {"code": -32601, "message": f"no method {method}"}}


for line in sys.stdin:
    msg = json.loads(line)
    if "id" not in msg:
        continue
    sys.stdout.write(json.dumps({"jsonrpc": "2.0", "id": msg["id"], **answer(msg)}) + "\n")
    sys.stdout.flush()
