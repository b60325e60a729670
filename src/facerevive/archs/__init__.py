"""Networks of FaceRevive; class names, arguments and state-dict keys follow the official GFPGAN/BasicSR ones."""

from facerevive.archs.arcface_arch import ResNetArcFace
from facerevive.archs.gfpgan_arch import FacialComponentDiscriminator, GFPGANBilinear, GFPGANv1
from facerevive.archs.gfpgan_clean_arch import GFPGANv1Clean, StyleGAN2GeneratorClean
from facerevive.archs.stylegan2_arch import (
    StyleGAN2Discriminator,
    StyleGAN2Generator,
    StyleGAN2GeneratorBilinear,
)
from facerevive.archs.vgg_arch import VGGFeatureExtractor

__all__ = [
    "FacialComponentDiscriminator",
    "GFPGANBilinear",
    "GFPGANv1",
    "GFPGANv1Clean",
    "ResNetArcFace",
    "StyleGAN2Discriminator",
    "StyleGAN2Generator",
    "StyleGAN2GeneratorBilinear",
    "StyleGAN2GeneratorClean",
    "VGGFeatureExtractor",
]
