"""RestoreFormer++'s decoder from spandrel's RestoreFormer parts.

RestoreFormer++ attends at 32 px as well as 16 px in the decoder (`ex_multi_scale_num=1` in
RestoreFormerPlusPlus:RestoreFormer/modules/vqvae/vqvae_arch.py). At a resolution where the encoder kept no
'block_<level>_atten' feature the official decoder attends to the encoder's 'block_<level>' output instead;
spandrel's decoder (built for RestoreFormer, attention at 16 px only) looks up the first key alone, so this
subclass supplies the second under the first's name and leaves the rest of spandrel's forward as it is.
"""

from __future__ import annotations

from typing import Any, cast

import torch
from spandrel.architectures.RestoreFormer.__arch.restoreformer_arch import MultiHeadDecoderTransformer


class MultiScaleDecoderTransformer(MultiHeadDecoderTransformer):  # type: ignore[misc]
    """spandrel's RestoreFormer decoder, attending to the encoder's block output where no attention
    feature was kept (the RestoreFormer++ 32 px attention)."""

    def forward(self, z: torch.Tensor, hs: dict[str, Any]) -> torch.Tensor:
        features = dict(hs)
        for level in range(self.num_resolutions):
            block = f"block_{level}"
            if block in hs:
                features.setdefault(f"{block}_atten", hs[block])
        return cast(torch.Tensor, super().forward(z, features))
