"""Training losses of GFPGAN: GAN (vanilla, wgan_softplus), R1, VGG perceptual + Gram style, component style."""

from facerevive.losses.face_losses import component_style_loss, gray_for_identity, image_pyramid, l1
from facerevive.losses.gan_loss import GANLoss, r1_penalty
from facerevive.losses.perceptual_loss import PerceptualLoss, gram_matrix

__all__ = [
    "GANLoss",
    "PerceptualLoss",
    "component_style_loss",
    "gram_matrix",
    "gray_for_identity",
    "image_pyramid",
    "l1",
    "r1_penalty",
]
