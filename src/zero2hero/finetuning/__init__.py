"""Chapter 5: fine-tuning a pretrained encoder for text classification: data splits, metrics, the training loop."""
