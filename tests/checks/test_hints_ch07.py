"""Chapter 7: each exercise check, fed a deliberately wrong solution for a common mistake, names that mistake.

Each wrong solution is the reference module (zero2hero/llama/functional.py) with one line changed the way a learner
might get it wrong; the functions of that changed copy call each other, as a learner's would.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.checks.mutation import failure_message
from tests.exercises import test_ch07_exercises as ch7
from zero2hero.checks.feedback import one_thread
from zero2hero.llama import functional

SOURCE = inspect.getsource(functional)


def _changed(old: str, new: str) -> SimpleNamespace:
    """The reference functions, from a copy of their module with ``old`` replaced by ``new``."""
    assert SOURCE.count(old) == 1, f"the reference no longer holds {old!r}"
    namespace = {"__name__": functional.__name__}
    exec(compile(SOURCE.replace(old, new), functional.__file__, "exec"), namespace)
    return SimpleNamespace(**{name: namespace[name] for name in ch7.REFERENCE})



@pytest.fixture(scope="module")
def gguf_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, ch7.GGUFCase]:
    return ch7.write_gguf_files(tmp_path_factory.mktemp("gguf"))


NORM = "h = h * torch.rsqrt(mean_square + eps)"
MEAN = "mean_square = h.pow(2).mean(dim=-1, keepdim=True)"
ANGLES = "angles = torch.cat([angles, angles], dim=-1)  # (n, head_dim)"
ROTATE = "return x * cos.to(x.dtype) + turned * sin.to(x.dtype)"
EXPAND = "kv = kv[:, :, None].expand(batch, kv_heads, n_rep, n, head_dim)"
REPEAT = "k, v = repeat_kv(k, heads // kv_heads), repeat_kv(v, heads // kv_heads)"
FIXED = 'version, tensor_count, metadata_count = struct.unpack_from("<IQQ", data, 4)\n    pos = 4 + 4 + 8 + 8'
STRING = 'return data[pos:pos + length].decode("utf-8"), pos + length'
Q8_0 = 'block = np.dtype([("d", "<f2"), ("q", "i1", Q8_0_BLOCK)])'

MISTAKES = [  # (check, old, new, what its message must say)
    (ch7.test_rms_norm_matches_transformers_llama_rms_norm, MEAN, MEAN.replace("dim=-1", "dim=0"),
     "the mean runs over the last dimension"),
    (ch7.test_rms_norm_matches_transformers_llama_rms_norm, NORM, "h = h / (mean_square + eps)",
     "divide by the root of the mean square"),
    (ch7.test_rms_norm_matches_transformers_llama_rms_norm, NORM, "h = h / (torch.sqrt(mean_square) + eps)",
     "eps goes inside the root"),
    (ch7.test_rms_norm_matches_transformers_llama_rms_norm, NORM, "h = h * torch.rsqrt(mean_square + 1e-6)",
     "add the eps passed in (eps=1e-05 here)"),
    (ch7.test_rms_norm_matches_transformers_llama_rms_norm, "return weight * h.to(x.dtype)", "return h.to(x.dtype)",
     "multiply by weight"),
    (ch7.test_rms_norm_matches_transformers_llama_rms_norm, "h = x.float()", "h = x - x.mean(-1, keepdim=True)",
     "that is LayerNorm"),
    (ch7.test_rms_norm_matches_transformers_llama_rms_norm, MEAN, MEAN.replace(", keepdim=True", ""),
     "raised RuntimeError"),
    (ch7.test_rms_norm_keeps_bfloat16_and_float16_accurate, "h = x.float()", "h = x", "x² overflows float16"),
    (ch7.test_rms_norm_keeps_bfloat16_and_float16_accurate, "return weight * h.to(x.dtype)",
     "return weight.float() * h", "cast the normalised values back to x's dtype"),
    (ch7.test_rotary_cos_sin_matches_transformers_llama_rotary_embedding, ANGLES,
     "angles = angles.repeat_interleave(2, dim=-1)", "that is the interleaved layout"),
    (ch7.test_rotary_cos_sin_matches_transformers_llama_rotary_embedding, "positions.float()[:, None]",
     "(positions.float() + 1)[:, None]", "(no +1)"),
    (ch7.test_rotary_cos_sin_matches_transformers_llama_rotary_embedding, "1.0 / base **", "1.0 / 10000.0 **",
     "use the base passed in (500000), not 10000"),
    (ch7.test_rotary_cos_sin_matches_transformers_llama_rotary_embedding, "torch.arange(0, head_dim, 2,",
     "torch.arange(0, head_dim // 2,", "the exponent is 2i / head_dim"),
    (ch7.test_rotary_cos_sin_matches_transformers_llama_rotary_embedding, ANGLES, "", "cos and sin are (n, head_dim)"),
    (ch7.test_rotary_cos_sin_matches_transformers_llama_rotary_embedding, "return angles.cos(), angles.sin()",
     "return angles.sin(), angles.cos()", "return (cos, sin) in that order"),
    (ch7.test_apply_rotary_matches_transformers_apply_rotary_pos_emb, ROTATE, ROTATE.replace("+ turned", "- turned"),
     "it is added, times sin"),
    (ch7.test_apply_rotary_matches_transformers_apply_rotary_pos_emb, "turned = torch.cat([-x2, x1], dim=-1)",
     "turned = torch.stack([-x[..., 1::2], x[..., 0::2]], dim=-1).flatten(-2)", "rotates the interleaved pairs"),
    (ch7.test_apply_rotary_matches_transformers_apply_rotary_pos_emb, ROTATE, "return x * cos + turned * sin",
     "cast cos and sin to x's dtype"),
    (ch7.test_repeat_kv_matches_transformers_repeat_kv, EXPAND, "return kv.repeat(1, n_rep, 1, 1)",
     "that tiles the heads"),
    (ch7.test_grouped_query_attention_matches_torch_enable_gqa, EXPAND, "return kv.repeat(1, n_rep, 1, 1)",
     "fix `repeat kv matches transformers repeat kv` first"),
    (ch7.test_grouped_query_attention_matches_torch_enable_gqa, REPEAT,
     "k, v = k.repeat(1, heads // kv_heads, 1, 1), v.repeat(1, heads // kv_heads, 1, 1)",
     "consecutive query heads share one"),
    (ch7.test_grouped_query_attention_matches_torch_enable_gqa, "if causal else None", "if False else None",
     "mask the future"),
    (ch7.test_grouped_query_attention_matches_torch_enable_gqa, "scaled_dot_product_attention(q, k, v, mask)",
     "scaled_dot_product_attention(q * math.sqrt(q.shape[-1]), k, v, mask)", "divide the scores q·kᵀ by √head_dim"),
]

GGUF_MISTAKES = [  # (check, old, new, what its message must say)
    (ch7.test_read_gguf_header_reads_version_and_counts, FIXED, FIXED.replace("<IQQ", ">IQQ"),
     "GGUF is little-endian"),
    (ch7.test_read_gguf_header_reads_version_and_counts, FIXED, FIXED.replace("<IQQ", "<III").replace("8 + 8", "4 + 4"),
     "the tensor count and the metadata count are uint64"),
    (ch7.test_read_gguf_header_reads_version_and_counts, "if magic != MAGIC:", "if False:", "check the magic"),
    (ch7.test_read_gguf_header_reads_strings_and_numbers, 'length, pos = _read_scalar(data, pos, "<Q")',
     'length, pos = _read_scalar(data, pos, "<I")', "a string is a uint64 byte length"),
    (ch7.test_read_gguf_header_reads_strings_and_numbers, STRING,
     'text = data[pos:pos + length].decode("utf-8")\n    return text, pos + len(text)', "counts bytes, not characters"),
    (ch7.test_read_gguf_header_reads_strings_and_numbers, 'ValueType.INT16: "<h"', 'ValueType.INT16: "<H"',
     "int16 is signed"),
    (ch7.test_read_gguf_header_reads_strings_and_numbers, 'ValueType.BOOL: "<?"', 'ValueType.BOOL: "<B"',
     "read a bool with '<?'"),
    (ch7.test_read_gguf_header_reads_arrays, 'count, pos = _read_scalar(data, pos, "<Q")',
     'count, pos = _read_scalar(data, pos, "<I")', "an array is the elements' value type (uint32)"),
    (ch7.test_read_gguf_tensor_reads_f32_tensors, FIXED, FIXED.replace("<IQQ", ">IQQ"),
     "fix `read gguf header reads strings and numbers` first"),
    (ch7.test_read_gguf_tensor_reads_f32_tensors, "start, count = data_start + info.offset,",
     "start, count = info.offset,", "not from the start of the file"),
    (ch7.test_read_gguf_tensor_reads_f32_tensors, "data_start = (pos + alignment - 1) // alignment * alignment",
     "data_start = pos", "the data section starts at the next multiple of the alignment (32)"),
    (ch7.test_read_gguf_tensor_reads_f32_tensors,
     'alignment = header.metadata.get("general.alignment", DEFAULT_ALIGNMENT)', "alignment = 32",
     "this file sets general.alignment = 64"),
    (ch7.test_read_gguf_tensor_reads_f32_tensors, "TensorInfo(name, tuple(reversed(sizes))",
     "TensorInfo(name, tuple(sizes)", "innermost first"),
    (ch7.test_read_gguf_tensor_reads_f32_tensors, 'dtype="<f4", count=count', 'dtype=">f4", count=count',
     "the floats are little-endian"),
    (ch7.test_read_gguf_tensor_dequantises_q8_0, Q8_0, Q8_0.replace('"i1"', '"u1"'), "are signed (int8"),
    (ch7.test_read_gguf_tensor_dequantises_q8_0, Q8_0, Q8_0.replace('"<f2"', '"<f4"'), "not a 4-byte float32"),
    (ch7.test_read_gguf_tensor_dequantises_q8_0, 'blocks["d"].astype(np.float32)[:, None] * blocks["q"]',
     'blocks["q"].astype(np.float32)', "multiply each value q by its block's scale d"),
]


LOGS = "log_x, log_y = np.log(x), np.log(y)"
LAW = "return math.exp(intercept), -slope"
SIX = "return 6.0 * parameters * tokens"
VALID = "if x.ndim != 1 or x.shape != y.shape or len(np.unique(x)) < 2 or (x <= 0).any() or (y <= 0).any():"
ROOT = "parameters = math.sqrt(compute / (6 * tokens_per_parameter))"

SCALING_MISTAKES = [  # (check, old, new, what its message must say)
    (ch7.test_fit_power_law_log_recovers_a_known_law, LAW, "return math.exp(intercept), slope",
     "α is minus the slope"),
    (ch7.test_fit_power_law_log_recovers_a_known_law, LAW, "return intercept, -slope", "the intercept is log A"),
    (ch7.test_fit_power_law_log_recovers_a_known_law, LOGS, LOGS.replace("np.log(", "np.log10("),
     "those are base-10 logarithms"),
    (ch7.test_fit_power_law_log_recovers_a_known_law, LOGS, LOGS.replace("np.log(y)", "np.log10(y)"),
     "take the same logarithm of x and of y"),
    (ch7.test_fit_power_law_log_recovers_a_known_law, LOGS, LOGS.replace("np.log(x)", "x"),
     "take the logarithm of x too"),
    (ch7.test_fit_power_law_log_recovers_a_known_law, LOGS, "log_x, log_y = np.log(y), np.log(x)",
     "the line predicts log y from log x"),
    (ch7.test_fit_power_law_log_recovers_a_known_law, VALID, "if False:",
     "raise InputError unless x and y hold the same number of positive values"),
    (ch7.test_fit_power_law_log_matches_numpy_polyfit_on_noisy_points, LAW, "return math.exp(intercept), slope",
     "fix `fit power law log recovers a known law` first"),
    (ch7.test_training_flops_is_six_n_d, SIX, SIX.replace("6.0", "2.0"), "the forward pass only"),
    (ch7.test_training_flops_is_six_n_d, SIX, SIX.replace("6.0", "3.0"), "a multiply-add is 2 FLOPs"),
    (ch7.test_training_flops_is_six_n_d, SIX, "return 6.0 * parameters", "multiply by the number of tokens too"),
    (ch7.test_training_flops_matches_torch_flop_counter, SIX, SIX.replace("6.0", "2.0"), "the forward pass only"),
    (ch7.test_training_flops_matches_torch_flop_counter, SIX, "return 6.0 * parameters",
     "multiply by the number of tokens too"),
    (ch7.test_chinchilla_optimal_spends_the_budget_at_k_tokens_per_parameter, ROOT,
     "parameters = compute / (6 * tokens_per_parameter)", "take the square root"),
    (ch7.test_chinchilla_optimal_spends_the_budget_at_k_tokens_per_parameter, ROOT,
     "parameters = math.sqrt(compute / 6 * tokens_per_parameter)", "divide by the whole 6k"),
    (ch7.test_chinchilla_optimal_spends_the_budget_at_k_tokens_per_parameter, ROOT,
     ROOT.replace("6 *", "2 *"), "not 2 · N · D"),
    (ch7.test_chinchilla_optimal_spends_the_budget_at_k_tokens_per_parameter, "return parameters, tokens",
     "return tokens, parameters", "return (N, D) in that order"),
    (ch7.test_chinchilla_optimal_spends_the_budget_at_k_tokens_per_parameter,
     "tokens = tokens_per_parameter * parameters", "tokens = parameters / tokens_per_parameter",
     "k tokens for each parameter"),
    (ch7.test_chinchilla_optimal_spends_the_budget_at_k_tokens_per_parameter, "tokens_per_parameter: float = 20.0",
     "tokens_per_parameter: float = 10.0", "the default tokens_per_parameter is 20"),
]


def _label(case: tuple) -> str:
    return case[3]


@pytest.mark.parametrize(("check", "old", "new", "hint"), MISTAKES, ids=[_label(c) for c in MISTAKES])
def test_llama_mistakes_are_named(check: Callable, old: str, new: str, hint: str) -> None:
    assert hint in failure_message(check, _changed(old, new))


@pytest.mark.parametrize(("check", "old", "new", "hint"), GGUF_MISTAKES, ids=[_label(c) for c in GGUF_MISTAKES])
def test_gguf_mistakes_are_named(check: Callable, old: str, new: str, hint: str,
                                 gguf_files: dict[str, ch7.GGUFCase]) -> None:
    assert hint in failure_message(check, _changed(old, new), gguf_files)


@pytest.mark.parametrize(("check", "old", "new", "hint"), SCALING_MISTAKES, ids=[_label(c) for c in SCALING_MISTAKES])
@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # numpy's, on the logarithm of 0 when the input goes unchecked
def test_scaling_law_mistakes_are_named(check: Callable, old: str, new: str, hint: str) -> None:
    assert hint in failure_message(check, _changed(old, new))


def test_a_wrong_six_n_d_is_named_before_chinchilla_optimal() -> None:
    learner = _changed(SIX, SIX.replace("6.0", "2.0"))
    learner.chinchilla_optimal = _changed(ROOT, ROOT.replace("6 *", "2 *")).chinchilla_optimal
    message = failure_message(ch7.test_chinchilla_optimal_spends_the_budget_at_k_tokens_per_parameter, learner)
    assert "fix `training flops is six n d` first" in message


def test_the_unchanged_reference_passes_every_check(gguf_files: dict[str, ch7.GGUFCase]) -> None:
    reference = _changed(NORM, NORM)  # the copy itself must be sound, or a mistake above could fail for another reason
    with one_thread():
        for check in {case[0] for case in MISTAKES}:
            check(reference)
        for check in {case[0] for case in GGUF_MISTAKES}:
            check(reference, gguf_files)
        for check in {case[0] for case in SCALING_MISTAKES}:
            check(reference)


def test_a_learner_file_with_its_own_dataclass_loads(tmp_path: Path) -> None:
    from zero2hero.checks import load_learner_module

    path = tmp_path / "exercises.py"
    path.write_text("from dataclasses import dataclass\n\n\n@dataclass\nclass Info:\n    name: str\n")
    assert load_learner_module(path).Info("x").name == "x"
