"""liteagent's MCP client as the conformance suite's client under test: the suite runs
``python conformance_client.py URL`` with the scenario in MCP_CONFORMANCE_SCENARIO. Everything
goes through liteagent's own client (an MCP config entry, MCPToolkit, ActionExecutor), as a user's
agent would; where a person is needed, a scripted one stands in: signing in is done by the
"browser" ($BROWSER, browser.py) and a form is accepted as shown, defaults and all (Enter)."""

from __future__ import annotations

import json
import os
import sys

from liteagent import ActionExecutor
from liteagent.actions.context import HOST, Elicited, LocalHost
from liteagent.mcp import MCPServerConfig, MCPToolkit


class PersonWhoAccepts(LocalHost):
    async def elicit(self, message, schema):
        return Elicited("accept", {})  # every field left as the form shows it


CALLS = {
    "initialize": None,
    "tools_call": ("add_numbers", {"a": 5, "b": 3}),
    "sse-retry": ("test_reconnection", {}),
    "elicitation-sep1034-client-defaults": ("test_client_elicitation_defaults", {}),
}


def main() -> int:
    url, scenario = sys.argv[-1], os.environ.get("MCP_CONFORMANCE_SCENARIO", "")
    context = json.loads(os.environ.get("MCP_CONFORMANCE_CONTEXT") or "{}")
    auth = scenario.startswith("auth/")
    cfg = MCPServerConfig(
        "conformance",
        url=url,
        auth="oauth" if auth else None,
        client_id=context.get("client_id"),
        client_secret=context.get("client_secret"),
        # the suite's own client metadata document (what a user who hosts one puts in the entry)
        client_metadata_url="https://conformance-test.local/client-metadata.json" if auth else None,
    )
    kit = MCPToolkit(cfg, connect_timeout=25, call_timeout=20)
    executor = ActionExecutor([kit])
    HOST.set(PersonWhoAccepts())
    names = [api.spec.name for api in executor.apis]
    call = CALLS.get(scenario) if not auth else ((names[0], {}) if names else None)
    if call is not None:
        ret = executor.execute(f"conformance.{call[0]}", call[1])
        print(json.dumps(ret.to_dict(), default=str))
        if not ret.ok and not auth:
            return 1
    kit.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
