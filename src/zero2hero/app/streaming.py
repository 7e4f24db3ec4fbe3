"""Server-sent events (SSE): a reply's pieces as text the browser reads while the model is still writing.

An SSE stream is plain text. Each event is one or more ``field: value`` lines ended by a blank line; an event
without an ``event:`` line is a "message". The review desk sends, in order:

* one message per piece of the reply: ``data: {"text": "<piece>"}``;
* at the end, ``event: done`` with ``{"pieces": <how many were sent>, "text": "<the whole reply>"}``, so a client
  can check it received everything;
* or, if generation fails midway, ``event: error`` with ``{"message": "..."}``, and nothing after it.

JSON-encoding each value keeps a newline inside a piece from ending the event early.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator


def sse_events(pieces: Iterable[str]) -> Iterator[str]:
    """The reply, as Server-Sent Events: one event per piece of text, then one that says it is done.

    An SSE stream is text: each event is one or more ``field: value`` lines and ends with a blank line. For each
    non-empty piece yield ``"data: " + json.dumps({"text": piece}) + "\\n\\n"``; an empty piece yields nothing.
    After the last piece yield ``"event: done\\ndata: " + json.dumps({"pieces": n, "text": full}) + "\\n\\n"``
    where ``n`` counts the events sent and ``full`` joins their texts. If ``pieces`` raises an exception, yield
    ``"event: error\\ndata: " + json.dumps({"message": str(err)}) + "\\n\\n"`` instead of the done event and stop
    (the client learns why the reply ended; the server does not crash mid-stream). JSON keeps newlines in a piece
    from ending the event early.

    >>> list(sse_events(["Thank", " you"]))  # doctest: +NORMALIZE_WHITESPACE
    ['data: {"text": "Thank"}\\n\\n', 'data: {"text": " you"}\\n\\n',
     'event: done\\ndata: {"pieces": 2, "text": "Thank you"}\\n\\n']
    """
    sent = []
    try:
        for piece in pieces:
            if piece:  # an empty piece (e.g. half of a multi-byte character held back) is not worth an event
                sent.append(piece)
                yield "data: " + json.dumps({"text": piece}) + "\n\n"
    except Exception as err:  # the stream has started: the status code is sent, so report it as an event
        yield "event: error\ndata: " + json.dumps({"message": str(err)}) + "\n\n"
        return
    yield "event: done\ndata: " + json.dumps({"pieces": len(sent), "text": "".join(sent)}) + "\n\n"
