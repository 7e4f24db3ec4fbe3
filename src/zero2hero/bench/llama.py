"""`z2h bench llama`: one GGUF file, SmolLM2-135M-Instruct, run by llama.cpp, by transformers and by our LLaMA.

The paths (rows):

* ``llamacpp_q4_1`` — llama.cpp (through llama-cpp-python) on the shipped Q4_1 file;
* ``llamacpp_q8_0``, ``llamacpp_q4_0`` — llama.cpp on Q8_0 and Q4_0 files that our writer
  (:func:`~zero2hero.llama.gguf_writer.write_gguf`) makes from our model loaded from that file (written to a
  temporary folder before anything is timed);
* ``transformers_fp32`` — transformers' ``LlamaForCausalLM`` with the same weights dequantised to float32, greedy
  ``model.generate`` with its KV cache;
* ``ours_fp32`` — our LLaMA read from the file (:func:`~zero2hero.llama.gguf_model.llama_from_gguf`), driven by
  chapter 3's generation loop with its KV cache;
* ``ours_int8_fused``, ``ours_int4_g32_fused`` — the same model with chapter 4's fused weight-only kernels
  (:func:`~zero2hero.quantization.fused.fuse_model`) in every block's linear layers.

Every path gets the same prompt ids (the first held-out tokens, through the GGUF's tokenizer), decodes greedily the
same number of new tokens, and scores the same held-out ids with chapter 4's perplexity (consecutive windows).
Speed: the paths alternate over rounds and each keeps its best prefill and its best decode tokens/s. Load time and
memory: each path loads in a fresh Python process, so that memory one path freed cannot hide another's cost; the
modules a path needs are imported before its clock and its memory baseline start. Bytes per token: the weights one
decoded token reads in the path's storage format (the GGUF's tensor bytes; the model's tensors for the PyTorch
paths), the KV cache left out.
"""

from __future__ import annotations

import copy
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zero2hero.bench import BenchResult
from zero2hero.errors import Zero2HeroError
from zero2hero.reporting import Table

DESCRIPTION = ("llama.cpp (Q4_1/Q8_0/Q4_0) vs transformers fp32 vs our LLaMA (fp32, fused int8/int4) on one GGUF: "
               "load, memory, prefill/decode tokens/s, perplexity, bandwidth")
LLAMACPP_PATHS = ("llamacpp_q4_1", "llamacpp_q8_0", "llamacpp_q4_0")
TORCH_PATHS = ("transformers_fp32", "ours_fp32", "ours_int8_fused", "ours_int4_g32_fused")
OURS_PATHS = ("ours_fp32", "ours_int8_fused", "ours_int4_g32_fused")
GOAL_OURS_OVER_TRANSFORMERS = 1.0  # our fp32 decode should be at least as fast as transformers' on the same weights
PROMPT_TOKENS = 100
PPL_WINDOW = 512
GENERATION_CONTEXT = 512  # llama.cpp's context for the prompt and the new tokens


@dataclass(frozen=True)
class Sizing:
    new_tokens: int
    ppl_tokens: int
    rounds: int  # alternating speed rounds
    load_rounds: int  # fresh processes per path for load time and memory


FULL = Sizing(new_tokens=64, ppl_tokens=512, rounds=3, load_rounds=2)
QUICK = Sizing(new_tokens=8, ppl_tokens=64, rounds=1, load_rounds=1)


@dataclass
class Generated:
    """One greedy generation: the new ids and the speed of its two phases."""

    new_ids: list[int]
    prefill_tokens_per_s: float
    decode_tokens_per_s: float  # the new tokens after the first, per second after the first


@dataclass
class Engine:
    """A loaded path: greedy generation, perplexity on ids, and the weight bytes one decoded token reads."""

    generate: Callable[[list[int], int], Generated]
    perplexity: Callable[[list[int]], float]
    weight_bytes: int


# ---- the paths ----

def _gguf_files(folder: Path) -> dict[str, Path]:
    """Format -> GGUF file: the shipped Q4_1 and, in ``folder``, our writer's Q8_0 and Q4_0."""
    from zero2hero.assets import asset_path

    return {"q4_1": asset_path("smollm2"), "q8_0": folder / "smollm2-q8_0.gguf", "q4_0": folder / "smollm2-q4_0.gguf"}


