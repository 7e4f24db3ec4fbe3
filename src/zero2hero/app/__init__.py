"""The review desk as a web app (chapter 9): a workspace's serving bundle behind a small HTTP API and one page.

``z2h serve WORKSPACE`` loads :func:`~zero2hero.app.desk.load_desk` and serves
:func:`~zero2hero.app.server.create_app` with uvicorn on 127.0.0.1. The API:

* ``GET /`` — the page (``static/index.html``, no build step): paste a review, see labels and a streamed reply;
* ``GET /api/health`` — ``{"status": "ok", "name", "backend", "labels", "metrics", "notes", "limits",
  "generations_running"}``;
* ``POST /api/classify`` ``{"text"}`` — ``{"predicted": {label: class}, "probabilities": {label: {class: p}}}``;
* ``POST /api/reply`` ``{"text", "max_new_tokens"?}`` — ``text/event-stream``: ``data: {"text": piece}`` events,
  then ``event: done`` with ``{"pieces", "text"}`` (see :mod:`zero2hero.app.streaming`);
* ``POST /api/batch`` — ``{"texts": [...]}`` as JSON, a CSV with a ``text`` column (``text/csv``) or JSON Lines
  (``application/x-ndjson``): ``{"count", "results": [classify's answer per review]}``.

Errors are JSON ``{"error", "problems"}`` with 413 (too large), 415 (batch format), 422 (invalid, every problem
listed) or 429 (all generation slots busy). Modules: :mod:`~zero2hero.app.limits`, :mod:`~zero2hero.app.validation`,
:mod:`~zero2hero.app.streaming`, :mod:`~zero2hero.app.desk` and :mod:`~zero2hero.app.generators`,
:mod:`~zero2hero.app.batch`, :mod:`~zero2hero.app.server`, :mod:`~zero2hero.app.background` (a server in a thread),
:mod:`~zero2hero.app.loadtest` and :mod:`~zero2hero.app.screenshot`.
"""
