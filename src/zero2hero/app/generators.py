"""The two ways the review desk drafts a reply: llama.cpp on the GGUF file, or transformers on the merged folder.

Both render the prompt with :func:`zero2hero.pipeline.replies.render_reply_prompt` (the text the generator was
fine-tuned on), decode greedily (temperature 0: the same review always gets the same reply) and yield the reply in
pieces as it is written, so the web page can show it token by token.

* llama.cpp (:class:`LlamaCppReplies`): one ``Llama`` object holds one context, and llama.cpp is not thread-safe, so
  a lock lets one reply at a time use it; the context is reset before each reply, so no reply depends on the last.
* transformers (:class:`TransformersReplies`): ``generate`` runs in its own thread and hands decoded text to a
  ``TextIteratorStreamer``, which this side reads; closing the iterator early stops the generation at the next token.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

from zero2hero.pipeline.replies import render_reply_prompt


class ReplyGenerator(Protocol):
    backend: str

    def pieces(self, review: str, max_new_tokens: int) -> Iterator[str]:
        """The greedy reply to ``review``, at most ``max_new_tokens`` tokens, in pieces of text."""


class LlamaCppReplies:
    backend = "llamacpp"

    def __init__(self, gguf: Path, tokenizer: Any, n_ctx: int = 2048) -> None:
        from zero2hero.llama.llamacpp import load

        self.tokenizer = tokenizer  # the merged folder's tokenizer: it renders the chat template
        self.llm = load(gguf, n_ctx=n_ctx)
        self.lock = threading.Lock()

    def pieces(self, review: str, max_new_tokens: int) -> Iterator[str]:
        prompt = render_reply_prompt(self.tokenizer, review)
        with self.lock:  # released when the reply ends, fails, or its reader closes the iterator
            self.llm.reset()
            for chunk in self.llm.create_completion(prompt, max_tokens=max_new_tokens, temperature=0.0, top_k=1,
                                                    repeat_penalty=1.0, stream=True):
                yield chunk["choices"][0]["text"]


class TransformersReplies:
    backend = "transformers"

    def __init__(self, model: Any, tokenizer: Any) -> None:
        self.model = model.eval()
        self.tokenizer = tokenizer

    def pieces(self, review: str, max_new_tokens: int) -> Iterator[str]:
        from transformers import TextIteratorStreamer

        prompt = render_reply_prompt(self.tokenizer, review)
        inputs = self.tokenizer(prompt, return_tensors="pt", add_special_tokens=False)  # the template has them
        streamer = TextIteratorStreamer(self.tokenizer, skip_prompt=True, skip_special_tokens=True)
        stop = threading.Event()
        failure: list[BaseException] = []
        worker = threading.Thread(target=self._generate, args=(inputs, max_new_tokens, streamer, stop, failure),
                                  daemon=True)
        worker.start()
        try:
            yield from streamer
        finally:
            stop.set()
            worker.join()
        if failure:
            raise failure[0]

    def _generate(self, inputs: Any, max_new_tokens: int, streamer: Any, stop: threading.Event,
                  failure: list[BaseException]) -> None:
        import torch
        from transformers import StoppingCriteria, StoppingCriteriaList

        class Stopped(StoppingCriteria):
            def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor, **kwargs: Any) -> bool:
                return stop.is_set()

        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else self.tokenizer.eos_token_id
        try:
            with torch.inference_mode():
                self.model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False, streamer=streamer,
                                    stopping_criteria=StoppingCriteriaList([Stopped()]), pad_token_id=pad)
        except Exception as err:  # handed to the reader, which would otherwise wait for text forever
            failure.append(err)
            streamer.end()