def write_our_files(files: dict[str, Path]) -> None:
    """Our model read from the shipped file, written back as Q8_0 and Q4_0 with the same tokenizer entries."""
    from zero2hero.llama.gguf_model import llama_from_gguf
    from zero2hero.llama.gguf_reader import read_gguf
    from zero2hero.llama.gguf_writer import tokenizer_entries, write_gguf

    model = llama_from_gguf(files["q4_1"])
    tokenizer = tokenizer_entries(read_gguf(files["q4_1"]))
    for fmt in ("q8_0", "q4_0"):
        write_gguf(model, files[fmt], fmt, tokenizer)


def _llamacpp_engine(path: Path) -> Engine:
    """llama.cpp on ``path``: a context keeping the last logits only for generation (as llama-cli runs), and one
    keeping every position's logits (``logits_all``), made when perplexity is asked for."""
    from zero2hero.llama import llamacpp
    from zero2hero.llama.ggml_types import tensor_nbytes
    from zero2hero.llama.gguf_reader import read_gguf

    llm = llamacpp.load(path, n_ctx=GENERATION_CONTEXT)

    def generate(ids: list[int], n: int) -> Generated:
        g = llamacpp.generate_greedy(llm, ids, max_new_tokens=n)
        return Generated(list(g.ids), g.prefill_tokens_per_s, g.decode_tokens_per_s)

    def perplexity(ids: list[int]) -> float:
        return llamacpp.perplexity(llamacpp.load(path, n_ctx=PPL_WINDOW, logits_all=True), ids, window=PPL_WINDOW)

    tensors = read_gguf(path).tensors
    return Engine(generate, perplexity, sum(tensor_nbytes(t.type_id, t.shape, name) for name, t in tensors.items()))


def _tensor_bytes(model: Any) -> int:
    """Bytes of every distinct tensor of the model's state (a tied matrix counts once, packed weights as stored)."""
    tensors = {t.data_ptr(): t for t in model.state_dict().values()}
    return sum(t.numel() * t.element_size() for t in tensors.values())


def _perplexity(logits_of: Callable[[Any], Any], ids: list[int]) -> float:
    """Chapter 4's windowed perplexity on ``ids``; ``logits_of``: ids (1, n) -> logits (1, n, vocab)."""
    import torch

    from zero2hero.quantization.evaluate import windowed_perplexity

    return windowed_perplexity(lambda chunk: logits_of(chunk[None])[0], torch.tensor(ids), PPL_WINDOW)


def _transformers_engine() -> Engine:
    """transformers on the float32 weights zero2hero dequantised once from the shipped GGUF (``load_causal_lm``)."""
    import torch
    from transformers.generation.streamers import BaseStreamer

    from zero2hero.assets import load_causal_lm

    model, tokenizer = load_causal_lm("smollm2")

    class Clock(BaseStreamer):  # generate() hands it the prompt first, then each new token as it is chosen
        def __init__(self) -> None:
            self.times: list[float] = []

        def put(self, value: Any) -> None:
            self.times.append(time.perf_counter())

        def end(self) -> None:
            pass

    def generate(ids: list[int], n: int) -> Generated:
        clock = Clock()
        with torch.inference_mode():
            start = time.perf_counter()
            out = model.generate(torch.tensor([ids]), max_new_tokens=n, min_new_tokens=n, do_sample=False,
                                 pad_token_id=tokenizer.eos_token_id, streamer=clock)
        first, last = clock.times[1], clock.times[-1]
        return Generated(out[0, len(ids):].tolist(), len(ids) / (first - start), (n - 1) / (last - first))

    return Engine(generate, lambda ids: _perplexity(lambda x: model(x).logits, ids), _tensor_bytes(model))


def _ours_engine(model: Any) -> Engine:
    """Our LLaMA (or a fused copy of it) driven by chapter 3's generation loop."""
    from zero2hero.transformer.generate import GenerationStats, SamplingConfig, generate

    def run(ids: list[int], n: int) -> Generated:
        stats = GenerationStats()
        new_ids = generate(model, ids, SamplingConfig(max_new_tokens=n), stats)
        return Generated(new_ids, stats.prefill_tokens_per_s, stats.decode_tokens_per_s)

    return Engine(run, lambda ids: _perplexity(lambda x: model(x)[0], ids), _tensor_bytes(model))


