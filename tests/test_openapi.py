"""The served OpenAPI schema against docs/PROTOCOL.md, and schemathesis against the REAL backend.

(a) ``/openapi.json`` lists exactly the endpoints the protocol document lists (doc and code pinned
    together); ``/docs`` is served.
(b) Every operation of the schema is fuzzed (schema-conforming and malformed requests, seeded,
    bounded) on a backend started on 127.0.0.1: no reply may be a server error (HTTP 5xx / 5000).
    Nothing is excluded. To get past the first checks, the session in a path or a body is a real
    session of the caller in most cases and the web upload link's ``exp``/``sig`` are a real
    signature; the rest is generated.
"""

from __future__ import annotations

import os
import re
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.generation import GenerationMode

from tests.support.backend import ATTRIBUTION, BackendProcess

PROTOCOL = Path(__file__).resolve().parents[1] / "docs" / "PROTOCOL.md"
METHOD = "GET|HEAD|POST|PUT|PATCH|DELETE"
# `GET /healthz`, `GET\|HEAD /files/<name>` (a table cell escapes its pipe): anywhere in the doc.
ENDPOINT = re.compile(rf"`((?:{METHOD})(?:\\?\|(?:{METHOD}))*) (/[^`\s?]*)")
# Served by FastAPI itself, outside the schema they serve.
SCHEMA_PAGES = {("GET", "/openapi.json"), ("GET", "/docs")}


def _shape(path: str) -> str:
    """``/upload/<sid>`` and ``/upload/{sid}`` alike: parameter names do not matter."""
    return re.sub(r"<[^>]*>|\{[^}]*\}", "{}", path)


def documented() -> set[tuple[str, str]]:
    found = set()
    for methods, path in ENDPOINT.findall(PROTOCOL.read_text()):
        for method in methods.replace("\\", "").split("|"):
            found.add((method, _shape(path)))
    return found


@pytest.fixture(scope="module")
def served(backend: BackendProcess) -> dict[str, Any]:
    r = httpx.get(backend.url + "/openapi.json", timeout=30)
    assert r.status_code == 200, r.text[:300]
    doc: dict[str, Any] = r.json()
    return doc


def test_openapi_paths_are_the_documented_endpoints(
    backend: BackendProcess, served: dict[str, Any]
) -> None:
    in_schema = {
        (method.upper(), _shape(path))
        for path, ops in served["paths"].items()
        for method in ops
        if method in {"get", "head", "post", "put", "patch", "delete"}
    }
    assert in_schema | SCHEMA_PAGES == documented()
    docs = httpx.get(backend.url + "/docs", timeout=30)
    assert docs.status_code == 200 and "/openapi.json" in docs.text


def test_openapi_declares_the_bodies_and_replies(served: dict[str, Any]) -> None:
    paths = served["paths"]

    def body_ref(path: str, ctype: str = "application/json") -> str:
        return str(paths[path]["post"]["requestBody"]["content"][ctype]["schema"]["$ref"])

    assert body_ref("/run_sse").endswith("/RunRequest")
    assert body_ref("/api/render/proxy/lambda").endswith("/RenderStart")
    assert body_ref("/api/tasks/me/with-session/nemo_agent").endswith("/SessionCreate")
    assert body_ref("/api/upload-video/nemo_agent/me/{sid}").endswith("/UrlUpload")
    assert "multipart/form-data" in paths["/upload/{sid}/files"]["post"]["requestBody"]["content"]
    schemas = served["components"]["schemas"]
    for name in ("RunRequest", "RenderStart", "SessionCreate", "UrlUpload", "NewMessage"):
        assert name in schemas, name
    ok = paths["/api/auth/anonymous-token"]["post"]["responses"]["200"]
    assert ok["content"]["application/json"]["schema"]["$ref"].endswith("Envelope_TokenIssued_")
    assert "HTTPValidationError" not in schemas  # FastAPI's 422 body never goes out
    assert "bearer" in str(served["components"]["securitySchemes"]).lower()


