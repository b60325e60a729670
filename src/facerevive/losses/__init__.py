"""Training losses of GFPGAN and its StyleGAN2 prior: GAN (vanilla, wgan_softplus), R1, path length, VGG perceptual
+ Gram style, component style."""

from facerevive.losses.face_losses import component_style_loss, gray_for_identity, image_pyramid, l1
from facerevive.losses.gan_loss import GANLoss, r1_penalty
from facerevive.losses.path_length import path_length_penalty
from facerevive.losses.perceptual_loss import PerceptualLoss, gram_matrix

__all__ = [
    "GANLoss",
    "PerceptualLoss",
    "component_style_loss",
    "gram_matrix",
    "gray_for_identity",
    "image_pyramid",
    "l1",
    "path_length_penalty",
    "r1_penalty",
]
