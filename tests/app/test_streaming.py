"""Server-sent events of a reply: hand-written expected strings."""

from __future__ import annotations

from collections.abc import Iterator

from zero2hero.app.streaming import sse_events


def test_pieces_then_done() -> None:
    assert list(sse_events(["Thank", " you", "!"])) == [
        'data: {"text": "Thank"}\n\n',
        'data: {"text": " you"}\n\n',
        'data: {"text": "!"}\n\n',
        'event: done\ndata: {"pieces": 3, "text": "Thank you!"}\n\n',
    ]


def test_empty_pieces_are_skipped_and_newlines_stay_inside_the_json() -> None:
    assert list(sse_events(["", "a\nb", ""])) == [
        'data: {"text": "a\\nb"}\n\n',
        'event: done\ndata: {"pieces": 1, "text": "a\\nb"}\n\n',
    ]


def test_no_pieces_is_just_done() -> None:
    assert list(sse_events([])) == ['event: done\ndata: {"pieces": 0, "text": ""}\n\n']


def test_non_ascii_is_escaped_json() -> None:
    assert list(sse_events(["café"]))[0] == 'data: {"text": "caf\\u00e9"}\n\n'


def test_a_failure_midway_is_an_error_event_and_the_end() -> None:
    def failing() -> Iterator[str]:
        yield "Sorry"
        raise RuntimeError("the model crashed")

    assert list(sse_events(failing())) == [
        'data: {"text": "Sorry"}\n\n',
        'event: error\ndata: {"message": "the model crashed"}\n\n',
    ]
