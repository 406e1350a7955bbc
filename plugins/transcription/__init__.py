"""Cross-modal transcription: audio -> notes and notes -> audio through linked latent spaces (ONNX + numpy)."""
