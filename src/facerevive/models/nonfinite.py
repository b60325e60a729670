"""Guard against NaN/Inf in training: checked before every optimiser step, so a bad update is never applied.

Lightning has no such guard for manual optimisation. `NonFiniteGuard.check` looks at a stage's loss terms and
gradients before its optimiser steps. Policy `skip` drops the rest of the iteration (no step, no EMA update)
and counts it; `stop` ends the run at the first bad iteration; `rollback` drops the iteration like `skip` and
then the callback facerevive.callbacks.NonFiniteRollback returns the run to its last saved checkpoint with every
learning rate multiplied by `rollback_lr_factor` (at most `max_rollbacks` times). With `skip` and `rollback`,
`max_consecutive` bad iterations in a row also end the run. Ending raises NonFiniteError naming the loss term
(or gradient), the iteration and the key.
After each optimiser step `NonFiniteGuard.check_weights` looks at the weights it moved: one above
`max_abs_weight` in magnitude (a finite but exploded network, e.g. `lr=1e10` moves every Adam weight by about
1e10 in one step) makes the iteration bad under the same policy. That step has been applied and is not taken
back (that would need a copy of the network and its optimiser state at every step): the rest of the iteration
is dropped (no EMA update), `rollback` returns to the last checkpoint saved before the bad run of iterations
began, and `skip` goes on counting until the weights are back under the bound or `max_consecutive` ends the run.
While a bad run of iterations lasts (`in_bad_streak`), no checkpoint or export is written (IterationCheckpoint
defers it to the next good iteration), so neither a file nor a rollback target ever holds such a network.

Choosing `max_abs_weight` (default 1e4): an Adam step moves a weight by lr x m/sqrt(v), about lr for steady
gradients (at most 1/sqrt(1 - beta2) = 10 x lr on a sudden spike, for the recipes' beta2 = 0.99), and steps do
not all push one way, so over a whole run a weight drifts far less than lr x total_iter: 2e-3 x 800k = 1600 for
the paper recipes of GFPGAN and the StyleGAN2 prior, 2e-4 x 100k = 20 for the fine-tunes, 5e-4 x 400 = 0.2 for
the quickstart. Initial weights are within about 6 (randomly initialised; the official releases the fine-tunes
start from could not be measured here). 1e4 is above these together and 1e6 below what `lr=1e10` makes.

The guard also warns on the loss-explosion signature of GFPGAN#270: the generator loss growing by
`explosion_factor` or more in one iteration while the discriminator loss stays below `confident_d_loss`.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping

import torch
from torch import nn

log = logging.getLogger(__name__)

POLICIES = ("skip", "stop", "rollback")


class NonFiniteError(RuntimeError):
    """Training met non-finite losses or gradients, or exploded weights, and the policy says stop."""


def first_nonfinite(
    losses: Mapping[str, torch.Tensor], params: Iterable[tuple[str, nn.Parameter]], check_grads: bool = True
) -> str | None:
    """The first non-finite loss term ('loss l_g_gan') or gradient ('gradient of conv.weight'); None if all
    are finite. One device synchronisation when everything is finite."""
    named_grads = [(name, p.grad) for name, p in params if p.grad is not None] if check_grads else []
    flags = [value.detach().isfinite().all() for value in losses.values()]
    flags += [grad.isfinite().all() for _, grad in named_grads]
    if not flags or bool(torch.stack(flags).all()):
        return None
    for name, value in losses.items():
        if not bool(value.detach().isfinite().all()):
            return f"loss {name}"
    for name, grad in named_grads:
        if not bool(grad.isfinite().all()):
            return f"gradient of {name}"
    return None


def largest_weight(params: Iterable[tuple[str, nn.Parameter]]) -> tuple[str, float] | None:
    """(name, max |value|) of the parameter holding the largest magnitude (NaN counts as infinite); None when
    there are no parameters. One device synchronisation."""
    named = [(name, p.detach()) for name, p in params if p.numel() > 0]
    if not named:
        return None
    peaks = torch.stack([t.abs().amax().float() for _, t in named]).nan_to_num(nan=math.inf).cpu()
    index = int(peaks.argmax())
    return named[index][0], float(peaks[index])


class NonFiniteGuard:
    """The configured policy (`model.nonfinite`) and the count of bad iterations."""

    def __init__(
        self,
        policy: str = "skip",
        max_consecutive: int = 10,
        explosion_factor: float = 1.0e6,
        confident_d_loss: float = 0.05,
        rollback_lr_factor: float = 0.5,
        max_rollbacks: int = 3,
        max_abs_weight: float = 1.0e4,
    ) -> None:
        if policy not in POLICIES:
            raise ValueError(f"model.nonfinite.policy={policy!r}: allowed values are {', '.join(POLICIES)}")
        if max_consecutive < 1:
            raise ValueError(f"model.nonfinite.max_consecutive={max_consecutive}: must be >= 1")
        if not 0 < rollback_lr_factor <= 1:
            raise ValueError(f"model.nonfinite.rollback_lr_factor={rollback_lr_factor}: must be in (0, 1]")
        if max_rollbacks < 0:
            raise ValueError(f"model.nonfinite.max_rollbacks={max_rollbacks}: must be >= 0")
        if not 0 < max_abs_weight < math.inf:
            raise ValueError(f"model.nonfinite.max_abs_weight={max_abs_weight}: must be a finite number > 0")
        self.max_abs_weight = float(max_abs_weight)
        self.policy = policy
        self.max_consecutive = max_consecutive
        self.rollback_lr_factor = rollback_lr_factor
        self.max_rollbacks = max_rollbacks
        self.rollbacks = 0
        # Set by `check` under the rollback policy; NonFiniteRollback rolls back at the end of the iteration.
        self.rollback_pending = False
        self.explosion_factor = explosion_factor
        self.confident_d_loss = confident_d_loss
        self.skipped = 0
        # Iterations that ended with every step allowed (`end_iteration` of a good one).
        self.trained = 0
        self.consecutive = 0
        self._bad_iteration: int | None = None
        self._last_g: float | None = None
        self._last_d: float | None = None

    def check(
        self,
        stage: str,
        iteration: int,
        losses: Mapping[str, torch.Tensor],
        params: Iterable[tuple[str, nn.Parameter]],
        check_grads: bool = True,
    ) -> bool:
        """True when `stage`'s optimiser may step; False to skip the iteration; NonFiniteError to stop."""
        bad = first_nonfinite(losses, params, check_grads)
        return bad is None or self._bad(stage, iteration, f"non-finite {bad}")

    def check_weights(self, stage: str, iteration: int, params: Iterable[tuple[str, nn.Parameter]]) -> bool:
        """After `stage`'s optimiser stepped: True when every weight it moves is within `max_abs_weight`; else the
        iteration is bad as in `check` (False to drop its rest, or NonFiniteError)."""
        largest = largest_weight(params)
        if largest is None or largest[1] <= self.max_abs_weight:
            return True
        name, value = largest
        return self._bad(
            stage,
            iteration,
            f"weight {name} of magnitude {value:.3g} > model.nonfinite.max_abs_weight={self.max_abs_weight:g}",
        )

    @property
    def in_bad_streak(self) -> bool:
        """Whether the newest iteration was bad (no good one since): no checkpoint may be taken now."""
        return self.consecutive > 0

    def _bad(self, stage: str, iteration: int, what: str) -> bool:
        """Count `iteration` as bad (`what` went wrong in `stage`) and apply the policy: False, or NonFiniteError."""
        if self._bad_iteration != iteration:
            self._bad_iteration = iteration
            self.skipped += 1
            self.consecutive += 1
        where = f"{what} (optimiser {stage}) at iteration {iteration}"
        if self.policy == "stop":
            raise NonFiniteError(f"{where}; stopping (model.nonfinite.policy=stop)")
        if self.consecutive >= self.max_consecutive:
            raise NonFiniteError(
                f"{where}: {self.consecutive} bad iterations in a row (model.nonfinite.max_consecutive="
                f"{self.max_consecutive}); stopping. Lower the learning rates (model.optimizer_g.lr, ...)"
            )
        if self.policy == "rollback":
            if self.rollbacks >= self.max_rollbacks:
                raise NonFiniteError(
                    f"{where}: already rolled back {self.rollbacks} times (model.nonfinite.max_rollbacks="
                    f"{self.max_rollbacks}); stopping. Lower the learning rates (model.optimizer_g.lr, ...)"
                )
            self.rollback_pending = True
        log.warning("%s: iteration skipped (%d skipped so far)", where, self.skipped)
        return False

    def rolled_back(self) -> None:
        """The run returned to its last checkpoint (NonFiniteRollback): count it and clear the request."""
        self.rollbacks += 1
        self.rollback_pending = False
        # The bad iteration was undone: the same iteration number, retrained, is a new one.
        self._bad_iteration = None

    def end_iteration(self, iteration: int, g_loss: float | None, d_loss: float | None) -> None:
        """Close `iteration`: reset the run of bad iterations after a good one and watch for explosion."""
        if self._bad_iteration == iteration:
            return
        self.consecutive = 0
        self.trained += 1
        last_g, last_d = self._last_g, self._last_d
        if g_loss is not None and last_g is not None and last_d is not None and math.isfinite(g_loss):
            grew = abs(g_loss) / max(abs(last_g), 1e-12)
            if grew >= self.explosion_factor and last_d < self.confident_d_loss:
                log.warning(
                    "iteration %d: generator loss grew %.3g-fold (%.4g -> %.4g) while the discriminator stays "
                    "confident (loss %.4g): training is exploding (GFPGAN#270); lower the learning rates",
                    iteration,
                    grew,
                    last_g,
                    g_loss,
                    last_d,
                )
        self._last_g = g_loss if g_loss is not None else self._last_g
        self._last_d = d_loss if d_loss is not None else self._last_d
