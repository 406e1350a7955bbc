"""The offline trainer (needs the ``train`` extra): one folder per model family.

- :mod:`export.families` -- the registry: each family's datasets, configs,
  training and export, read by the one CLI (:mod:`export.cli`: ``data prepare``,
  ``train``, ``export-onnx``), which reaches ``cmt-bridge`` as the ``trainer``
  plugin (:mod:`export.plugin`);
- :mod:`export.pipeline` -- the one export pipeline every family runs;
- :mod:`export.checkpoints`, :mod:`export.progress`, :mod:`export.data` --
  checkpoint/resume, the progress bar, where datasets live;
- ``musicvae/``, ``cmt/``, ``transcription/`` -- the families; ``example/`` a
  small complete one (README, "Adding a model family").
"""
