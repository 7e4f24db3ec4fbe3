# %% [markdown]
# # Chapter 9 — The review desk: from raw reviews to a served application
# A model is a small part of an LLM application. Around it sit the data it learns from, the steps that turn that
# data into training examples, the evaluation that says whether it is good enough, the files it is shipped as and the
# service that answers requests, and each of these changes over the application's life. This notebook walks
# chapter 9's review desk on a small scale: the pipeline's configuration and its stages as DVC sees them, a stage's
# cache key computed by hand, the whole pipeline run from scratch and then again, a changed setting and the manifest
# diff that explains it, the data and the evaluation the run produced, and finally the app — a request, a streamed
# reply, the errors a bad request gets, and a small load test. The lab (`z2h lab 9`) measures all of it at full size.
#
# The pipeline here runs at an even smaller size than the lab's quick mode (200 reviews, a few training steps), so
# the notebook finishes in about two minutes on a 2-core CPU; its metrics say nothing about quality, only that every
# part works.

# %%
import json
import tempfile
from pathlib import Path

import yaml
from fastapi.testclient import TestClient

from zero2hero.app.background import serving
from zero2hero.app.desk import load_desk
from zero2hero.app.loadtest import run_load_test
from zero2hero.app.server import create_app
from zero2hero.pipeline.cache_key import stage_cache_key
from zero2hero.pipeline.config import load_config, to_params
from zero2hero.pipeline.dag import code_fingerprints, get_stage, stage_params
from zero2hero.pipeline.driver import run_project
from zero2hero.pipeline.manifest_diff import diff_manifests, explain
from zero2hero.pipeline.workspace import prepare

SMALL = ["data.max_reviews=200", "classifier.epochs=2", "generator.steps=6", "generator.train_examples=24",
         "evaluate.classifier_examples=20", "evaluate.reply_examples=3", "evaluate.max_new_tokens=24"]
config = load_config(None, quick=True, overrides=SMALL)
workspace = Path(tempfile.mkdtemp(prefix="z2h-desk-")) / "review-desk"
params = to_params(config)
print(f"config {config.name}: sections {', '.join(params)}")
print(f"classifier: {params['classifier']}")

# %% [markdown]
# ## 1. The pipeline as DVC sees it
# `prepare` makes the workspace a DVC project and writes three files: `params.yaml` (the configuration, one section
# per stage family), `code.yaml` (a fingerprint of each stage's source code) and `dvc.yaml` (the stages: the command
# that runs each one, the files it reads — its *deps* — the parameters it depends on and the files it writes — its
# *outs*). DVC builds the graph from the deps and outs: a stage runs after the stages whose outs it reads.

# %%
prepare(config, workspace)
dvc = yaml.safe_load((workspace / "dvc.yaml").read_text())
for name, stage in dvc["stages"].items():
    outs = [out if isinstance(out, str) else next(iter(out)) for out in stage["outs"]]
    params_used = [entry if isinstance(entry, str) else f"{file}:{keys}" for entry in stage["params"]
                   for file, keys in ([(None, None)] if isinstance(entry, str) else entry.items())]
    print(f"{name:17s} deps {stage.get('deps', [])} -> outs {outs}; params {params_used}")

# %% [markdown]
# ## 2. A stage's cache key, by hand
# DVC decides whether to rerun a stage from the hashes of its deps, its parameters and its command. zero2hero
# records the same idea as one key per stage (the first exercise writes it): the SHA-256 of a canonical JSON of the
# deps' content hashes, the stage's parameters and its code fingerprint. Changing any input changes the key; the
# order in which a dict was filled does not.

# %%
split = get_stage("split")
split_params = stage_params(split, params)
code = code_fingerprints()["split"]
key = stage_cache_key({"data/labelled.jsonl": "not-yet-made"}, split_params, code)
reseeded = stage_cache_key({"data/labelled.jsonl": "not-yet-made"}, {**split_params, "seed": 1}, code)
print(f"split's parameters: {split_params}")
print(f"key: {key[:16]}…; with seed 1: {reseeded[:16]}…; equal: {key == reseeded}")

# %% [markdown]
# ## 3. The whole pipeline, from scratch
# `run_project` writes the three files, runs `dvc repro` (each stage as its own process: `python -m
# zero2hero.pipeline.stage NAME`), then writes the run's manifest and its documentation (a data card, a model card
# and a decision log). On a fresh workspace every stage runs.

# %%
first = run_project(config, workspace, progress=lambda line: None)
for row in first.rows:
    print(f"{row.stage:17s} {row.status:6s} {row.seconds:6.1f} s")
print(f"first run: {first.seconds:.1f} s, stages run: {sum(row.status == 'ran' for row in first.rows)}")

