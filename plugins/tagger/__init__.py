"""Music tagging (CLMR-style): audio -> tags over time, a sentence and an embedding (ONNX + numpy)."""