class Caller:
    """A real identity with a real session and a real web upload link, for the fuzzed requests."""

    def __init__(self, base: str) -> None:
        r = httpx.post(
            base + "/api/auth/anonymous-token", headers={"X-Client-Id": uuid.uuid4().hex}
        )
        assert r.status_code == 200, r.text
        self.token = r.json()["data"]["token"]
        self.auth = {"Authorization": f"Bearer {self.token}"}
        r = httpx.post(
            base + "/api/tasks/me/with-session/nemo_agent",
            headers=self.auth,
            json={"task_name": "fuzz", "language": "en"},
        )
        assert r.status_code == 200, r.text
        self.sid = r.json()["data"]["session_id"]
        r = httpx.post(base + f"/api/upload-link/nemo_agent/me/{self.sid}", headers=self.auth)
        assert r.status_code == 200, r.text
        query = parse_qs(urlsplit(r.json()["data"]["url"]).query)
        self.signed = {"exp": query["exp"][0], "sig": query["sig"][0]}


@pytest.fixture(scope="module")
def caller(backend: BackendProcess) -> Iterator[Caller]:
    yield Caller(backend.url)


@pytest.fixture(scope="module")
def openapi_schema(backend: BackendProcess, served: dict[str, Any]) -> Any:
    schema = schemathesis.openapi.from_dict(served)
    schema.config.update(base_url=backend.url)
    return schema


def _use_the_real_session(case: Any, caller: Caller, n: int) -> None:
    """Most cases name the caller's session and carry a real signature; every fourth keeps what was
    generated (unknown sessions, tampered links)."""
    if n % 4 == 3:
        return
    if isinstance(case.path_parameters, dict) and "sid" in case.path_parameters:
        case.path_parameters["sid"] = caller.sid
    if case.path.startswith("/upload/") and isinstance(case.query, dict):
        case.query.update(caller.signed)
    if isinstance(case.body, dict):
        if case.path == "/run_sse":
            case.body["session_id"] = caller.sid
        elif case.path == "/api/render/proxy/lambda":
            case.body["sessionId"] = caller.sid


# One test per endpoint of docs/PROTOCOL.md (the test above pins them to the schema), each with
# EXAMPLES schema-conforming and EXAMPLES malformed requests, derandomized (the same on every run).
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "30"))


@pytest.mark.parametrize(
    "endpoint", sorted(documented() - SCHEMA_PAGES), ids=lambda e: f"{e[0]} {e[1]}"
)
def test_no_request_is_a_server_error(
    endpoint: tuple[str, str],
    openapi_schema: Any,
    served: dict[str, Any],
    caller: Caller,
) -> None:
    method, shape = endpoint
    path = next(p for p in served["paths"] if _shape(p) == shape)
    operation = openapi_schema[path][method]
    seen: list[tuple[int, str]] = []
    count = iter(range(1_000_000))
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

        @given(case=operation.as_strategy(mode))
        @settings(
            max_examples=EXAMPLES,
            derandomize=not os.environ.get("FUZZ_RANDOM"),  # a hunt: FUZZ_RANDOM=1
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def run(case: Any) -> None:
            _use_the_real_session(case, caller, next(count))
            headers = {**ATTRIBUTION, **(case.headers or {}), **caller.auth}
            response = case.call(headers=headers, timeout=60)
            seen.append((response.status_code, case.path))
            detail = (case.method, case.formatted_path, case.query, str(case.body)[:300])
            assert response.status_code < 500, (detail, response.text[:500])
            if "json" in str(response.headers.get("content-type")):
                body = response.json()
                assert not isinstance(body, dict) or body.get("code") != 5000, (detail, body)

        try:
            run()
        except Unsatisfiable:
            # Nothing in the operation can be malformed (e.g. the only input is an optional
            # header, and every string is a valid value): the conforming requests ran.
            assert mode is GenerationMode.NEGATIVE and seen
    assert seen, "no request was made"
    if os.environ.get("FUZZ_REPORT"):
        print(endpoint, sorted(Counter(code for code, _ in seen).items()))


# What the fuzzing found (each was a 500 with code 5000): links that do not parse or cannot be reached.
@pytest.mark.parametrize(
    "url", ["http://0", "http://[::1", "http://127.0.0.1:99999/a.mp4", "http://127.0.0.1:1/a.mp4"]
)
def test_links_that_fail_are_bad_input(backend: BackendProcess, caller: Caller, url: str) -> None:
    r = httpx.post(
        backend.url + f"/api/upload-video/nemo_agent/me/{caller.sid}",
        headers=caller.auth,
        json={"urls": [url], "source_type": "url"},
        timeout=60,
    )
    assert r.status_code == 422 and r.json()["code"] == 4005, r.text