def _ours_model(path: str, source: Path) -> Any:
    from zero2hero.llama.gguf_model import llama_from_gguf
    from zero2hero.quantization.fused import fuse_model

    model = llama_from_gguf(source)
    return model if path == "ours_fp32" else fuse_model(model, path.removeprefix("ours_").removesuffix("_fused"))


def load_engine(path: str, files: dict[str, Path]) -> Engine:
    """Load one path from the GGUF files (our model's paths each read the shipped file themselves)."""
    if path in LLAMACPP_PATHS:
        return _llamacpp_engine(files[path.removeprefix("llamacpp_")])
    if path == "transformers_fp32":
        return _transformers_engine()
    return _ours_engine(_ours_model(path, files["q4_1"]))


def load_engines(paths: list[str], files: dict[str, Path]) -> dict[str, Engine]:
    """Every path, in this process; the fused models are copies of one fp32 model instead of three file reads."""
    from zero2hero.quantization.fused import fuse_model

    engines = {path: load_engine(path, files) for path in paths if path not in OURS_PATHS}
    ours = _ours_model("ours_fp32", files["q4_1"])
    for path in OURS_PATHS:
        fmt = path.removeprefix("ours_").removesuffix("_fused")
        engines[path] = _ours_engine(ours if path == "ours_fp32" else fuse_model(copy.deepcopy(ours), fmt))
    return {path: engines[path] for path in paths}


# ---- load time and memory, one fresh process per path ----

def _modules_needed(path: str) -> tuple[str, ...]:
    """What loading ``path`` imports: the fresh process imports it before its memory baseline and its clock."""
    if path in LLAMACPP_PATHS:
        return "llama_cpp", "zero2hero.llama.llamacpp", "zero2hero.llama.gguf_reader", "zero2hero.llama.ggml_types"
    if path == "transformers_fp32":
        return "transformers.models.llama.modeling_llama", "transformers.generation.streamers", "zero2hero.assets"
    return "zero2hero.llama.gguf_model", "zero2hero.quantization.fused", "zero2hero.transformer.generate"


def _measure_load(path: str, folder: str, prompt: str, new_tokens: str) -> None:
    """In a fresh process: load ``path``, generate, and print load seconds and the memory it added (JSON)."""
    import gc
    import importlib

    import psutil

    from zero2hero.measure import PeakMemory, Stopwatch

    for module in _modules_needed(path):
        importlib.import_module(module)
    with PeakMemory() as peak:
        watch = Stopwatch()
        engine = load_engine(path, _gguf_files(Path(folder)))
        load_s = watch.seconds
        engine.generate([int(i) for i in prompt.split(",")], int(new_tokens))
    gc.collect()
    resident_mb = psutil.Process().memory_info().rss / 1e6
    print(json.dumps({"load_s": load_s, "peak_added_mb": peak.added_mb,
                      "resident_added_mb": resident_mb - peak.start_mb}))


