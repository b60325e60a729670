"""StyleGAN2's path-length regularisation of the generator (Karras et al. 2020, section 3.2)."""

from __future__ import annotations

import math

import torch


def path_length_penalty(
    fake_img: torch.Tensor, latents: torch.Tensor, mean_path_length: torch.Tensor, decay: float = 0.01
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(penalty, mean path length of the batch, updated running mean) for images made from per-layer `latents`.

    The path length of a sample is ||J_w^T y|| with y ~ N(0, I) / sqrt(H W), averaged over the style layers;
    the penalty is the squared deviation from the running mean a <- a + decay (mean - a). As in BasicSR (and
    the official code) the deviation is taken from the *updated* mean, which stays in the graph. `latents`
    must be the tensor that produced `fake_img` (the generator's `return_latents`); the graph is kept so the
    penalty can be back-propagated. The returned running mean is detached.
    """
    height, width = fake_img.shape[2], fake_img.shape[3]
    noise = torch.randn_like(fake_img) / math.sqrt(height * width)
    (grad,) = torch.autograd.grad(outputs=(fake_img * noise).sum(), inputs=latents, create_graph=True)
    path_lengths = grad.pow(2).sum(2).mean(1).sqrt()
    path_mean = mean_path_length + decay * (path_lengths.mean() - mean_path_length)
    penalty = (path_lengths - path_mean).pow(2).mean()
    return penalty, path_lengths.detach().mean(), path_mean.detach()
