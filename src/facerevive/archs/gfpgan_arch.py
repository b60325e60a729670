"""GFPGAN generators: the degradation-removal U-Net, the latent mapping, and CS-SFT into a StyleGAN2 prior.

`GFPGANv1` is the paper model (equalized-lr layers, FIR resampling); `GFPGANBilinear` replaces every FIR
resampler with bilinear interpolation. `GFPGANv1Clean` lives in `gfpgan_clean_arch`. All three share
`GFPGANBase.forward`, and their state-dict keys match the official TencentARC/GFPGAN classes.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from facerevive.archs.config import records_config
from facerevive.archs.equalized import ConvLayer, EqualConv2d, EqualLinear, Resample, ResBlock
from facerevive.archs.ops import FusedLeakyReLU, ScaledLeakyReLU
from facerevive.archs.stylegan2_arch import (
    StyleGAN2Generator,
    StyleGAN2GeneratorBilinear,
    StyleGAN2Synthesis,
    log2_size,
    stylegan2_channels,
)


@dataclass(frozen=True)
class UNetLayers:
    """The layer makers of one GFPGAN variant's U-Net: (in, out) channels to a module; `to_rgb` takes the
    channels only."""

    first: Callable[[int, int], nn.Module]
    down: Callable[[int, int], nn.Module]
    final: Callable[[int, int], nn.Module]
    up: Callable[[int, int], nn.Module]
    to_rgb: Callable[[int], nn.Module]
    linear: Callable[[int, int], nn.Module]
    scale_head: Callable[[int, int], nn.Module]
    shift_head: Callable[[int, int], nn.Module]


class GFPGANBase(nn.Module):
    """Forward pass and decoder handling shared by the GFPGAN variants.

    Subclasses build `conv_body_first`, `conv_body_down`, `final_conv`, `final_linear`, `conv_body_up`,
    `condition_scale`, `condition_shift`, `toRGB` and `stylegan_decoder`.
    """

    input_is_latent: bool
    different_w: bool
    num_style_feat: int
    out_size: int
    log_size: int
    conv_body_first: nn.Module
    conv_body_down: nn.ModuleList
    final_conv: nn.Module
    final_linear: nn.Module
    conv_body_up: nn.ModuleList
    condition_scale: nn.ModuleList
    condition_shift: nn.ModuleList
    toRGB: nn.ModuleList  # noqa: N815 - the official state-dict key
    stylegan_decoder: StyleGAN2Synthesis

    def _init_common(self, out_size: int, num_style_feat: int, input_is_latent: bool, different_w: bool) -> None:
        self.input_is_latent = input_is_latent
        self.different_w = different_w
        self.num_style_feat = num_style_feat
        self.out_size = out_size
        self.log_size = log2_size(out_size)

    def _linear_out_channels(self) -> int:
        num_latent = self.log_size * 2 - 2
        return num_latent * self.num_style_feat if self.different_w else self.num_style_feat

    def _build_unet(self, channels: dict[int, int], layers: UNetLayers) -> None:
        """The U-Net and the latent mapping in the official construction order (the random initialisation draws
        in that order), from one variant's layer makers."""
        self.conv_body_first = layers.first(3, channels[self.out_size])
        in_channels = channels[self.out_size]
        self.conv_body_down = nn.ModuleList()
        for i in range(self.log_size, 2, -1):
            out_channels = channels[2 ** (i - 1)]
            self.conv_body_down.append(layers.down(in_channels, out_channels))
            in_channels = out_channels
        self.final_conv = layers.final(in_channels, channels[4])
        in_channels = channels[4]
        self.conv_body_up = nn.ModuleList()
        for i in range(3, self.log_size + 1):
            out_channels = channels[2**i]
            self.conv_body_up.append(layers.up(in_channels, out_channels))
            in_channels = out_channels
        self.toRGB = nn.ModuleList(layers.to_rgb(channels[2**i]) for i in range(3, self.log_size + 1))
        self.final_linear = layers.linear(channels[4] * 4 * 4, self._linear_out_channels())

    def _build_condition_heads(self, channels: dict[int, int], sft_half: bool, layers: UNetLayers) -> None:
        """The CS-SFT scale and shift heads, one pair per resolution from 8 px up (half the channels with
        `sft_half`)."""
        self.condition_scale = nn.ModuleList()
        self.condition_shift = nn.ModuleList()
        for i in range(3, self.log_size + 1):
            width = channels[2**i]
            sft_width = width if sft_half else width * 2
            self.condition_scale.append(layers.scale_head(width, sft_width))
            self.condition_shift.append(layers.shift_head(width, sft_width))

    def _setup_decoder(self, decoder_load_path: None, fix_decoder: bool) -> None:
        """Freeze the StyleGAN2 decoder (the prior) if asked. `decoder_load_path` is the official constructor's file
        argument, accepted as None (what GFPGANer and every FaceRevive record pass): networks read no files, the
        prior loads through `model.init.decoder` (facerevive.models.init_weights)."""
        if decoder_load_path is not None:
            raise ValueError(
                f"decoder_load_path={decoder_load_path}: networks read no files; start the decoder from it with "
                "model.init.decoder (training) or facerevive.models.init_weights.load_network(net.stylegan_decoder, "
                "path, 'model.init.decoder', 'decoder')"
            )
        if fix_decoder:
            self.stylegan_decoder.requires_grad_(False)

    def encode_first(self, x: torch.Tensor) -> torch.Tensor:
        feat: torch.Tensor = self.conv_body_first(x)
        return feat

    def encode_final(self, feat: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.final_conv(feat)
        return out

    def forward(
        self,
        x: torch.Tensor,
        return_latents: bool = False,
        return_rgb: bool = True,
        randomize_noise: bool = True,
        fidelity: float = 1.0,
        noise: Sequence[torch.Tensor] | None = None,
        **kwargs: object,
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Restore `x` (B,3,H,W in [-1,1]); returns (image, U-Net RGB outputs at 8..out_size).

        `noise` gives the decoder's per-layer noise maps explicitly (else `randomize_noise` decides between
        fresh noise and the stored buffers). `fidelity` scales the CS-SFT modulation (1: the trained model,
        0: the StyleGAN2 prior driven by the predicted latent codes alone). Extra keyword arguments are
        accepted for API compatibility with the official class and ignored.
        """
        conditions: list[torch.Tensor] = []
        unet_skips: list[torch.Tensor] = []
        out_rgbs: list[torch.Tensor] = []
        feat = self.encode_first(x)
        for down in self.conv_body_down:
            feat = down(feat)
            unet_skips.insert(0, feat)
        feat = self.encode_final(feat)
        style_code = self.final_linear(feat.reshape(feat.size(0), -1))
        if self.different_w:
            style_code = style_code.view(style_code.size(0), -1, self.num_style_feat)
        for skip, up, scale_head, shift_head, to_rgb in zip(
            unet_skips, self.conv_body_up, self.condition_scale, self.condition_shift, self.toRGB
        ):
            feat = up(feat + skip)
            conditions.append(scale_head(feat))
            conditions.append(shift_head(feat))
            if return_rgb:
                out_rgbs.append(to_rgb(feat))
        image, _ = self.stylegan_decoder(
            [style_code],
            input_is_latent=self.input_is_latent,
            noise=noise,
            randomize_noise=randomize_noise,
            return_latents=return_latents,
            conditions=conditions,
            fidelity=fidelity,
        )
        return image, out_rgbs


class ConvUpLayer(nn.Module):
    """Bilinear 2x upsampling followed by an equalized-lr conv and optional activation."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int = 1,
        padding: int = 0,
        bias: bool = True,
        bias_init_val: float = 0.0,
        activate: bool = True,
    ) -> None:
        super().__init__()
        self.stride = stride
        self.padding = padding
        self.scale = 1 / math.sqrt(in_channels * kernel_size**2)
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.full((out_channels,), float(bias_init_val))) if bias and not activate else None
        if activate:
            self.activation: nn.Module | None = FusedLeakyReLU(out_channels) if bias else ScaledLeakyReLU(0.2)
        else:
            self.activation = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
        out = F.conv2d(out, self.weight * self.scale, bias=self.bias, stride=self.stride, padding=self.padding)
        if self.activation is not None:
            out = self.activation(out)
        return out


