"""Quantization from scratch: int8 absmax / zero-point, GGML's Q8_0 / Q4_0 / Q4_1 block formats, NF4,
a quantized linear layer, error analysis, and measurement of whole models (size, speed, perplexity)."""

from zero2hero.quantization.analysis import error_stats, outlier_effect
from zero2hero.quantization.ggml import (
    BITS_PER_WEIGHT,
    dequantize_q4_0,
    dequantize_q4_1,
    dequantize_q8_0,
    quantize_q4_0,
    quantize_q4_1,
    quantize_q8_0,
)
from zero2hero.quantization.int8 import absmax_dequantize, absmax_quantize, zeropoint_dequantize, zeropoint_quantize
from zero2hero.quantization.linear import FORMATS, QuantLinear, quantize_model
from zero2hero.quantization.nf4 import NF4_CODEBOOK, nf4_dequantize, nf4_quantize
from zero2hero.quantization.pack import pack_nibbles, unpack_nibbles

__all__ = [
    "BITS_PER_WEIGHT", "FORMATS", "NF4_CODEBOOK", "QuantLinear", "absmax_dequantize", "absmax_quantize",
    "dequantize_q4_0", "dequantize_q4_1", "dequantize_q8_0", "error_stats", "nf4_dequantize", "nf4_quantize",
    "outlier_effect", "pack_nibbles", "quantize_model", "quantize_q4_0", "quantize_q4_1", "quantize_q8_0",
    "unpack_nibbles", "zeropoint_dequantize", "zeropoint_quantize",
]
