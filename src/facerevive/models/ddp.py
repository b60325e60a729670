"""DDP for manual optimisation of several networks: each backward all-reduces the gradients it produced, no more.

GFPGAN runs up to six backward passes per iteration (G, global D, R1, three component Ds), each reaching one
network: the G step's passes through the discriminators reach parameters toggled to requires_grad False.
Lightning wraps the whole LightningModule in one DistributedDataParallel, whose reducer expects every parameter
that required grad at wrapping time in every backward: `find_unused_parameters=False` fails at the first D
backward ("Expected to have finished reduction" / parameters not used in producing the loss) and
`static_graph=True` fails there too ("Your training graph has changed"), since each backward uses another set.
With `find_unused_parameters=True` it runs, but every backward walks the autograd graph and all-reduces the
buckets of all five networks (zeros for the four it did not reach). The official 1e-12 pyramid weight only
keeps the U-Net's RGB layers inside the G backward; it cannot make the single wrapper see one graph.

`UsedGradientsDDPStrategy` keeps Lightning's DDP set-up (process group, samplers, rank-0 files) without the
wrapper: parameters and buffers are broadcast from rank 0 once, a post-accumulate-grad hook marks each
parameter a backward reaches, and after the backward the marked set (made the union over ranks by one small
all-reduce) is averaged in buckets. Gradients so come out as DistributedDataParallel gives them (mean over
ranks, accumulated gradients of earlier backwards kept), without the graph walk and the idle networks' traffic.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.distributed as dist
from lightning.pytorch.strategies import DDPStrategy
from torch import nn
from torch.utils.hooks import RemovableHandle


class UsedGradientsDDPStrategy(DDPStrategy):
    """Lightning's DDP strategy for manual optimisation, reducing after each backward the gradients it produced.

    `bucket_mb` caps each all-reduce's size. Buffers are synchronised once, at the start (from rank 0): a
    trainable network whose buffers change in training (BatchNorm statistics) is refused. Other keyword
    arguments go to DDPStrategy (`process_group_backend`, `timeout`, ...); DistributedDataParallel's own options
    do not apply. Manual optimisation only (automatic optimisation's gradient accumulation would reduce on
    every micro-batch).
    """

    def __init__(self, bucket_mb: float = 25.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if bucket_mb <= 0:
            raise ValueError(f"bucket_mb must be > 0, got {bucket_mb}")
        self.bucket_bytes = int(bucket_mb * 2**20)
        self._params: list[nn.Parameter] = []
        self._reached: set[int] = set()
        self._hooks: list[RemovableHandle] = []

    def configure_ddp(self) -> None:
        """Rank 0's parameters and buffers everywhere, and the hooks that mark the parameters a backward reaches."""
        module = self.lightning_module
        assert module is not None
        if module.automatic_optimization:
            raise ValueError(f"{type(self).__name__} supports manual optimisation only")
        refuse_changing_buffers(module)
        with torch.no_grad():
            for tensor in [*module.parameters(), *module.buffers()]:
                dist.broadcast(tensor.data, src=0)
        self._params = [p for p in module.parameters() if p.requires_grad]
        self._hooks = [
            p.register_post_accumulate_grad_hook(self._mark(i))  # type: ignore[no-untyped-call]  # torch: untyped
            for i, p in enumerate(self._params)
        ]

    def _mark(self, index: int) -> Any:
        def hook(_: torch.Tensor) -> None:
            self._reached.add(index)

        return hook

    def post_backward(self, closure_loss: torch.Tensor) -> None:
        """Average over ranks the gradients of every parameter this backward reached on any rank."""
        super().post_backward(closure_loss)
        reached = self._reached_on_any_rank()
        self._reached.clear()
        if reached:
            self._average([self._params[i] for i in reached])

    def _reached_on_any_rank(self) -> list[int]:
        mask = torch.zeros(len(self._params), dtype=torch.uint8, device=self.root_device)
        if self._reached:
            mask[sorted(self._reached)] = 1
        dist.all_reduce(mask, op=dist.ReduceOp.MAX)
        return mask.nonzero().flatten().tolist()

    def _average(self, params: list[nn.Parameter]) -> None:
        """grad <- mean over ranks (each rank's grad divided by the world size, then summed, as DDP does); a rank
        the backward did not reach adds zeros."""
        grads = []
        for p in params:
            if p.grad is None:
                p.grad = torch.zeros_like(p)
            grads.append(p.grad)
        pending = []
        for bucket in self._buckets(grads):
            flat = torch.cat([grad.reshape(-1) for grad in bucket]).div_(self.world_size)
            pending.append((bucket, flat, dist.all_reduce(flat, async_op=True)))
        for bucket, flat, work in pending:
            work.wait()
            for grad, synced in zip(bucket, torch.split(flat, [grad.numel() for grad in bucket]), strict=True):
                grad.copy_(synced.view(grad.shape))

    def _buckets(self, grads: list[torch.Tensor]) -> list[list[torch.Tensor]]:
        """Consecutive gradients of one dtype and device, up to `bucket_bytes` per bucket (at least one each)."""
        buckets: list[list[torch.Tensor]] = []
        size = 0
        for grad in grads:
            nbytes = grad.numel() * grad.element_size()
            if buckets and size + nbytes <= self.bucket_bytes and same_kind(buckets[-1][0], grad):
                buckets[-1].append(grad)
                size += nbytes
            else:
                buckets.append([grad])
                size = nbytes
        return buckets

    def teardown(self) -> None:
        for handle in self._hooks:
            handle.remove()
        self._hooks, self._params = [], []
        self._reached.clear()
        super().teardown()


def same_kind(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Whether two gradients can share a flat bucket: one dtype, one device."""
    return a.dtype == b.dtype and a.device == b.device


def refuse_changing_buffers(module: nn.Module) -> None:
    """ValueError when a trainable normalisation layer tracks running statistics: this strategy syncs buffers once."""
    for name, layer in module.named_modules():
        tracking = isinstance(layer, nn.modules.batchnorm._NormBase) and layer.track_running_stats
        if tracking and any(p.requires_grad for p in layer.parameters()):
            raise ValueError(
                f"{name}: a trainable layer with running statistics; UsedGradientsDDPStrategy broadcasts buffers "
                "only at the start, use Lightning's ddp strategy (with sync_batchnorm) instead"
            )
