"""Lightning's WandbLogger as FaceRevive's configs use it (configs/logger/wandb.yaml)."""

from __future__ import annotations

from typing import Any

from lightning.pytorch.loggers import WandbLogger as LightningWandbLogger


class WandbLogger(LightningWandbLogger):
    """Lightning's WandbLogger without the `anonymous=None` it always hands to `wandb.init`: W&B deprecated the
    setting and warns whenever it is passed. `anonymous=True` is still passed on."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Lightning keeps its wandb.init arguments here until the run starts (first use of `experiment`).
        if self._wandb_init.get("anonymous") is None:
            self._wandb_init.pop("anonymous", None)
