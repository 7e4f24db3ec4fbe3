"""Attention and a GPT-2 from scratch in plain PyTorch, generation with a KV cache, MLM vs CLM."""
