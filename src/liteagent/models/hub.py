"""The Hugging Face Hub: ``pull`` fetches a model's GGUF files from it (or from the mirror
``HF_ENDPOINT`` names) into the Hugging Face cache, checks each against the sha256 the Hub
publishes, and records the model in the index.

The bytes are fetched here, not by ``hf_hub_download``: since huggingface_hub 1.0 its partial file
has a per-process name and is deleted when a download fails, so a 4.7 GB pull cut at 90 % would
start over. Ours keeps ``blobs/<etag>.incomplete`` (the name huggingface_hub 0.x resumed too) and
goes on from it with a ``Range`` request; ``hf_hub_download`` then links the verified blob into the
cache's snapshot, where every Hugging Face tool finds it.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import os
import time
import urllib.error
import urllib.request
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ..errors import LiteAgentError, UsageError
from .catalog import ModelRef, resolve
from .index import InstalledModel, lookup, record

DEFAULT_ENDPOINT = "https://huggingface.co"
READ_TIMEOUT = 30.0  # seconds without a byte before a download counts as cut
RETRIES = 3  # a cut connection is resumed this many times before the pull gives up (the next pull resumes too)
RETRY_PAUSE = 1.0  # seconds, times the attempt's number
_CHUNK = 1 << 20


@dataclass(frozen=True)
class Hub:
    """Where the Hub is and who asks, read from the environment when a pull starts (huggingface_hub
    reads HF_ENDPOINT and HF_HOME once, at its import)."""

    endpoint: str
    token: str | None
    cache_dir: Path

    @classmethod
    def from_env(cls) -> Hub:
        env = os.environ
        home = env.get("HF_HOME") or os.path.join(env.get("XDG_CACHE_HOME") or "~/.cache", "huggingface")
        cache = env.get("HF_HUB_CACHE") or env.get("HUGGINGFACE_HUB_CACHE") or os.path.join(home, "hub")
        token = env.get("HF_TOKEN") or env.get("HUGGING_FACE_HUB_TOKEN") or None
        return cls((env.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/"), token, Path(cache).expanduser())


def pull(name: str, revision: str = "main", *, progress: bool = True, retries: int = RETRIES) -> InstalledModel:
    """Download the model ``name`` (a catalog name or REPO/FILE.gguf) at ``revision``, verify it,
    and record it so ``AgentConfig(model=name)`` runs it offline. Pulling again resumes a cut
    download, or only checks that the files are there when they are."""
    ref = resolve(name)
    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on"):
        raise UsageError(f"HF_HUB_OFFLINE is set: pulling {ref.name} needs the Hub; unset it to pull")
    try:
        from huggingface_hub import get_hf_file_metadata, hf_hub_url
    except ImportError:
        raise UsageError("pulling models needs huggingface_hub: pip install huggingface_hub") from None
    hub = Hub.from_env()
    prior = lookup(ref.name)
    commit: str | None = None
    paths: list[str] = []
    sums: list[str | None] = []
    size = 0
    for filename in ref.files:
        with _hub_errors(ref, filename, revision, hub):
            url = hf_hub_url(ref.repo, filename, revision=commit or revision, endpoint=hub.endpoint)
            meta = get_hf_file_metadata(url, token=hub.token, endpoint=hub.endpoint)
            if not meta.commit_hash or not meta.etag:
                raise UsageError(
                    f"{hub.endpoint} gave no commit or ETag for {ref.repo}/{filename}: is HF_ENDPOINT a Hugging Face Hub?"
                )
            commit = commit or meta.commit_hash  # every part from the same commit
            known = None
            if prior is not None and prior.commit == commit and filename in prior.files:
                known = prior.sha256[prior.files.index(filename)]
            path, digest = _fetch(ref, filename, commit, meta, hub, known, progress=progress, retries=retries)
        paths.append(str(path))
        sums.append(digest)
        size += path.stat().st_size
    assert commit is not None
    _remember_revision(hub, ref.repo, revision, commit)
    model = InstalledModel(
        name=ref.name, repo=ref.repo, revision=revision, commit=commit, files=ref.files, paths=tuple(paths),
        sha256=tuple(sums), size=size, dialect=ref.dialect, context=ref.context,
    )  # fmt: skip
    record(model)
    return model


def _fetch(
    ref: ModelRef,
    filename: str,
    commit: str,
    meta: Any,
    hub: Hub,
    known: str | None,
    *,
    progress: bool,
    retries: int,
) -> tuple[Path, str | None]:
    """One file into the cache, verified: (its path in the snapshot, its sha256)."""
    from huggingface_hub import hf_hub_download
    from huggingface_hub.file_download import repo_folder_name

    expected = _hub_sha256(ref.repo, filename, commit, hub)
    blobs = hub.cache_dir / repo_folder_name(repo_id=ref.repo, repo_type="model") / "blobs"
    blob = blobs / meta.etag
    where = f"{ref.repo}/{filename}"
    actual: str | None = None
    if blob.is_file():
        bad_size = meta.size is not None and blob.stat().st_size != meta.size
        actual = None if bad_size else known if known and known == expected else _sha256_file(blob)
        if actual is None or (expected and actual != expected):
            blob.unlink()  # a damaged copy in the cache: fetched again below
    if not blob.is_file():
        partial = blobs / f"{meta.etag}.incomplete"
        actual = _download(meta.location, partial, meta.size, hub, where, progress=progress, retries=retries)
        if expected and actual != expected:
            partial.unlink(missing_ok=True)
            raise LiteAgentError(
                f"{where}: the download's sha256 {actual[:16]}… is not the Hub's {expected[:16]}…; "
                "the bad file was deleted, pull again (or check the mirror HF_ENDPOINT names)"
            )
        partial.replace(blob)
    if not expected:
        warnings.warn(f"the Hub gives no sha256 for {where}: its size was checked, not its checksum", stacklevel=3)
    path = hf_hub_download(
        ref.repo, filename, revision=commit, cache_dir=str(hub.cache_dir), endpoint=hub.endpoint, token=hub.token
    )  # the blob is there: this only links it into snapshots/<commit>/
    return Path(path), actual


def _hub_sha256(repo: str, filename: str, commit: str, hub: Hub) -> str | None:
    """The sha256 the Hub keeps for an LFS file (every GGUF of any size); None for a file in git."""
    from huggingface_hub import HfApi

    for item in HfApi(endpoint=hub.endpoint, token=hub.token).get_paths_info(repo, [filename], revision=commit):
        lfs = getattr(item, "lfs", None)
        if lfs is not None and getattr(item, "path", filename) == filename:
            return str(lfs["sha256"] if isinstance(lfs, dict) and "sha256" in lfs else lfs.sha256).lower()
    return None


class _Partial:
    """The part downloaded so far, and the sha256 of its bytes."""

    def __init__(self, path: Path, size: int | None) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.digest = hashlib.sha256()
        self.have = 0
        if path.is_file() and (size is None or path.stat().st_size <= size):
            with path.open("rb") as f:
                while chunk := f.read(_CHUNK):
                    self.digest.update(chunk)
                    self.have += len(chunk)
        else:
            path.write_bytes(b"")

    def restart(self) -> None:
        self.path.write_bytes(b"")
        self.digest, self.have = hashlib.sha256(), 0


def _download(
    url: str, partial_path: Path, size: int | None, hub: Hub, where: str, *, progress: bool, retries: int
) -> str:
    """The file at ``url`` appended to ``partial_path`` from where it stops; its sha256."""
    from huggingface_hub.utils import build_hf_headers
    from huggingface_hub.utils import tqdm as hub_tqdm

    part = _Partial(partial_path, size)
    headers = build_hf_headers(token=hub.token)  # HF_TOKEN, else the token `hf auth login` stored
    if urlsplit(url).netloc != urlsplit(hub.endpoint).netloc:  # never to a CDN's signed URL
        headers = {k: v for k, v in headers.items() if k.lower() != "authorization"}
    bar = hub_tqdm(
        total=size, initial=part.have, unit="B", unit_scale=True, unit_divisor=1024,
        desc=where.rsplit("/", 1)[-1], disable=not progress,
    )  # fmt: skip
    attempt = 0
    try:
        while size is None or part.have < size:
            try:
                _get(url, headers, part, bar, size)
                break
            except (OSError, http.client.HTTPException) as exc:  # cut, timed out, refused, a 5xx
                if isinstance(exc, urllib.error.HTTPError) and exc.code < 500 and exc.code not in (416, 429):
                    raise UsageError(f"{where}: the download was refused (HTTP {exc.code}); {_fix(exc.code)}") from None
                attempt += 1
                if attempt > retries:
                    got = f"{part.have / 1e6:.0f}" + (f" of {size / 1e6:.0f}" if size else "")
                    raise LiteAgentError(
                        f"{where}: the download stopped at {got} MB ({_reason(exc)}); pull again to resume it"
                    ) from None
                time.sleep(RETRY_PAUSE * attempt)
    finally:
        bar.close()
    if size is not None and part.have != size:
        part.restart()
        raise LiteAgentError(f"{where}: the server sent more than the {size} bytes it announced; pull again")
    return part.digest.hexdigest()


def _get(url: str, headers: dict[str, str], part: _Partial, bar: Any, size: int | None) -> None:
    """One request for the rest of the file; a connection that ends before it is an error."""
    request = urllib.request.Request(
        url, headers={**headers, **({"Range": f"bytes={part.have}-"} if part.have else {})}
    )
    try:
        response = _OPENER.open(request, timeout=READ_TIMEOUT)
    except urllib.error.HTTPError as exc:
        if exc.code == 416:  # the part on disk is no prefix of this file: start over
            part.restart()
            bar.reset(total=size)
        raise
    with response, part.path.open("ab") as f:
        if part.have and response.status != 206:  # the server ignored Range: start over
            f.truncate(0)
            part.restart()
            bar.reset(total=size)
        while chunk := response.read(_CHUNK):
            f.write(chunk)
            part.digest.update(chunk)
            part.have += len(chunk)
            bar.update(len(chunk))
    if size is not None and part.have < size:  # http.client reads a cut body as its end
        raise ConnectionError(f"the connection closed after {part.have} of {size} bytes")


class _SameHostAuth(urllib.request.HTTPRedirectHandler):
    """Follow redirects, dropping the token when one leads to another host."""

    def redirect_request(self, req: Any, fp: Any, code: int, msg: str, headers: Any, newurl: str) -> Any:
        new = super().redirect_request(req, fp, code, msg, headers, newurl)
        if new is not None and urlsplit(newurl).netloc != urlsplit(req.full_url).netloc:
            new.remove_header("Authorization")
        return new


_OPENER = urllib.request.build_opener(_SameHostAuth)


def _remember_revision(hub: Hub, repo: str, revision: str, commit: str) -> None:
    """``refs/<revision>``, as huggingface_hub keeps it, so its own offline mode finds the files too."""
    from huggingface_hub.file_download import repo_folder_name

    if revision == commit:
        return
    ref = hub.cache_dir / repo_folder_name(repo_id=repo, repo_type="model") / "refs" / revision
    with contextlib.suppress(OSError):
        ref.parent.mkdir(parents=True, exist_ok=True)
        ref.write_text(commit, encoding="utf-8")


@contextlib.contextmanager
def _hub_errors(ref: ModelRef, filename: str, revision: str, hub: Hub) -> Iterator[None]:
    """The Hub's errors (HTTP status, network) as one line naming the file and the fix."""
    from huggingface_hub.utils import (
        EntryNotFoundError,
        GatedRepoError,
        HfHubHTTPError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    where = f"{ref.repo}/{filename}"
    try:
        yield
    except LiteAgentError:
        raise
    except GatedRepoError:
        raise UsageError(
            f"{ref.repo} is gated: accept its terms on the Hub's page, then set HF_TOKEN to a token of that account"
        ) from None
    except RepositoryNotFoundError:
        raise UsageError(
            f"{ref.repo} not found on {hub.endpoint} (or it is private: set HF_TOKEN); check the name"
        ) from None
    except RevisionNotFoundError:
        raise UsageError(f"revision {revision!r} not found in {ref.repo}; check the revision") from None
    except EntryNotFoundError:
        raise UsageError(f"{where} not found at revision {revision!r}; check the file name") from None
    except HfHubHTTPError as exc:
        status = getattr(getattr(exc, "response", None), "status_code", None)
        raise UsageError(f"{hub.endpoint} answered HTTP {status} for {where}; {_fix(status)}") from None
    except Exception as exc:  # the network: refused, a DNS name not found, timed out, TLS
        raise UsageError(
            f"cannot reach {hub.endpoint} for {where} ({_reason(exc)}); check the network, or set HF_ENDPOINT to a mirror"
        ) from None


def _fix(status: int | None) -> str:
    if status in (401, 403):
        return "set HF_TOKEN to a token that may read it"
    if status == 404:
        return "check the name and the revision"
    return "try again later"


def _reason(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text[:160]}" if text else type(exc).__name__


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
