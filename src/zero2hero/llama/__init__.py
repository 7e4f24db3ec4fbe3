"""Chapter 7: the LLaMA architecture from scratch, and a from-scratch GGUF reader that loads llama.cpp's files into it.

The API, module by module:

* :mod:`~zero2hero.llama.model` — ``LlamaConfig`` (transformers' field names; defaults are SmolLM2-135M's),
  ``RMSNorm``, ``rotary_cos_sin``/``rotate_half``/``apply_rotary`` (RoPE, half-split layout),
  ``GroupedQueryAttention``, ``SwiGLU``, ``LlamaBlock``, ``Llama`` and ``from_transformers(LlamaForCausalLM)``.
  ``Llama(ids (batch, n_new), cache=None) -> (logits (batch, n_new, vocab), cache)``; the cache is a list of
  per-layer (keys, values), each (batch, kv_head, n_past, head_dim), so chapter 3's
  :func:`zero2hero.transformer.generate.stream`/``generate`` drive it (greedy, sampling, KV cache).
* :mod:`~zero2hero.llama.gguf_reader` — ``read_gguf(path) -> GGUFFile``: ``version``, ``metadata`` (key -> int,
  float, bool, str or nested list), ``tensors`` (name -> ``TensorInfo(name, shape, type_id, offset)``, shape in
  torch order), ``alignment``, ``data_offset``; ``GGUFFile.read_raw(name)`` (the stored bytes) and
  ``GGUFFile.read_tensor(name)`` (float32). Bad files raise :class:`zero2hero.errors.InputError`.
* :mod:`~zero2hero.llama.ggml_types` — GGML type numbers and names, ``tensor_nbytes`` and ``to_float32`` for
  F32, F16, Q8_0, Q4_0, Q4_1 (chapter 4's dequantisers), Q5_0 and Q4_K (:mod:`zero2hero.quantization.kquant`,
  llama.cpp's 4-bit super-block format, written byte for byte as llama.cpp writes it).
* :mod:`~zero2hero.llama.gguf_model` — ``config_from_gguf(GGUFFile)``, ``unpermute_rotary`` (undoes llama.cpp's
  query/key row order), ``gguf_names(cfg)`` (our parameter name -> GGUF tensor name) and
  ``llama_from_gguf(path=None) -> Llama`` (default: the offline SmolLM2-135M-Instruct Q4_1 file).
* :mod:`~zero2hero.llama.llamacpp` — llama.cpp through the optional llama-cpp-python: ``load(path, n_ctx,
  n_threads, logits_all)``, ``generate_greedy(llm, prompt, max_new_tokens) -> Generation`` (ids, text, prefill and
  decode seconds), ``token_logits(llm, ids)`` and ``perplexity(llm, ids, window)`` (chapter 4's definition).
* :mod:`~zero2hero.llama.style_finetune` — ``style_finetune(StyleConfig, StyleText, out_dir) -> StyleResult``: SmolLM2
  taught one author's style (``austen_text()``) with our LoRA and PEFT's, each run's resources recorded
  (``TrainingRecord``: time, tokens/s, peak memory, trainable parameters, adapter size, held-out perplexity,
  greedy continuations); ``QUICK`` and ``FULL`` configurations.
* :mod:`~zero2hero.llama.gguf_deploy` — ``deploy_adapter(adapter_dir, out_dir, heldout, prompt, DeployConfig)``:
  chapter 6's merge, ``from_transformers``, GGUF at F32/Q8_0/Q4_0/Q4_K, each file scored by our reader and by
  llama.cpp beside the base model at the same format (``DeployResult``).

Example::

    from zero2hero.llama.gguf_model import llama_from_gguf
    from zero2hero.transformer.generate import SamplingConfig, generate

    model = llama_from_gguf()  # SmolLM2-135M-Instruct, dequantised to float32
    new_ids = generate(model, prompt_ids, SamplingConfig(max_new_tokens=32))
"""