def load_in_fresh_process(path: str, folder: Path, prompt: list[int], new_tokens: int) -> dict[str, float]:
    """Load seconds, peak and resident memory added by loading ``path`` and generating, measured in a child.

    The child runs with ``MALLOC_MMAP_THRESHOLD_=65536`` (as :mod:`zero2hero.lora.step_cost`): freed blocks of
    64 KiB or more go back to the system, so resident memory follows what is alive.
    """
    command = [sys.executable, "-m", __name__, path, str(folder), ",".join(map(str, prompt)), str(new_tokens)]
    done = subprocess.run(command, capture_output=True, text=True, check=False,
                          env={**os.environ, "MALLOC_MMAP_THRESHOLD_": "65536"})
    if done.returncode < 0 and path in LLAMACPP_PATHS:  # killed by a signal inside llama.cpp's compiled code
        raise Zero2HeroError(f"llama.cpp crashed running {path} ({signal.Signals(-done.returncode).name})",
                             "its build may use instructions this CPU or VM refuses (e.g. AMX): rebuild it with "
                             "CMAKE_ARGS='-DGGML_AMX_INT8=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_BF16=OFF' pip install "
                             "--force-reinstall --no-cache-dir --no-deps llama-cpp-python==0.3.36")
    if done.returncode != 0:
        raise RuntimeError(f"loading {path} in a fresh process failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# ---- the benchmark ----

def _shared_prefix(a: list[int], b: list[int]) -> int:
    same = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        same += 1
    return same


def _speed_rounds(engines: dict[str, Engine], prompt: list[int], n: int, rounds: int) -> dict[str, Generated]:
    """Alternating rounds; per path the best prefill and the best decode (each from its own best round)."""
    from zero2hero.measure import interleaved

    runs: dict[str, list[Generated]] = {path: [] for path in engines}
    for engine in engines.values():  # warm-up outside the clock: a path's first call pays one-off costs
        engine.generate(prompt[:8], 2)
    interleaved({path: lambda path=path: runs[path].append(engines[path].generate(prompt, n)) for path in engines},
                rounds=rounds)
    return {path: Generated(r[0].new_ids, max(g.prefill_tokens_per_s for g in r),
                            max(g.decode_tokens_per_s for g in r)) for path, r in runs.items()}


def _rows(speed: dict[str, Generated], loads: dict[str, dict[str, float]], weight_bytes: dict[str, int],
          perplexity: dict[str, float], bandwidth_gb_per_s: float) -> list[dict[str, Any]]:
    """One row of figures per path, in the order of ``speed``; ratios against transformers' and our float32."""
    reference, fp32_ppl = speed["transformers_fp32"], perplexity["ours_fp32"]
    return [{"path": path, **loads[path], "prefill_tokens_per_s": g.prefill_tokens_per_s,
             "decode_tokens_per_s": g.decode_tokens_per_s,
             "speedup_path_over_transformers_fp32_ratio": g.decode_tokens_per_s / reference.decode_tokens_per_s,
             "heldout_ppl": perplexity[path], "ppl_change_ratio": perplexity[path] / fp32_ppl - 1,
             "weight_read_bytes_per_token": weight_bytes[path],
             "bandwidth_used_ratio": weight_bytes[path] * g.decode_tokens_per_s / 1e9 / bandwidth_gb_per_s,
             "greedy_prefix_shared_with_transformers_fp32_count": _shared_prefix(g.new_ids, reference.new_ids)}
            for path, g in speed.items()]


def run(quick: bool = False) -> BenchResult:
    import torch

    from zero2hero.assets import load_tokenizer
    from zero2hero.corpus import heldout_text
    from zero2hero.llama.llamacpp import INSTALL_HINT, llamacpp_available
    from zero2hero.measure import copy_bandwidth_gb_per_s, interleaved

    sizing = QUICK if quick else FULL
    installed = llamacpp_available()
    paths = [*(LLAMACPP_PATHS if installed else ()), *TORCH_PATHS]
    text_ids = load_tokenizer("smollm2")(heldout_text(max(sizing.ppl_tokens, PROMPT_TOKENS) * 8)).input_ids
    prompt, ppl_ids = text_ids[:PROMPT_TOKENS], text_ids[:sizing.ppl_tokens]
    with tempfile.TemporaryDirectory(prefix="z2h-bench-llama-") as tmp:
        files = _gguf_files(Path(tmp))
        if installed:
            write_our_files(files)
        loads = interleaved({path: lambda path=path: load_in_fresh_process(path, Path(tmp), prompt, sizing.new_tokens)
                             for path in paths}, rounds=sizing.load_rounds, own_time=lambda r: r["load_s"])
        engines = load_engines(paths, files)
        speed = _speed_rounds(engines, prompt, sizing.new_tokens, sizing.rounds)
        perplexity = {path: engine.perplexity(ppl_ids) for path, engine in engines.items()}
    bandwidth = copy_bandwidth_gb_per_s()
    rows = _rows(speed, {path: timing.result for path, timing in loads.items()},
                 {path: engine.weight_bytes for path, engine in engines.items()}, perplexity, bandwidth)
    by_path = {row["path"]: row for row in rows}
    ours_over_hf = by_path["ours_fp32"]["speedup_path_over_transformers_fp32_ratio"]
    fastest = max(OURS_PATHS, key=lambda p: by_path[p]["decode_tokens_per_s"])
    figures: dict[str, Any] = {
        "threads_count": torch.get_num_threads(), "prompt_tokens_count": len(prompt),
        "new_tokens_count": sizing.new_tokens, "ppl_tokens_count": len(ppl_ids), "rounds_count": sizing.rounds,
        "load_rounds_count": sizing.load_rounds, "copy_bandwidth_gb_per_s": bandwidth,
        "llamacpp": "installed" if installed else "not_installed", "paths": rows,
        "speedup_ours_fp32_over_transformers_fp32_ratio": ours_over_hf, "ours_fastest_path": fastest,
    }
    if installed:
        figures["speedup_ours_fastest_over_llamacpp_q4_1_ratio"] = (by_path[fastest]["decode_tokens_per_s"]
                                                                     / by_path["llamacpp_q4_1"]["decode_tokens_per_s"])
        figures["speedup_llamacpp_q4_1_over_transformers_fp32_ratio"] = by_path["llamacpp_q4_1"][
            "speedup_path_over_transformers_fp32_ratio"]
    return BenchResult("llama", figures, [_table(rows, installed, INSTALL_HINT, sizing, len(prompt))],
                       _notes(figures, by_path, installed))


def _table(rows: list[dict[str, Any]], installed: bool, hint: str, sizing: Sizing, prompt_tokens: int) -> Table:
    body = [[r["path"], round(r["load_s"], 3), round(r["peak_added_mb"], 1), round(r["resident_added_mb"], 1),
             round(r["prefill_tokens_per_s"], 1), round(r["decode_tokens_per_s"], 2),
             round(r["speedup_path_over_transformers_fp32_ratio"], 2), round(r["heldout_ppl"], 3),
             f"{r['ppl_change_ratio']:+.2%}",
             round(r["weight_read_bytes_per_token"] / 1e6, 1), f"{r['bandwidth_used_ratio']:.0%}"] for r in rows]
    if not installed:
        body = [[path, f"not installed — {hint}", *[""] * 9] for path in LLAMACPP_PATHS] + body
    return Table(f"SmolLM2-135M-Instruct from one GGUF: prompt {prompt_tokens} tokens, {sizing.new_tokens} greedy new "
                 f"tokens, perplexity on {sizing.ppl_tokens} held-out tokens; speed best of {sizing.rounds} "
                 f"alternating rounds, load best of {sizing.load_rounds} fresh processes",
                 ["path", "load s", "peak +MB", "resident +MB", "prefill tok/s", "decode tok/s", "× transformers",
                  "perplexity", "Δ ppl vs fp32", "MB read/token", "of bandwidth"], body)


def _notes(figures: dict[str, Any], by_path: dict[str, dict[str, Any]], installed: bool) -> list[str]:
    ratio = figures["speedup_ours_fp32_over_transformers_fp32_ratio"]
    notes = [f"ours_fp32 decodes at {ratio:.3f}× transformers_fp32 (goal ≥ {GOAL_OURS_OVER_TRANSFORMERS}: "
             f"{'met' if ratio >= GOAL_OURS_OVER_TRANSFORMERS else 'missed'}); both read the same float32 weights, "
             f"{by_path['ours_fp32']['greedy_prefix_shared_with_transformers_fp32_count']} of "
             f"{figures['new_tokens_count']} greedy tokens identical."]
    if installed:
        notes.append(f"fastest of ours: {figures['ours_fastest_path']}, "
                     f"{figures['speedup_ours_fastest_over_llamacpp_q4_1_ratio']:.3f}× llama.cpp's Q4_1 decode.")
    notes += [
        f"{figures['threads_count']} thread(s) for every path (torch's count, passed to llama.cpp); bandwidth share = "
        f"weight bytes per token × decode tokens/s ÷ a measured copy bandwidth of "
        f"{figures['copy_bandwidth_gb_per_s']:.2f} GB/s (KV cache not counted).",
        "load s and memory: each path in a fresh process, after importing the modules it needs; peak +MB "
        "is the highest RSS added while loading and generating, resident +MB what is still held after. transformers "
        "loads the float32 copy zero2hero converts once from the same GGUF (assets.load_causal_lm); a loader that "
        "maps its file (llama.cpp does) reads the pages on first use, during generation rather than load.",
        "the float32 weights are themselves dequantised from the Q4_1 file, so llama.cpp's Q4_1 row stores exactly "
        "them; its perplexity still differs a little: llama.cpp rounds the activations to 8 bits in its quantised "
        "matrix products (Q8_1/Q8_0 blocks) and keeps the KV cache in float16. Q8_0 and Q4_0 are our writer's "
        "re-quantisations of those float32 weights.",
    ]
    return notes


if __name__ == "__main__":
    _measure_load(*sys.argv[1:5])
