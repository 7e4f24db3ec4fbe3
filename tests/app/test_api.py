"""The review desk's HTTP API on the tiny bundle, through FastAPI's TestClient (and a real server where a
generation must be held open), on both backends."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import httpx
import pytest
from fastapi.testclient import TestClient

from tests.app.conftest import LABELS, REVIEW
from tests.app.held_desk import HeldDesk
from zero2hero.app.limits import Limits
from zero2hero.app.server import create_app


def parse_sse(body: str) -> list[tuple[str, dict]]:
    """(event name, data) per event of an SSE body."""
    events = []
    for block in body.split("\n\n"):
        if not block:
            continue
        name, data = "message", None
        for line in block.split("\n"):
            field, _, value = line.partition(": ")
            if field == "event":
                name = value
            elif field == "data":
                data = json.loads(value)
        events.append((name, data))
    return events


@pytest.fixture(scope="module")
def client(desk) -> TestClient:
    return TestClient(create_app(desk, desk.limits))


def test_health(client: TestClient, desk) -> None:
    body = client.get("/api/health").json()
    assert body["status"] == "ok" and body["labels"] == LABELS and body["backend"] == desk.generator.backend
    assert body["limits"]["max_new_tokens"] == 12 and body["generations_running"] == 0


def test_the_page_is_served_without_outside_resources(client: TestClient) -> None:
    response = client.get("/")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    assert 'id="review"' in response.text and "/api/reply" in response.text
    assert "http://" not in response.text and "https://" not in response.text


def test_classify_answers_what_the_desk_answers(client: TestClient, desk) -> None:
    body = client.post("/api/classify", json={"text": REVIEW}).json()
    assert set(body) == {"predicted", "probabilities"}
    for label, names in LABELS.items():
        assert list(body["probabilities"][label]) == names
        assert sum(body["probabilities"][label].values()) == pytest.approx(1.0, abs=1e-6)
        assert body["predicted"][label] == max(names, key=body["probabilities"][label].__getitem__)
    assert body == desk.classify([REVIEW])[0]


def test_reply_streams_the_desks_greedy_reply(client: TestClient, desk) -> None:
    response = client.post("/api/reply", json={"text": REVIEW, "max_new_tokens": 8})
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
    events = parse_sse(response.text)
    pieces = [data["text"] for name, data in events if name == "message"]
    expected = "".join(desk.reply_pieces(REVIEW, 8))
    assert len(pieces) > 1 and "".join(pieces) == expected and expected.strip()
    assert events[-1] == ("done", {"pieces": len(pieces), "text": expected})


def test_a_too_large_body_is_413_before_validation(client: TestClient, desk) -> None:
    big = json.dumps({"text": "x" * desk.limits.max_request_bytes})
    for path in ("/api/classify", "/api/reply"):
        response = client.post(path, content=big, headers={"content-type": "application/json"})
        assert response.status_code == 413 and response.json()["error"] == "request too large"

    def chunks() -> Iterator[bytes]:  # no Content-Length: the bytes read are counted
        for _ in range(desk.limits.max_request_bytes // 1000 + 2):
            yield b" " * 1000

    response = client.post("/api/classify", content=chunks(), headers={"content-type": "application/json"})
    assert response.status_code == 413 and "exceeds" in response.json()["problems"][0]


def test_an_invalid_request_is_422_with_every_problem(client: TestClient) -> None:
    response = client.post("/api/reply", json={"text": " ", "max_new_tokens": 1000, "temperature": 1})
    assert response.status_code == 422
    assert response.json() == {"error": "invalid request", "problems": [
        "text: is blank", "max_new_tokens: must be from 1 to 12, got 1000",
        "temperature: unknown key (allowed: text, max_new_tokens)"]}
    response = client.post("/api/classify", content=b"{not json", headers={"content-type": "application/json"})
    assert response.status_code == 422 and "not UTF-8 JSON" in response.json()["problems"][0]
    assert client.get("/api/nothing").json() == {"error": "Not Found", "problems": []}


TEXTS = [REVIEW, "Stale biscuits, and the box came crushed.", 'Good price, "fair" value']


def test_batch_in_each_format_answers_what_the_desk_answers(client: TestClient, desk) -> None:
    expected = {"count": 3, "results": desk.classify(TEXTS)}
    assert client.post("/api/batch", json={"texts": TEXTS}).json() == expected
    csv = "id,text\n" + "".join(f'{i},"{t.replace(chr(34), chr(34) * 2)}"\n' for i, t in enumerate(TEXTS))
    assert client.post("/api/batch", content=csv, headers={"content-type": "text/csv"}).json() == expected
    jsonl = "".join(json.dumps({"text": t}) + "\n" for t in TEXTS)
    assert client.post("/api/batch", content=jsonl,
                       headers={"content-type": "application/x-ndjson"}).json() == expected


def test_batch_errors(client: TestClient, desk) -> None:
    small = TestClient(create_app(desk, Limits(max_batch_items=2, max_review_chars=70)))
    response = small.post("/api/batch", json={"texts": [*TEXTS, "y" * 71]})
    assert response.status_code == 422 and response.json()["problems"] == [
        "4 reviews; at most 2 per batch", "item 4: 71 characters; at most 70 are accepted"]
    response = client.post("/api/batch", content="id,review\n1,good\n", headers={"content-type": "text/csv"})
    assert response.status_code == 422 and '"text" column' in response.json()["problems"][0]
    response = client.post("/api/batch", content="{}\n[1]\n", headers={"content-type": "application/x-ndjson"})
    assert response.json()["problems"] == ["line 2 is not a JSON object"]
    response = client.post("/api/batch", content="good", headers={"content-type": "text/plain"})
    assert response.status_code == 415
    assert client.post("/api/batch", json={"texts": ["ok", ""]}).json()["problems"] == [
        'item 2: "text" must be a non-blank string']


def test_generations_beyond_the_limit_are_429_and_slots_come_back(transformers_desk) -> None:
    from zero2hero.app.background import serving

    held = HeldDesk(transformers_desk)
    with serving(create_app(held, Limits(max_concurrent_generations=1))) as base_url, \
            httpx.Client(base_url=base_url, timeout=30) as http:
        with http.stream("POST", "/api/reply", json={"text": REVIEW}) as first:
            assert first.status_code == 200
            chunks = first.iter_text()
            opening = next(chunks)
            assert opening.startswith('data: {"text": "Thank you"}')
            busy = http.post("/api/reply", json={"text": REVIEW})
            assert busy.status_code == 429 and busy.json()["error"] == "busy"
            assert http.get("/api/health").json()["generations_running"] == 1
            assert http.post("/api/classify", json={"text": REVIEW}).status_code == 200  # classify is not held
            held.release.set()
            assert parse_sse(opening + "".join(chunks))[-1][1]["text"] == "Thank you for your review."
        held.release.clear()
        with http.stream("POST", "/api/reply", json={"text": REVIEW}) as abandoned:
            assert abandoned.status_code == 200  # the slot came back; now this client goes away mid-reply
        held.release.set()
        deadline = time.monotonic() + 10
        while http.get("/api/health").json()["generations_running"] and time.monotonic() < deadline:
            time.sleep(0.05)
        assert http.get("/api/health").json()["generations_running"] == 0
        assert http.post("/api/reply", json={"text": REVIEW}).status_code == 200
