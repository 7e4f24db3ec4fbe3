"""Chapter 8: prompting a language model, measured — prompt sets, chat templates, few-shot, chain-of-thought, soft
prompts and the statistics that say which differences are real.

The API, module by module:

* :mod:`~zero2hero.prompting.promptset` — ``PromptSet`` (kind ``label``/``number``/``json``/``free``, a system
  prompt, named templates with ``{variables}``, ``Item``s with references, a few-shot pool of ``Shot``s, label
  words, a JSON Schema or a rubric) and ``load_prompt_set(path_or_name, parameters)`` for YAML/JSONL files and the
  built-in sets (``sentiment``, ``arithmetic``, ``json-orders``, ``qualitative`` in ``sets/``), validated on load.
* :mod:`~zero2hero.prompting.tasks` — the generators behind the built-in sets: chapter 5's reviews, arithmetic word
  problems at three levels with checked answers and worked reasoning, purchase sentences to JSON.
* :mod:`~zero2hero.prompting.render` — ``prompt_messages`` (system, shots as user/assistant turns, the question;
  ``cot`` adds the chain-of-thought instruction) and ``prompt_ids`` (the tokenizer's chat template, with the
  over-the-context check).
* :mod:`~zero2hero.prompting.scoring` — ``score_output``: the answer extracted and normalised, right or wrong, parsed
  or not, per kind.
* :mod:`~zero2hero.prompting.engines` — ``load_engine("hf" | "ours" | "llamacpp", model)``: one interface
  (``generate``, ``continuation_log_probs``, ``cache_prefix``) over transformers, chapter 7's LLaMA and llama.cpp;
  :mod:`~zero2hero.prompting.prefix_cache` keeps the shared prompt prefix's KV cache.
* :mod:`~zero2hero.prompting.harness` — ``Condition`` (template, shots and their strategy, chain-of-thought,
  self-consistency samples, ``generate`` or ``logprob`` scoring, calibration) and ``run_condition`` → a
  ``ConditionResult`` of ``Record``s with accuracy and parse-rate intervals.
* :mod:`~zero2hero.prompting.fewshot` — ``ShotSelector`` (``random``, ``balanced``, ``nearest`` by MiniLM
  embeddings), ``FixedShots`` and ``orderings``.
* :mod:`~zero2hero.prompting.label_scoring` — ``decide`` from label log-probs, contextual calibration
  (content-free inputs) and a threshold tuned on dev.
* :mod:`~zero2hero.prompting.chain_of_thought` — the instructions and ``self_consistency`` (a majority vote over
  sampled chains).
* :mod:`~zero2hero.prompting.soft_prompt` — prompt tuning from scratch (``SoftPrompt``, ``train_soft_prompt``) and
  through PEFT (``peft_prompt_tuning``, ``copy_into_peft``), equal for the same embeddings.
* :mod:`~zero2hero.prompting.stats` — bootstrap ``interval`` and ``compare_paired`` (paired bootstrap, exact
  McNemar), whose ``verdict`` says when a difference is not significant.
* :mod:`~zero2hero.prompting.report`, :mod:`~zero2hero.prompting.rubric`, :mod:`~zero2hero.prompting.compare`,
  :mod:`~zero2hero.prompting.run` — ``z2h prompt run/score/compare``: run folders with Markdown and HTML reports,
  a rubric sheet, and paired comparisons of two runs.
* :mod:`~zero2hero.prompting.functional` — the exercises' reference versions: a template renderer, chat messages,
  answer normalisation and extraction, label log-probs, the bootstrap interval, a majority vote.
"""
