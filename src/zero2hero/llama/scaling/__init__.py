"""Scaling laws measured on our own LLaMA-like models: train a family from scratch, fit how the loss falls.

The API, module by module:

* :mod:`~zero2hero.llama.scaling.family` — the size ladder ``LADDER`` (``ModelSize`` s0…s6, widths 16–192, 2–4
  layers), ``llama_config(size, vocab, context)``, ``non_embedding_params(cfg)`` (N), ``matmul_params(cfg)`` and
  ``training_flops_per_token(cfg, context)`` (compute), the recipe (``learning_rate(size)``: 4e-3 up to width 64,
  then ∝ 1/width; ``warmup_steps(steps)``) and ``build_model(cfg, seed)``.
* :mod:`~zero2hero.llama.scaling.plan` — ``ScalingPlan`` (sizes × token budgets + shared settings), ``QUICK``,
  ``FULL``.
* :mod:`~zero2hero.llama.scaling.data` — ``course_data``: chapter 2's BPE trained on the course corpus, the token
  ids of the training and held-out text (cached).
* :mod:`~zero2hero.llama.scaling.train` — ``train_point(spec, data, work, ...)``: one point, resumable,
  DDP-capable; ``python -m zero2hero.llama.scaling.train`` is its torchrun entry point.
* :mod:`~zero2hero.llama.scaling.points` — ``Point`` (N, D, loss, FLOPs per token, seconds, ...) and
  ``PointCache``.
* :mod:`~zero2hero.llama.scaling.run` — ``run_plan(plan) -> list[Point]``: every point, trained once and cached.
* :mod:`~zero2hero.llama.scaling.fit` — ``fit_power_law``, ``bootstrap_power_law`` (90 % intervals),
  ``isoflop_profiles``/``bootstrap_frontier`` (compute-optimal tokens per parameter), ``fit_joint``/
  ``bootstrap_joint`` (L(N, D) = E + A/N^α + B/D^β), ``PUBLISHED``.
* :mod:`~zero2hero.llama.scaling.plots` — ``power_law_figure``, ``isoflop_figure``.
* :mod:`~zero2hero.llama.scaling.quantize_sizes` — ``quantize_sizes(plan)``: every size's kept fp32 weights at
  Q8_0, Q4_0, Q4_1, NF4 and Q4_K, rows of (size, N, format, perplexity, increase over fp32), and
  ``quantization_figure(rows)``.
* :mod:`~zero2hero.llama.scaling.speedup` — ``ddp_speedup(plan, size, tokens, data_dir)``: one point's tokens/s on
  one process (one or two threads) and on two processes under torchrun.

Example::

    from zero2hero.llama.scaling.fit import bootstrap_power_law, loss_vs_params
    from zero2hero.llama.scaling.plan import QUICK
    from zero2hero.llama.scaling.run import run_plan

    points = run_plan(QUICK)  # 3 sizes × 2 budgets, about a minute; FULL: 7 × 5 and 8 longer runs
    n, loss = loss_vs_params(points, max(QUICK.budgets))
    print(bootstrap_power_law(n, loss, free_e=False).exponent)  # 3 points: fit E too only with 4 or more
"""
