"""A degradation pipeline: named albumentations steps in order, one explicit random stream, 8-bit rounding last.

The pipeline is described once, as config: `configs/data/degradation/<name>.yaml` (`gfpgan_v1` = the official
order and numbers, `no_color`, `none`) instantiates `DegradationPipeline` with a name -> step mapping, so a
step can be changed or switched off (`null`) by name and new steps added (they run after the listed ones, before
the final rounding). Outside a Hydra app, `load_degradation` builds one of those configs;
`facerevive.data.official.degradation_from_options` builds the same steps from BasicSR option names.

Why one stream: albumentations' `Compose(seed=s)` seeds every transform with the *same* seed, so two transforms
would draw identical first numbers (blur sigma and downscale factor would be correlated). `reseed` instead hands
all transforms one shared `numpy.random.Generator` and one `random.Random`.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from typing import Any, TypeAlias

import albumentations as A
import numpy as np

from facerevive.data import transforms as T

Step: TypeAlias = A.BasicTransform | A.BaseCompose


def _check_steps(steps: Mapping[str, Step | None]) -> dict[str, Step]:
    if not isinstance(steps, Mapping):
        raise TypeError(f"degradation steps must be a name -> transform mapping, got {type(steps).__name__}")
    checked: dict[str, Step] = {}
    for name, step in steps.items():
        if step is None:
            continue
        if not isinstance(step, A.BasicTransform | A.BaseCompose):
            raise TypeError(f"degradation step {name!r} must be an albumentations transform, got {type(step).__name__}")
        checked[str(name)] = step
    return checked


class DegradationPipeline:
    """Apply degradation steps to an LQ image (and the 'gt' image for steps that declare it).

    Args:
        steps: step name -> albumentations transform, run in order; None entries are switched off.
        quantize: round the LQ to the 8-bit grid after every step (the official last step: what a saved LQ holds).
        record: keep each applied step's drawn parameters (`applied` in the result); for tests and replay.
    """

    def __init__(self, steps: Mapping[str, Step | None], quantize: bool = True, record: bool = False) -> None:
        self.steps = _check_steps(steps)
        self.quantize = bool(quantize)
        self.record = bool(record)
        self.transforms: list[Step] = [*self.steps.values(), *([T.Quantize8Bit()] if self.quantize else [])]
        self.compose = A.Compose(self.transforms, p=1.0, save_applied_params=self.record, strict=False)
        self.reseed(None)

    def reseed(self, seed: int | None) -> None:
        """Give all steps one shared numpy Generator and Python Random seeded with `seed`."""
        self.rng = np.random.default_rng(seed)
        self.py_random = random.Random(None if seed is None else int(seed))
        self.compose.set_random_state(self.rng, self.py_random)

    def __call__(self, lq: np.ndarray, gt: np.ndarray | None = None) -> dict[str, Any]:
        """Degrade `lq` (float HWC RGB [0, 1]); returns {'image': lq, 'gt': gt, 'applied': [(name, params)]}."""
        data = {"image": lq, T.INPUT_SHAPE: lq.shape}
        if gt is not None:
            data["gt"] = gt
        out: dict[str, Any] = self.compose(**data)
        out.pop(T.INPUT_SHAPE, None)
        out.setdefault("gt", gt)
        out["applied"] = out.pop("applied_transforms", [])
        return out

    def __repr__(self) -> str:
        return f"DegradationPipeline({list(self.steps)}, quantize={self.quantize})"


def load_degradation(name: str = "gfpgan_v1", overrides: Sequence[str] = ()) -> DegradationPipeline:
    """Build `configs/data/degradation/<name>.yaml`, with Hydra overrides spelled as on the training command line
    (`data.degradation.steps.blur.tolerance=0`). For scripts and tests; inside a Hydra app the config group
    `data/degradation` is instantiated by the entry point instead."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.utils import instantiate

    from facerevive.paths import CONFIG_DIR

    group = CONFIG_DIR / "data" / "degradation"
    if not (group / f"{name}.yaml").is_file():
        known = sorted(path.stem for path in group.glob("*.yaml"))
        raise ValueError(f"no degradation config {name!r} in {group}; known: {', '.join(known)}")
    # Inside a Hydra app (an entry point, a test) the app's own Hydra is set aside while this config is composed.
    # (initialize_config_dir swaps the GlobalHydra singleton, so it is looked up afresh each time.)
    app_hydra = GlobalHydra.instance().hydra
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(str(CONFIG_DIR), version_base="1.3"):
            cfg = compose(f"data/degradation/{name}", overrides=list(overrides))
    finally:
        GlobalHydra.instance().clear()
        if app_hydra is not None:
            GlobalHydra.instance().initialize(app_hydra)
    pipeline = instantiate(cfg.data.degradation)
    if not isinstance(pipeline, DegradationPipeline):
        raise TypeError(f"{group / name}.yaml builds {type(pipeline).__name__}, not a DegradationPipeline")
    return pipeline
