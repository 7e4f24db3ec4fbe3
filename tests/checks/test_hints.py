"""Each exercise check, fed a deliberately wrong solution for a common mistake, names that mistake in its message.

The wrong solutions are the reference functions with one replaced by a broken copy; the checks are called
directly with that namespace (as the ``ex`` fixture would hand them over), and one end-to-end run goes through
``run_checks`` with a wrong exercises.py written to a temporary folder.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from tests.exercises import test_ch01_exercises as ch1
from tests.exercises import test_ch02_exercises as ch2
from tests.exercises import test_ch03_exercises as ch3
from tests.exercises import test_ch04_exercises as ch4
from zero2hero.checks import reference_namespace
from zero2hero.checks.feedback import CheckFailure, one_thread
from zero2hero.checks.runner import run_checks


def _with(module, **wrong: Callable) -> SimpleNamespace:
    """The reference functions of a check module, with some replaced by wrong versions."""
    return SimpleNamespace(**{**vars(reference_namespace(module.REFERENCE)), **wrong})


def _message(check: Callable, *args: object) -> str:
    with one_thread(), pytest.raises(CheckFailure) as failure:
        check(*args)
    return str(failure.value)


# ---- chapter 1 ---------------------------------------------------------------------------------------------------

def test_case_sensitive_stopwords_are_named() -> None:
    import stopwordsiso

    def case_sensitive(tokens: list[str], language: str = "en") -> list[str]:
        return [t for t in tokens if t not in stopwordsiso.stopwords(language)]

    message = _message(ch1.test_remove_stopwords_matches_stopwords_iso, _with(ch1, remove_stopwords=case_sensitive))
    assert "first difference at item 0: expected 'Library', got 'The'" in message
    assert "hint: case-sensitive stopwords" in message


def test_ngram_off_by_one_is_named() -> None:
    def off_by_one(tokens: list[str], n: int) -> Counter:
        if n < 1:
            raise ValueError(n)
        return Counter(tuple(tokens[i:i + n]) for i in range(len(tokens) - n))

    message = _message(ch1.test_count_ngrams_matches_scikit_learn, _with(ch1, count_ngrams=off_by_one))
    assert "hint: off by one" in message


def test_run_checks_shows_the_whole_message(tmp_path: Path) -> None:
    wrong = tmp_path / "exercises.py"
    wrong.write_text(
        "import stopwordsiso\n"
        "from zero2hero.text.normalize import normalize_whitespace, strip_accents\n"
        "from zero2hero.text.tokenize import regex_tokenize\n"
        "from zero2hero.text.ngram import count_ngrams\n\n\n"
        "def remove_stopwords(tokens, language='en'):\n"
        "    return [t for t in tokens if t not in stopwordsiso.stopwords(language)]\n", encoding="utf-8")
    outcomes = {o.name: o for o in run_checks(1, wrong)}
    failed = outcomes["test_remove_stopwords_matches_stopwords_iso"]
    assert not failed.passed
    assert failed.message.startswith("remove_stopwords(tokens, 'en'): first difference at item 0")
    assert "\nhint: case-sensitive stopwords" in failed.message
    assert outcomes["test_count_ngrams_edges"].passed


# ---- chapter 2 ---------------------------------------------------------------------------------------------------

def _trainer(pretokenize: Callable[[str], list[str]] | None = None, byte_map: bool = True, ties: str = "tokenizers",
             extra: int = 0) -> Callable[[str, int], list[tuple[str, str]]]:
    """A textbook BPE trainer with one mistake switched on."""
    from zero2hero.tokenization.bpe import apply_merge
    from zero2hero.tokenization.byte_level import bytes_to_unicode, to_symbols
    from zero2hero.tokenization.byte_level import pretokenize as right_pretokenize

    def train(text: str, n_merges: int) -> list[tuple[str, str]]:
        cut = pretokenize or right_pretokenize
        words = Counter(to_symbols(p) if byte_map else p for p in cut(text))
        parts = {w: list(w) for w in words}
        ids = {s: i for i, s in enumerate(sorted(bytes_to_unicode().values()))}
        merges: list[tuple[str, str]] = []
        while len(merges) < n_merges + extra:
            counts: Counter = Counter()
            for w, p in parts.items():
                for pair in zip(p, p[1:], strict=False):
                    counts[pair] += words[w]
            if not counts:
                break
            if ties == "tokenizers":
                best = max(counts, key=lambda q: (counts[q], -ids.get(q[0], 0), -ids.get(q[1], 0)))
            else:  # GPT-2's rule: the greatest pair of byte strings
                best = max(counts, key=lambda q: (counts[q], q[0].encode(), q[1].encode()))
            ids.setdefault(best[0] + best[1], len(ids))
            parts = {w: apply_merge(p, best) for w, p in parts.items()}
            merges.append(best)
        return merges

    return train


def test_forgetting_the_byte_map_is_named() -> None:
    message = _message(ch2._check_merges, _with(ch2, train_bpe_merges=_trainer(byte_map=False)),
                       ch2.MANY_SCRIPTS_CORPUS, 120)
    assert "hint: forgot the byte-to-unicode map" in message


def test_off_by_one_in_merges_is_named() -> None:
    message = _message(ch2._check_merges, _with(ch2, train_bpe_merges=_trainer(extra=1)), ch2.MANY_SCRIPTS_CORPUS, 120)
    assert "got stops" not in message and "expected stops after 120 items" in message
    assert "hint: off by one: return exactly n_merges = 120 merges (you returned 121)" in message


def test_a_different_tie_break_is_named() -> None:
    text, _, _ = ch2.build_corpus_bpe()
    message = _message(ch2._check_merges, _with(ch2, train_bpe_merges=_trainer(ties="gpt2")), text, ch2.N_MERGES)
    assert "first difference at item" in message
    assert "hint: a tie:" in message and "ties go to the smallest (first id, second id)" in message


def test_a_wrong_pretokenizer_is_blamed_first() -> None:
    message = _message(ch2._check_merges,
                       _with(ch2, pretokenize=str.split, train_bpe_merges=_trainer(pretokenize=str.split)),
                       ch2.MANY_SCRIPTS_CORPUS, 120)
    assert "fix `pretokenize equals tokenizers byte level` first" in message


def test_not_skipping_a_merged_pair_is_named() -> None:
    def steps_one(parts: list[str], pair: tuple[str, str], merged: str | None = None) -> list[str]:
        out, i = [], 0
        while i < len(parts):
            if i + 1 < len(parts) and (parts[i], parts[i + 1]) == pair:
                out.append(merged or pair[0] + pair[1])
            else:
                out.append(parts[i])
            i += 1  # the bug: the pair's second symbol is visited again
        return out

    message = _message(ch2.test_apply_merge_worked_examples, _with(ch2, apply_merge=steps_one))
    assert "first difference at item 1: expected 'w', got 'o'" in message
    assert "hint: after merging parts[i] and parts[i + 1], go on at i + 2" in message


def test_decoding_token_by_token_is_named() -> None:
    from zero2hero.tokenization.byte_level import from_symbols

    def per_token(tokens: list[str]) -> str:
        return "".join(from_symbols(t).decode("utf-8", errors="replace") for t in tokens)

    _, tokenizer, _ = corpus = ch2.build_corpus_bpe()
    message = _message(ch2.test_bpe_decode_inverts_tokenizers_tokens, _with(ch2, bpe_decode=per_token), corpus,
                       ch2.build_heldout_texts())
    assert "hint: join all the bytes first and decode once" in message


def test_missing_cls_and_sep_are_named() -> None:
    from zero2hero.tokenization.wordpiece import wordpiece_encode

    def no_specials(text: str, vocab: dict[str, int], lowercase: bool = True) -> list[int]:
        return wordpiece_encode(text, vocab, lowercase)[1:-1]

    message = _message(ch2.test_wordpiece_encode_equals_the_minilm_ids, _with(ch2, wordpiece_encode=no_specials),
                       ch2.build_minilm_vocab_and_hf())
    assert "first difference at item 0: expected 101" in message
    assert "hint: add [CLS] at the start and [SEP] at the end" in message


# ---- chapter 3 ---------------------------------------------------------------------------------------------------

def _sdpa(scale: bool = True, flip_mask: bool = False) -> Callable:
    def attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None = None):
        scores = q @ k.transpose(-2, -1) / (math.sqrt(q.shape[-1]) if scale else 1.0)
        if mask is not None:
            scores = scores.masked_fill(~(mask.mT if flip_mask else mask), float("-inf"))
        weights = torch.softmax(scores, dim=-1)
        return weights @ v, weights

    return attention


def test_missing_sqrt_d_is_named() -> None:
    message = _message(ch3.test_attention_matches_torch, _with(ch3, scaled_dot_product_attention=_sdpa(scale=False)))
    assert "values differ" in message and "first at index (0, 0, 1, 0)" in message
    assert "hint: missing √d" in message


def test_mask_orientation_is_named() -> None:
    message = _message(ch3.test_attention_matches_torch, _with(ch3, scaled_dot_product_attention=_sdpa(flip_mask=True)))
    assert "hint: mask orientation" in message


def test_a_square_only_mask_is_named() -> None:
    def square_only(n_query: int, n_key: int, device: torch.device | None = None) -> torch.Tensor:
        return torch.tril(torch.ones(n_query, n_key, dtype=torch.bool, device=device))

    message = _message(ch3.test_causal_mask_square_and_cached, _with(ch3, causal_mask=square_only))
    assert "causal_mask(2, 4)" in message and "the queries are the *last* n_query" in message


def _mha(d_scale: str = "head") -> Callable:
    def attention(x: torch.Tensor, attn) -> torch.Tensor:
        b, t, d = x.shape
        q, k, v = (z.view(b, t, attn.n_head, d // attn.n_head).transpose(1, 2) for z in attn.qkv(x).split(d, -1))
        scale = {"head": d // attn.n_head, "model": d, "none": 1}[d_scale]
        scores = (q @ k.transpose(-2, -1) / math.sqrt(scale)).masked_fill(~torch.ones(t, t).tril().bool(), -math.inf)
        out = torch.softmax(scores, -1) @ v
        return attn.proj(out.transpose(1, 2).reshape(b, t, d))

    return attention


def test_multi_head_attention_scale_mistakes_are_named() -> None:
    message = _message(ch3._check_multi_head_attention, _with(ch3, multi_head_attention=_mha("none")))
    assert "hint: missing √d" in message
    message = _message(ch3._check_multi_head_attention, _with(ch3, multi_head_attention=_mha("model")))
    assert "hint: scale by √d_head (√8), the size of one head, not by √d_model" in message


def test_a_block_with_wrong_attention_points_to_the_attention_check() -> None:
    wrong_attention = _mha("none")

    def block(x: torch.Tensor, blk) -> torch.Tensor:
        x = x + wrong_attention(blk.ln1(x), blk.attn)
        return x + blk.mlp(blk.ln2(x))

    message = _message(ch3._check_block, _with(ch3, multi_head_attention=wrong_attention, gpt2_block=block))
    assert "fix `multi head attention matches torch` first" in message


def test_a_post_norm_block_is_named() -> None:
    def post_norm(x: torch.Tensor, blk) -> torch.Tensor:
        x = blk.ln1(x + blk.attn(x)[0])
        return blk.ln2(x + blk.mlp(x))

    assert "hint: GPT-2 is pre-norm" in _message(ch3._check_block, _with(ch3, gpt2_block=post_norm))


def test_missing_position_embeddings_are_named() -> None:
    def no_positions(ids: torch.Tensor, model) -> torch.Tensor:
        h = model.wte(ids)
        for blk in model.blocks:
            h = blk(h, None)[0]
        return model.ln_f(h) @ model.wte.weight.T

    message = _message(ch3.test_gpt2_forward_equals_transformers, _with(ch3, gpt2_forward=no_positions),
                       ch3.build_tiny_gpt2())
    assert "against GPT2LMHeadModel's logits" in message and "hint: add the position embeddings" in message


@pytest.mark.heavy
def test_unshifted_targets_are_named() -> None:
    import torch.nn.functional as F

    def unshifted(model, ids: torch.Tensor, steps: int, batch_size: int = 32, lr: float = 3e-3,
                  seed: int = 0) -> list[float]:
        t, gen = model.config.n_positions, torch.Generator().manual_seed(seed)
        opt, losses = torch.optim.AdamW(model.parameters(), lr=lr), []
        for _ in range(steps):
            batch = torch.stack([ids[s:s + t] for s in torch.randint(len(ids) - t, (batch_size,), generator=gen)])
            loss = F.cross_entropy(model(batch)[0].reshape(-1, model.config.vocab_size), batch.reshape(-1))
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
        return losses

    message = _message(ch3.test_training_loop_reaches_the_heldout_loss, _with(ch3, train_causal_lm=unshifted),
                       ch3.build_char_data())
    assert f"expected below {ch3.HELDOUT_LOSS_MAX} nats per character" in message
    assert "hint: training loss near 0 but held-out loss high" in message


def test_sampling_without_temperature_is_named() -> None:
    from zero2hero.transformer.train_lm import sample

    def ignores_temperature(model, prompt: list[int], n_new: int, temperature: float = 1.0,
                            generator: torch.Generator | None = None) -> list[int]:
        return sample(model, prompt, n_new, 1.0, generator)

    message = _message(ch3.test_sampling_draws_from_the_tempered_softmax,
                       _with(ch3, sample=ignores_temperature), (None, None, 80))
    assert "temperature=0.5" in message and "hint: divide the logits by the temperature" in message


# ---- chapter 4 ---------------------------------------------------------------------------------------------------

def test_nibble_order_is_named() -> None:
    def swapped(codes: torch.Tensor) -> torch.Tensor:
        half = codes.shape[1] // 2
        return (codes[:, half:] | (codes[:, :half] << 4)).to(torch.uint8)

    message = _message(ch4.test_pack_nibbles_ggml_order, _with(ch4, pack_nibbles=swapped))
    assert "first difference at item 0" in message and "hint: nibble order" in message


def test_q4_0_scale_byte_order_is_named() -> None:
    from zero2hero.quantization.ggml import quantize_q4_0

    def big_endian_d(x: torch.Tensor) -> torch.Tensor:
        blocks = quantize_q4_0(x).reshape(-1, 18).clone()
        blocks[:, [0, 1]] = blocks[:, [1, 0]]
        return blocks.reshape(*x.shape[:-1], -1)

    message = _message(ch4.test_q4_0_bytes_equal_gguf, _with(ch4, quantize_q4_0=big_endian_d))
    assert "(the fp16 scale d (bytes 0-1)) differs" in message and "hint: byte order of d" in message


@pytest.mark.heavy
def test_averaging_window_perplexities_is_named(smollm2) -> None:
    from zero2hero.quantization.evaluate import perplexity_from_logits

    def mean_of_windows(model, tokenizer, text: str, max_tokens: int = 512, window: int = 512) -> float:
        ids = tokenizer(text, return_tensors="pt").input_ids[0][:max_tokens]
        chunks = [ids[s:s + window] for s in range(0, len(ids) - 1, window)]
        with torch.inference_mode():
            return sum(perplexity_from_logits(model(c[None]).logits[0], c) for c in chunks) / len(chunks)

    message = _message(ch4.test_perplexity_loop_matches_transformers_loss, _with(ch4, perplexity=mean_of_windows),
                       smollm2)
    assert "hint: average the negative log-likelihood over every scored token" in message
