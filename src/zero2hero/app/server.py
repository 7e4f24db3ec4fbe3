"""The review desk's web service: one page, a health check, classification, a streamed reply and a batch endpoint.

FastAPI, because a streamed reply is an async ``StreamingResponse`` the event loop serves while the model writes
in a worker thread, because its ``TestClient`` tests the API without a network, and because it is plain ASGI,
served by uvicorn (or any ASGI server) without a line changed.

Every error is JSON ``{"error": "...", "problems": [...]}``: 413 when the body is too large (checked against the
declared Content-Length before reading, and against the bytes actually read), 415 for a batch in an unknown format,
422 when the request breaks a rule (all problems listed), 429 when ``max_concurrent_generations`` replies are being
written already. Nothing slow runs on the event loop: classification and each step of a reply run in worker threads.
"""

from __future__ import annotations

import json
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, StreamingResponse
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from zero2hero.app.batch import read_records
from zero2hero.app.limits import Limits
from zero2hero.app.streaming import sse_events
from zero2hero.app.validation import RequestError, validate_review_request

if TYPE_CHECKING:
    from zero2hero.app.desk import ReviewDesk

PAGE = Path(__file__).parent / "static" / "index.html"
BATCH_TYPES = {"application/json": "json", "text/csv": "csv", "application/x-ndjson": "jsonl",
               "application/jsonl": "jsonl", "application/x-jsonlines": "jsonl"}


class ApiError(Exception):
    """An answer other than 200: its status code, a one-line error and the problems behind it."""

    def __init__(self, status: int, error: str, problems: list[str]) -> None:
        super().__init__(error)
        self.status, self.error, self.problems = status, error, problems


class GenerationSlots:
    """At most ``size`` replies at once: a slot is taken without waiting (or refused) and given back at the end."""

    def __init__(self, size: int) -> None:
        self.size, self.running = size, 0
        self._lock = threading.Lock()

    def try_take(self) -> bool:
        with self._lock:
            if self.running >= self.size:
                return False
            self.running += 1
            return True

    def give_back(self) -> None:
        with self._lock:
            self.running -= 1


class ReplyStream(StreamingResponse):
    """An SSE response that gives its generation slot back however it ends: finished, failed or abandoned."""

    def __init__(self, events: AsyncIterator[str], slots: GenerationSlots) -> None:
        super().__init__(events, media_type="text/event-stream",
                         headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
        self.slots = slots

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self.slots.give_back()


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, or a 413 :class:`ApiError` as soon as it is known to exceed ``limit`` bytes."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise ApiError(413, "request too large", [f"the body is {int(declared)} bytes; at most {limit} are accepted"])
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise ApiError(413, "request too large", [f"the body exceeds {limit} bytes"])
    return bytes(body)


def parse_json(body: bytes) -> object:
    try:
        return json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise RequestError([f"the body is not UTF-8 JSON ({err})"]) from None


async def stream_events(pieces: Iterator[str]) -> AsyncIterator[str]:
    """The SSE events of ``pieces``, each produced in a worker thread; both iterators closed however it ends."""
    events = sse_events(pieces)
    try:
        while (event := await run_in_threadpool(next, events, None)) is not None:
            yield event
    finally:
        with anyio.CancelScope(shield=True):  # the client may be gone: close the model's side all the same
            await run_in_threadpool(_close, events, pieces)


def _close(*iterators: Iterator[str]) -> None:
    for iterator in iterators:
        getattr(iterator, "close", lambda: None)()


def create_app(desk: ReviewDesk, limits: Limits) -> FastAPI:
    """The web service of ``desk`` with ``limits`` enforced on every request."""
    app = FastAPI(title=f"zero2hero review desk: {desk.name}", docs_url=None, redoc_url=None)  # no CDN pages
    slots = GenerationSlots(limits.max_concurrent_generations)
    page = PAGE.read_text(encoding="utf-8")

    @app.exception_handler(ApiError)
    async def api_error(request: Request, err: ApiError) -> JSONResponse:
        return JSONResponse({"error": err.error, "problems": err.problems}, status_code=err.status)

    @app.exception_handler(RequestError)
    async def invalid(request: Request, err: RequestError) -> JSONResponse:
        return JSONResponse({"error": "invalid request", "problems": err.problems}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, err: StarletteHTTPException) -> JSONResponse:
        return JSONResponse({"error": str(err.detail), "problems": []}, status_code=err.status_code)

    @app.get("/", response_class=HTMLResponse)
    async def index() -> HTMLResponse:
        return HTMLResponse(page)

    @app.get("/api/health")
    async def health() -> dict[str, Any]:
        return {**desk.health(), "limits": asdict(limits), "generations_running": slots.running}

    @app.post("/api/classify")
    async def classify(request: Request) -> dict[str, Any]:
        review = validate_review_request(parse_json(await read_body(request, limits.max_request_bytes)), limits)
        return (await run_in_threadpool(desk.classify, [review.text]))[0]

    @app.post("/api/reply")
    async def reply(request: Request) -> ReplyStream:
        review = validate_review_request(parse_json(await read_body(request, limits.max_request_bytes)), limits)
        if not slots.try_take():
            raise ApiError(429, "busy", [f"{limits.max_concurrent_generations} replies are being written already; "
                                         "try again in a few seconds"])
        return ReplyStream(stream_events(desk.reply_pieces(review.text, review.max_new_tokens)), slots)

    @app.post("/api/batch")
    async def batch(request: Request) -> dict[str, Any]:
        content_type = request.headers.get("content-type", "application/json").split(";")[0].strip().lower()
        if content_type not in BATCH_TYPES:
            raise ApiError(415, "unsupported batch format",
                           [f"Content-Type {content_type!r}: send one of {', '.join(BATCH_TYPES)}"])
        body = await read_body(request, limits.max_batch_bytes)
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise RequestError(["the body is not UTF-8 text"]) from None
        texts = [record["text"] for record in read_records(text, BATCH_TYPES[content_type])]
        problems = [f"item {i}: {len(t)} characters; at most {limits.max_review_chars} are accepted"
                    for i, t in enumerate(texts, 1) if len(t) > limits.max_review_chars]
        if not texts:
            problems.append("the batch holds no review")
        if len(texts) > limits.max_batch_items:
            problems.insert(0, f"{len(texts)} reviews; at most {limits.max_batch_items} per batch")
        if problems:
            raise RequestError(problems)
        return {"count": len(texts), "results": await run_in_threadpool(desk.classify, texts)}

    return app
