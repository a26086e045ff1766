"""Fuzz every documented operation of a live worker from its own /openapi.json.

No answer may be a 5xx, every error answer is `{"error": {"code", ...}}`, and
every answer matches the document (status, content type, body, headers).
Generated playlist URLs point only at refused addresses or reserved names
(`.invalid`), so no playlist is fetched from anywhere.
"""

from __future__ import annotations

import os
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.core.result import Ok

from tests.conftest import WorkerFactory, poll

# Per operation and mode. make test runs these 3 shards beside the rest of the suite on
# two cores; FUZZ_SCALE=4 (environment) runs a deeper fuzz by hand.
SCALE = float(os.environ.get("FUZZ_SCALE", "1"))
EXAMPLES = {schemathesis.GenerationMode.POSITIVE: int(60 * SCALE),
            schemathesis.GenerationMode.NEGATIVE: int(40 * SCALE)}
CONFORMANCE = [status_code_conformance, content_type_conformance,
               response_schema_conformance, response_headers_conformance]
NOT_JSON = ("/metrics",)  # Prometheus text
HEALTH_BODY = ("/health",)  # its 503 carries the health document
# Open-ended event streams (they end only when the client leaves): test_push covers them.
ENDLESS = ("GET /api/events",)


def check_answer(case: schemathesis.Case, response: Any) -> None:
    where = case.as_curl_command()
    assert response.status_code < 500, f"{response.status_code} for {where}: {response.text}"
    path = case.operation.path
    if response.status_code < 400 or path in NOT_JSON:
        return
    if path in HEALTH_BODY and response.status_code == 503:
        return
    try:
        body = response.json()
    except ValueError:
        raise AssertionError(f"non-JSON {response.status_code} for {where}: "
                             f"{response.text[:300]!r}") from None
    code = body.get("error", {}).get("code") if isinstance(body, dict) else None
    assert isinstance(code, str) and code, f"no error.code for {where}: {body!r}"


SETTINGS = hypothesis_settings(deadline=None, database=None,
                               phases=[Phase.generate],  # shrinking would re-drive the server
                               suppress_health_check=list(HealthCheck))
# Random strings are almost never URLs; these reach the SSRF check and the queue.
HOSTS = ["127.0.0.1", "10.1.2.3", "169.254.169.254", "[::1]", "[::ffff:10.0.0.1]", "0x7f.1",
         "2130706433", "localhost", "a.localhost", "feed.invalid", "u:p@feed.invalid",
         "xn--nxasmq6b.invalid", "feed.invalid:8080", "feed.invalid:0", "[fe80::1]:81"]
URLS = st.builds(
    "{}://{}/{}{}".format,
    st.sampled_from(["http", "https", "HTTP", "ftp", "file", "javascript"]),
    st.sampled_from(HOSTS),
    st.from_regex(r"[A-Za-z0-9._~%/+:@!$&'()*,;=-]{0,40}", fullmatch=True) | st.text(max_size=20),
    st.sampled_from(["", "?username=u&password=p&type=m3u_plus", "#frag", "?a=%00"]),
)


def fuzz(operation: schemathesis.APIOperation, mode: schemathesis.GenerationMode,
         base: str) -> None:
    """Drive one operation with `EXAMPLES[mode]` generated cases."""

    @given(case=operation.as_strategy(generation_mode=mode))
    @hypothesis_settings(SETTINGS, max_examples=EXAMPLES[mode])
    def run(case: schemathesis.Case) -> None:
        response = case.call(base_url=base, timeout=20)
        check_answer(case, response)
        if mode is schemathesis.GenerationMode.POSITIVE:
            case.validate_response(response, checks=CONFORMANCE)

    run()


def submit_urls(parse: schemathesis.APIOperation, job: schemathesis.APIOperation,
                base: str) -> None:
    """Submit URL-shaped input; read back every job that was accepted."""

    @given(url=URLS, force=st.booleans())
    @hypothesis_settings(SETTINGS, max_examples=int(40 * SCALE))
    def run(url: str, force: bool) -> None:
        case = parse.Case(body={"url": url, "force": force}, media_type="application/json")
        response = case.call(base_url=base, timeout=20)
        check_answer(case, response)
        case.validate_response(response, checks=CONFORMANCE)
        if response.status_code in (200, 202):
            read = job.Case(path_parameters={"job_id": response.json()["job_id"]})
            answer = read.call(base_url=base, timeout=20)
            check_answer(read, answer)
            read.validate_response(answer, checks=CONFORMANCE)

    run()


# The operations are fuzzed in shards, one worker each, so that `pytest -n`
# spreads them over processes; every operation is in exactly one shard.
SHARDS = 3


@pytest.mark.parametrize("shard", range(SHARDS))
def test_fuzz_live_worker_against_its_openapi(worker_factory: WorkerFactory,
                                              shard: int) -> None:
    worker = worker_factory(PIPELINE_RATE_LIMIT="1000000/minute")
    # Healthy is not yet owning partitions: until then the API answers 503 not_ready.
    poll(lambda: worker.request("GET", "/api/media/m0")[0] == 404, timeout=30,
         what="partition assignment")
    schema = schemathesis.openapi.from_url(worker.base + "/openapi.json", timeout=10)
    schema.validate()
    operations = []
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result.err()
        operations.append(result.ok())
    documented = {f"{method.upper()} {path}" for path, item in schema.raw_schema["paths"].items()
                  for method in item}
    # Loaded from a URL, schemathesis leaves out the operation serving the schema itself.
    assert {op.label for op in operations} == documented - {"GET /openapi.json"}
    operations.sort(key=lambda op: op.label)
    failures: list[str] = []
    for operation in operations[shard::SHARDS]:
        if operation.label in ENDLESS:
            continue
        for mode in EXAMPLES:
            try:
                fuzz(operation, mode, worker.base)
            except Unsatisfiable:
                # Nothing to make invalid (no body or query; path ids take any string).
                assert mode is schemathesis.GenerationMode.NEGATIVE, operation.label
            except Exception as exc:  # one report for every operation, not the first only
                failures.append(f"{operation.label} [{mode.value}]: {exc}")
    by_label = {op.label: op for op in operations}
    if shard == 0:
        try:
            submit_urls(by_label["POST /api/playlist/parse"],
                        by_label["GET /api/playlist/jobs/{job_id}"], worker.base)
        except Exception as exc:
            failures.append(f"POST /api/playlist/parse [URLs]: {exc}")
    # Still serving after the fuzz. One S3 probe can time out while make test's other
    # processes load the machine; a worker that stays unhealthy fails the poll.
    poll(lambda: worker.request("GET", "/health")[1].get("status") == "ok", timeout=30,
         what="health ok after the fuzz")
    assert not failures, "\n\n".join(failures)