# %% [markdown]
# ## 4. Again, and with one setting changed
# Run the same configuration again and DVC finds every stage's inputs unchanged in `dvc.lock`: nothing runs. Change
# one setting and only the stages that depend on it rerun, with everything they feed. The manifest diff (the second
# exercise) says why two runs differ, with the values that change on every run (times, statuses) left out.

# %%
again = run_project(config, workspace, progress=lambda line: None)
print(f"unchanged: {again.seconds:.1f} s, stages run: {[row.stage for row in again.rows if row.status == 'ran']}")
before = json.loads(first.manifest.read_text())
changed = run_project(load_config(None, quick=True, overrides=[*SMALL, "export.gguf_format=q4_0"]), workspace,
                      progress=lambda line: None)
print(f"export.gguf_format=q4_0: stages run: {[row.stage for row in changed.rows if row.status == 'ran']}")
for line in explain(diff_manifests(before, json.loads(changed.manifest.read_text()))):
    print("  " + (line if len(line) < 110 else line[:107] + "…"))

# %% [markdown]
# ## 5. What the data stages made
# Each record carries the cleaned review, its sentiment (from the shop's star rating), a topic from the keyword
# rules of `rules/topics.yaml` and a reference reply composed from `rules/replies.yaml`. The stats stage (chapter 2)
# counts tokens under both models' tokenizers: what a max length of 64 cuts off is a number, not a guess.

# %%
labelled = [json.loads(line) for line in (workspace / "data" / "labelled.jsonl").read_text().splitlines()]
topics: dict[str, int] = {}
for record in labelled:
    topics[record["topic"]] = topics.get(record["topic"], 0) + 1
print(f"{len(labelled)} labelled reviews; topics {dict(sorted(topics.items()))}")
example = labelled[0]
print(f"review: {example['text'][:160]!r}\nsentiment {example['sentiment']}, topic {example['topic']}\n"
      f"reference reply: {example['reply']!r}")
stats = json.loads((workspace / "reports" / "stats.json").read_text())
print("stats keys:", sorted(stats))

# %% [markdown]
# ## 6. The evaluation
# The evaluate stage scores, on held-out reviews, the fine-tuned classifiers against the majority class and against
# prompting SmolLM2 alone, and the fine-tuned reply generator against the same model prompted alone. At this size
# the numbers carry no meaning; the lab's full run gives the real ones.

# %%
summary = json.loads((workspace / "reports" / "eval.json").read_text())["summary"]
for name in ("sentiment_accuracy", "topic_accuracy", "reply_token_f1"):
    print(f"{name}: fine-tuned {summary[name]:.3f}, prompting alone {summary[name + '_prompting']:.3f}")

# %% [markdown]
# ## 7. The app: a request, a streamed reply, and the errors
# `load_desk` reads the bundle the package stage wrote; `create_app` wraps it in a FastAPI service. FastAPI's
# `TestClient` calls it in-process, without a network. A reply comes as Server-Sent Events (the fourth exercise): one
# `data:` event per piece, then a `done` event with the whole text. A bad request never reaches the model: the
# validator (the third exercise) lists every problem, and a body over the size limit is refused before it is read.

# %%
desk = load_desk(workspace, "transformers")
client = TestClient(create_app(desk, desk.limits))
print("health:", client.get("/api/health").json()["status"])
review = "The coffee arrived in a crushed box and half the pods had leaked."
print("classify:", client.post("/api/classify", json={"text": review}).json()["predicted"])
stream = client.post("/api/reply", json={"text": review, "max_new_tokens": 20}).text
events = [block for block in stream.split("\n\n") if block]
print(f"{len(events)} events; the last one: {events[-1]!r}")
bad = client.post("/api/reply", json={"text": "  ", "max_new_tokens": 0, "colour": "red"})
print(f"bad request: {bad.status_code} {bad.json()['problems']}")
huge = client.post("/api/classify", content=b"x" * (desk.limits.max_request_bytes + 1),
                   headers={"content-type": "application/json"})
print(f"too large: {huge.status_code}")

# %% [markdown]
# ## 8. A small load test
# The same app served by uvicorn on loopback, and 32 classification requests sent 4 at a time. Each answer is
# compared with the answer the same request got alone first: a service that is fast under load but answers wrongly
# is worse than a slow one.

# %%
with serving(create_app(desk, desk.limits)) as url:
    report = run_load_test(url, requests=32, concurrency=4, kind="classify")
print(f"p50 {report.p50_ms:.0f} ms, p95 {report.p95_ms:.0f} ms, {report.throughput_per_s:.1f} requests/s; "
      f"lost {report.lost}, wrong {report.wrong}")
