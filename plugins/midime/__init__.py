"""MidiMe: MusicVAE 2-bar melodies sampled, interpolated and personalised live (issue 4).

- ``melody``    the token representation shared with the trainer (REST, HOLD, pitches, START)
- ``vae``       MusicVAE through ONNX: encode, decode, sample, interpolate (torch-free)
- ``midime``    the small personal VAE over MusicVAE's latents, trained in numpy in seconds
- ``phrases``   MIDI files / live input -> 2-bar windows, tokens -> phrases
- ``generator`` the live "midime" generator; ``commands`` the ``cmt-bridge midime ...`` CLI
- ``plugin``    the hook implementations that register both
"""
