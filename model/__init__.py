"""Training, fine-tuning, generation and the checkpoint store (torch + transformers)."""
