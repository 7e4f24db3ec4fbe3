"""Chapter 9: the review desk as a reproducible pipeline, from raw reviews to a served bundle, run by DVC.

The API, module by module:

* :mod:`~zero2hero.pipeline.config` — ``ProjectConfig`` (sections ``data``, ``clean``, ``labels``, ``split``,
  ``classifier``, ``generator``, ``evaluate``, ``export``, ``serve``, each a validated dataclass),
  ``load_config(path, quick, overrides)`` (the shipped ``configs/review_desk.yaml`` by default, its ``quick:`` block,
  ``section.key=value`` overrides) and ``to_params`` (what ``params.yaml`` holds).
* :mod:`~zero2hero.pipeline.dag` — ``STAGES`` (name, params, deps, outs of each stage), ``dvc_yaml`` /
  ``write_dvc_yaml`` and ``code_fingerprints`` (each stage's source hashed into ``code.yaml``).
* :mod:`~zero2hero.pipeline.workspace` — ``prepare``: ``dvc init --no-scm`` once, ``params.yaml``, ``code.yaml`` and
  ``dvc.yaml`` rewritten only when they change, stale temporaries and dead DVC locks cleared.
* :mod:`~zero2hero.pipeline.stage` — ``python -m zero2hero.pipeline.stage NAME``: the stage's cache key, seeds and
  determinism settings, ``stages.<NAME>.run(ctx)``, the record ``stages/<NAME>.json``.
* :mod:`~zero2hero.pipeline.driver` — ``run_project(config, workspace, progress)`` → ``ProjectRun`` (the stage table:
  seconds, ran or cached): ``dvc repro``, then the manifest and the cards.
* :mod:`~zero2hero.pipeline.cache_key` — ``stage_cache_key``, ``file_sha256``, ``tree_sha256``.
* :mod:`~zero2hero.pipeline.manifest` and :mod:`~zero2hero.pipeline.manifest_diff` — ``manifest.json`` (config,
  hashes, versions, hardware, stages, metrics) and ``diff_manifests`` / ``explain``: why two runs differ.
* :mod:`~zero2hero.pipeline.cards` — the generated data card, model card and decision log.
* :mod:`~zero2hero.pipeline.labelling` with ``rules/topics.yaml`` and ``rules/replies.yaml`` — topics by ordered
  keyword rules, reference replies by templates.
* :mod:`~zero2hero.pipeline.stages` — one module per stage: collect, clean, label, stats, split, train_classifier,
  train_generator, evaluate, export, package; :mod:`~zero2hero.pipeline.stage_context` is what each receives and
  :mod:`~zero2hero.pipeline.replies` the reply prompt shared by training, evaluation and serving.
"""
