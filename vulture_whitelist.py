"""Names the dead-code check (vulture, `make lint`) cannot see being used, each with the reason.

Attributes assigned here are read by the frameworks that own the objects, not by FaceRevive's code.
"""

from unittest.mock import Mock

from facerevive.archs.stylegan2_arch import StyleGAN2Synthesis
from facerevive.cli.train_preflight import TrainPreflight

_ = Mock()  # stands for the foreign objects below

# StyleGAN2 generator API kept for users and parity with the official class (truncation, latent statistics).
StyleGAN2Synthesis.get_latent
StyleGAN2Synthesis.mean_latent

# Options set on onnxruntime's SessionOptions (restore.detection) and a facexlib helper replaced in a benchmark.
_.log_severity_level
_.init_parsing_model

# Lightning reads these flags of the module and the trainer (models.base).
_.automatic_optimization
_.should_stop
# A Lightning Strategy hook (models.ddp).
_.configure_ddp

# Test helpers: torch backend flags, Hydra's job number, an attribute the reference shim puts on basicsr's module,
# and a callback named only as a `_target_` on a train.py command line.
_.allow_tf32
_.num
_.FusedLeakyReLUFunction
_.DDPProbe

# A scheduler's last learning rates, rewritten when a resume applies a new lr (callbacks.run_config).
_._last_lr
# Callbacks of the fault tests, named only as `_target_`s on train.py command lines.
_.MarkIteration
_.SlowWriter

# RestoreResult.upscaled_input is read by notebooks/restore_demo.ipynb (not scanned).
_.upscaled_input

# html.parser.HTMLParser hooks of the gallery test's page reader (tests/test_evaluate.py), called by the parser.
_.handle_starttag
_.handle_endtag
_.handle_data

# Lightning's ProgressBar switches (callbacks.progress) and ModelSummary's table hook (callbacks.summary).
_.disable
_.enable
_.summarize

# PyAV's AudioFrame.sample_rate, set on the tone of the video test (tests/test_restore_video.py) for the encoder.
_.sample_rate

# tempfile.tempdir, set by the demo so every temporary file of its process lands in its private folder (demo.launch).
_.tempdir
# The training preflight callback: built by Hydra from configs/train.yaml (hydra.callbacks.preflight._target_).
TrainPreflight
# A test callback that fills the disk mid-run: built by Hydra from a `+callbacks.fill._target_` override.
_.FillDisk
# RestoreOptions fields that the run reads through the config nodes built from them (restore.options), not by name.
_.det_threshold
_.bg_tile

# Pytest fixtures requested by name, not as a parameter: autouse (conftest), usefixtures and getfixturevalue.
_._seed_and_threads
_._default_weights_folder
_.many_threads
_.as_iteration_module
_.make_train_run
