"""Which models a demo run may use: the menu the operator configured, and typed paths only when allowed.

The Model box is a request field like any other: its value is checked against the menu (the releases, `models=`,
the default model and the model files in `models_dir`) before anything is opened. A typed path is taken only with
`allow_custom_models=true`, and only when it names a model file inside `models_dir` (after resolving `..` and
links) that is not among the demo's own files (the uploads). Every refusal of a typed value reads the same whether
the path exists, is unreadable or lies elsewhere, so the page cannot be used to probe the server's disk.
"""

from __future__ import annotations

import os
from pathlib import Path

from facerevive.demo.settings import DemoSettings
from facerevive.restore.build import is_random_model
from facerevive.weights.foreign import FOREIGN_MODELS
from facerevive.weights.hint import weights_command
from facerevive.weights.registry import OFFICIAL_MODELS, weight_path

# The files restore's build_network opens: checkpoints, exports (also as safetensors) and ONNX exports.
MODEL_SUFFIXES = (".pth", ".ckpt", ".safetensors", ".onnx")
SHOWN_CHARACTERS = 120  # of a refused value, in the message


class RefusedModelError(ValueError):
    """A Model box value this demo does not run; the message is the same for every reason."""


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


class ModelMenu:
    """The model menu of one demo, and the check of a value sent in the Model box (`choose`)."""

    def __init__(self, settings: DemoSettings, private_folders: tuple[Path, ...] = ()) -> None:
        self.settings = settings
        self.private_folders = tuple(folder.resolve() for folder in private_folders)
        self._choices = self._menu()

    def _menu(self) -> list[tuple[str, str]]:
        choices = []
        for name in OFFICIAL_MODELS:
            present = weight_path(OFFICIAL_MODELS[name].weights).is_file()
            choices.append((name if present else f"{name} (not downloaded: {weights_command()})", name))
        for name, model in FOREIGN_MODELS.items():
            label = f"{name}: {model.label}"
            if not weight_path(model.weights).is_file():
                label += f" (not downloaded: {weights_command(name)})"
            choices.append((label, name))
        folder = self.settings.models_dir
        found = [] if folder is None else sorted(str(p) for p in folder.iterdir() if self._is_model_file(p))
        for spec in (*self.settings.models, str(self.settings.option("weights")), *found):
            if spec not in [value for _, value in choices]:
                choices.append((f"{spec} (RANDOM WEIGHTS)" if is_random_model(spec) else spec, spec))
        return choices

    def choices(self) -> list[tuple[str, str]]:
        """(label, value) entries of the menu: every GFPGAN release, then the other projects' (CodeFormer,
        RestoreFormer; each marked when its file is not downloaded), then the configured models, the default
        model and the model files of `models_dir`."""
        return list(self._choices)

    def in_menu(self, value: str) -> bool:
        """Whether `value` is one of the menu's models (the operator's choice, not a typed path)."""
        return value in [spec for _, spec in self._choices]

    def choose(self, value: str) -> str:
        """The model spec to build for the Model box's `value`; RefusedModelError when this demo does not run it."""
        if self.in_menu(value):
            return value
        folder = self.settings.models_dir
        shown = value if len(value) <= SHOWN_CHARACTERS else value[:SHOWN_CHARACTERS] + "..."
        if not self.settings.allow_custom_models or folder is None:
            raise RefusedModelError(f"model {shown}: not in this demo's model menu")
        refused = RefusedModelError(f"model {shown}: not a model file of this demo's models folder")
        try:
            path = (folder / value).resolve()  # an absolute value stays itself; `..` and links are resolved
        except (OSError, RuntimeError, ValueError):
            raise refused from None
        if not _inside(path, folder) or any(_inside(path, private) for private in self.private_folders):
            raise refused
        if not self._is_model_file(path):
            raise refused
        return str(path)

    @staticmethod
    def _is_model_file(path: Path) -> bool:
        """A readable regular file with a model suffix (the same answer for missing and unreadable files)."""
        try:
            return path.suffix.lower() in MODEL_SUFFIXES and path.is_file() and os.access(path, os.R_OK)
        except OSError:
            return False
