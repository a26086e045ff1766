"""The OpenAPI document: valid, and equal to the routes the app registers."""

from __future__ import annotations

from typing import Any

import schemathesis
from schemathesis.core.result import Ok

from pipeline.errors import PipelineError
from pipeline.web.openapi import build_document as build_for
from pipeline.web.openapi import error_codes
from pipeline.worker import app, settings

# Faust adds its own pages (/router, /table, ...); the API is what lives under these.
OWN_PREFIXES = ("/api/", "/health", "/metrics", "/openapi.json")
IGNORED_METHODS = {"HEAD", "OPTIONS"}
HTTP_METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}


def _ours(path: str) -> bool:
    return any(path == p.rstrip("/") or path.startswith(p) for p in OWN_PREFIXES)


def registered_routes() -> set[tuple[str, str]]:
    routes = set()
    for route in app.web.web_app.router.routes():  # type: ignore[attr-defined]
        path = route.resource.canonical if route.resource is not None else ""
        if _ours(path) and route.method not in IGNORED_METHODS:
            routes.add((route.method, path))
    return routes


def build_document() -> dict[str, Any]:
    return build_for(settings)


def documented_routes(doc: dict[str, Any]) -> set[tuple[str, str]]:
    return {(method.upper(), path) for path, item in doc["paths"].items()
            for method in item if method in HTTP_METHODS}


def test_document_matches_registered_routes() -> None:
    documented = documented_routes(build_document())
    registered = registered_routes()
    assert registered, "no API routes registered"
    assert registered - documented == set(), "routes missing from /openapi.json"
    assert documented - registered == set(), "documented routes the app does not serve"


def test_document_is_valid_openapi() -> None:
    schema = schemathesis.openapi.from_dict(build_document())
    schema.validate()  # against the OpenAPI 3.0 meta-schema; raises when invalid
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result.err()


def _responses(doc: dict[str, Any]) -> list[tuple[str, str, str, dict[str, Any]]]:
    return [(path, method, status, response) for path, item in doc["paths"].items()
            for method, op in item.items() for status, response in op["responses"].items()]


def test_every_error_answer_uses_the_error_schema() -> None:
    doc = build_document()
    shared = doc["components"]["responses"]
    for path, method, status, response in _responses(doc):
        if int(status) < 400 or (path == "/health" and status == "503"):
            continue  # /health answers 503 with the health document itself
        assert "$ref" in response, (path, method, status)
        target = shared[response["$ref"].rsplit("/", 1)[-1]]
        schema = target["content"]["application/json"]["schema"]
        assert schema == {"$ref": "#/components/schemas/Error"}, (path, method, status)
        if status in ("429", "503"):
            assert "Retry-After" in target["headers"], (path, method, status)


def test_error_schema_lists_every_code() -> None:
    error = build_document()["components"]["schemas"]["Error"]
    doc_codes = error["properties"]["error"]["properties"]["code"]["enum"]
    assert set(doc_codes) == set(error_codes())
    for code in ("bad_request", "invalid_url", "unauthorized", "not_found",
                 "payload_too_large", "url_refused", "rate_limited", "not_ready", "internal"):
        assert code in doc_codes
    assert PipelineError.code in doc_codes


def test_api_operations_take_the_bearer_token_and_service_ones_are_open() -> None:
    doc = build_document()
    assert doc["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    for path, item in doc["paths"].items():
        for op in item.values():
            if path.startswith("/api/"):
                assert {"bearerAuth": []} in op["security"], path
                assert "401" in op["responses"], path
            else:
                assert op["security"] == [], path
