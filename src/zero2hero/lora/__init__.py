"""Chapter 6: LoRA written from scratch, interchangeable with PEFT (same initial weights, outputs, gradients and
adapter files), QLoRA on a 4-bit base, several adapters on one base, and a model of training memory."""
