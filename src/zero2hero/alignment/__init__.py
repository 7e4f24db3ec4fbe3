"""Chapter 10: alignment — instruction tuning, preferences, a reward model, DPO and RL with a verifiable reward.

The API, module by module:

* :mod:`~zero2hero.alignment.instructions` — ``TASKS``, ``Instruction`` (task, template, prompt, answer),
  ``build_instructions(per_template, seed)`` (arithmetic, word, format and fine-food sentiment requests generated
  from templates), ``split_by_template`` (whole templates held out for the test), ``is_correct`` (the verifiable
  check), ``save_instructions`` / ``load_instructions`` (JSON lines).
* :mod:`~zero2hero.alignment.sft` — ``IGNORE_INDEX``, ``sft_labels`` (the response-only label mask),
  ``encode_example`` (the chat template, prompt length), ``collate`` (right padding), ``sft_loss``.
* :mod:`~zero2hero.alignment.response_logits` — ``response_logits``, ``response_token_logprobs`` and
  ``response_loss``: the LM head applied at the response positions only (``sft_loss``'s value without the full
  logits; what our SFT and DPO steps use).
* :mod:`~zero2hero.alignment.sft_train` — ``SFTConfig``, ``SFTHistory``, ``train_sft`` (our loop, LoRA or full
  fine-tuning), ``sft_step`` (one of its steps) and ``trl_sft_loss`` (TRL's ``SFTTrainer`` loss on the same batch).
* :mod:`~zero2hero.alignment.evaluate` — ``generate_responses`` (greedy, batched, left-padded, chat template) and
  ``instruction_accuracy`` (overall and per task).
* :mod:`~zero2hero.alignment.preferences` — ``RULES``, ``PreferencePair``, ``build_pairs`` (correct vs wrong, the
  asked format vs not, concise vs padded), ``save_pairs`` / ``load_pairs`` (JSON lines, one-line errors).
* :mod:`~zero2hero.alignment.labelling` — ``label_pairs``: a person picks the better of two responses, recorded as a
  ``PreferencePair(rule="human")`` (``z2h prefs label FILE``).
* :mod:`~zero2hero.alignment.reward` — ``bradley_terry_loss``, ``load_reward_model`` (MiniLM with a scalar head),
  ``reward_scores``, ``RewardConfig``, ``train_reward_model``, ``pair_accuracy`` and ``trl_reward_loss``.
* :mod:`~zero2hero.alignment.dpo` — ``dpo_loss``, ``sequence_logprobs``, ``check_same_vocabulary``, ``DPOConfig``,
  ``pair_batch``, ``dpo_step``, ``train_dpo``, ``kl_to_reference``, ``win_rate`` and ``trl_dpo_loss``.
* :mod:`~zero2hero.alignment.grpo` — ``arithmetic_reward`` (TRL's reward-function shape), ``GRPORunConfig``,
  ``GRPOHistory`` and ``run_grpo`` (TRL's GRPO on the arithmetic instructions).
"""
