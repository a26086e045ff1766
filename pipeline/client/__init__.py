"""Python client for the pipeline's HTTP API: `AsyncClient` and its blocking twin `Client`.

    async with AsyncClient() as api:        # PIPELINE_API_URL, else 127.0.0.1:PIPELINE_WEB_PORT
        job = await api.submit("http://example.com/list.m3u")
        done = await api.wait(job["job_id"], on_progress=print)   # follows SSE, else polls
        async for event in api.events(job["job_id"]):             # queued, started, ... done
            print(event.event, event.json())
        async for item in api.items(job["job_id"]):
            ...

    with Client() as api:                   # the same methods, blocking
        api.wait(api.submit(url)["job_id"])

Answers are the API's JSON documents (docs/architecture.md, "HTTP API"). A non-2xx answer
is raised as the typed error of its `error.code` (`pipeline.errors.error_class`)
with that code in `exc.code`; a job that ends `failed` or `cancelled` makes
`wait()` raise its error, the final job document in `exc.details["job"]`. An
unreachable API is `NotReady`. Event streams: docs/events.md.

Modules: `errors` (typed errors), `base` (session, calls), `events` (event
streams, `wait`, `poll`), `aio` (`AsyncClient`), `sync` (`Client`).
"""

from pipeline.client.aio import AsyncClient
from pipeline.client.errors import EventsUnavailable, Job, ProgressCallback, api_error, job_error
from pipeline.client.sync import Client

__all__ = [
    "AsyncClient",
    "Client",
    "EventsUnavailable",
    "Job",
    "ProgressCallback",
    "api_error",
    "job_error",
]