class ResUpBlock(nn.Module):
    """Residual 2x up-sampling block of the GFPGANv1 U-Net decoder."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv1 = ConvLayer(in_channels, in_channels, 3, bias=True, activate=True)
        self.conv2 = ConvUpLayer(in_channels, out_channels, 3, stride=1, padding=1, bias=True, activate=True)
        self.skip = ConvUpLayer(in_channels, out_channels, 1, bias=False, activate=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.conv2(self.conv1(x)) + self.skip(x)
        return out / math.sqrt(2)


def _condition_head(channels: int, out_channels: int, bias_init_val: float) -> nn.Sequential:
    return nn.Sequential(
        EqualConv2d(channels, channels, 3, stride=1, padding=1, bias=True, bias_init_val=0),
        ScaledLeakyReLU(0.2),
        EqualConv2d(channels, out_channels, 3, stride=1, padding=1, bias=True, bias_init_val=bias_init_val),
    )


@records_config
class GFPGANv1(GFPGANBase):
    """The GFPGAN paper model (Wang et al., CVPR 2021), weight-compatible with GFPGANv1.pth."""

    def __init__(
        self,
        out_size: int,
        num_style_feat: int = 512,
        channel_multiplier: float = 1,
        resample_kernel: Sequence[int] = (1, 3, 3, 1),
        decoder_load_path: None = None,
        fix_decoder: bool = True,
        num_mlp: int = 8,
        lr_mlp: float = 0.01,
        input_is_latent: bool = False,
        different_w: bool = False,
        narrow: float = 1,
        sft_half: bool = False,
    ) -> None:
        super().__init__()
        self._init_common(out_size, num_style_feat, input_is_latent, different_w)
        self._build_equalized_unet(channel_multiplier, narrow, sft_half, resample_kernel, resample="upfirdn")
        self.stylegan_decoder = StyleGAN2Generator(
            out_size=out_size,
            num_style_feat=num_style_feat,
            num_mlp=num_mlp,
            channel_multiplier=channel_multiplier,
            resample_kernel=resample_kernel,
            lr_mlp=lr_mlp,
            narrow=narrow,
            sft_half=sft_half,
        )
        self._setup_decoder(decoder_load_path, fix_decoder)

    def _build_equalized_unet(
        self,
        channel_multiplier: float,
        narrow: float,
        sft_half: bool,
        resample_kernel: Sequence[int],
        resample: Resample,
    ) -> None:
        """The U-Net of equalized-lr layers (FIR or bilinear resampling in the down blocks) and its heads."""
        channels = stylegan2_channels(channel_multiplier, narrow * 0.5)
        layers = UNetLayers(
            first=lambda c_in, c_out: ConvLayer(c_in, c_out, 1, bias=True, activate=True),
            down=lambda c_in, c_out: ResBlock(c_in, c_out, resample_kernel, resample=resample),
            final=lambda c_in, c_out: ConvLayer(c_in, c_out, 3, bias=True, activate=True),
            up=ResUpBlock,
            to_rgb=lambda c_in: EqualConv2d(c_in, 3, 1, stride=1, padding=0, bias=True),
            linear=EqualLinear,
            scale_head=functools.partial(_condition_head, bias_init_val=1),
            shift_head=functools.partial(_condition_head, bias_init_val=0),
        )
        self._build_unet(channels, layers)
        self._build_condition_heads(channels, sft_half, layers)
        # This class has always registered its condition heads before final_linear; keep that parameter order,
        # by which the optimiser states of saved checkpoints are indexed.
        self._modules["final_linear"] = self._modules.pop("final_linear")


@records_config
class GFPGANBilinear(GFPGANv1):
    """GFPGANv1 with bilinear resampling everywhere (convertible to GFPGANv1Clean)."""

    def __init__(
        self,
        out_size: int,
        num_style_feat: int = 512,
        channel_multiplier: float = 1,
        decoder_load_path: None = None,
        fix_decoder: bool = True,
        num_mlp: int = 8,
        lr_mlp: float = 0.01,
        input_is_latent: bool = False,
        different_w: bool = False,
        narrow: float = 1,
        sft_half: bool = False,
    ) -> None:
        nn.Module.__init__(self)
        self._init_common(out_size, num_style_feat, input_is_latent, different_w)
        self._build_equalized_unet(channel_multiplier, narrow, sft_half, (1, 3, 3, 1), resample="bilinear")
        self.stylegan_decoder = StyleGAN2GeneratorBilinear(
            out_size=out_size,
            num_style_feat=num_style_feat,
            num_mlp=num_mlp,
            channel_multiplier=channel_multiplier,
            lr_mlp=lr_mlp,
            narrow=narrow,
            sft_half=sft_half,
        )
        self._setup_decoder(decoder_load_path, fix_decoder)


@records_config
class FacialComponentDiscriminator(nn.Module):
    """VGG-style patch discriminator for the eye and mouth crops."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = ConvLayer(3, 64, 3, downsample=False, bias=True, activate=True)
        self.conv2 = ConvLayer(64, 128, 3, downsample=True, bias=True, activate=True)
        self.conv3 = ConvLayer(128, 128, 3, downsample=False, bias=True, activate=True)
        self.conv4 = ConvLayer(128, 256, 3, downsample=True, bias=True, activate=True)
        self.conv5 = ConvLayer(256, 256, 3, downsample=False, bias=True, activate=True)
        self.final_conv = ConvLayer(256, 1, 3, bias=True, activate=False)

    def forward(
        self, x: torch.Tensor, return_feats: bool = False, **kwargs: object
    ) -> tuple[torch.Tensor, list[torch.Tensor] | None]:
        """Patch logits, plus [conv3, conv5] features for the component style loss when `return_feats`."""
        feats: list[torch.Tensor] = []
        feat = self.conv3(self.conv2(self.conv1(x)))
        if return_feats:
            feats.append(feat.clone())
        feat = self.conv5(self.conv4(feat))
        if return_feats:
            feats.append(feat.clone())
        out = self.final_conv(feat)
        return out, (feats if return_feats else None)
