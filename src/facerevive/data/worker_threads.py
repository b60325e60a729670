"""One thread per data worker for torch's intra-op pool and every BLAS / OpenMP pool in the process.

A DataLoader runs one worker process per core, so a worker that starts threads of its own only steals CPU from
its neighbours. torch already limits its own pool in workers; the others it does not know about. The costly one
is the OpenBLAS that the OpenCV wheel bundles: `cv2.SVDecomp` (the fast blur's kernel split) calls its LAPACK,
which wakes a pool of one thread per core whose threads then spin for milliseconds after every call (measured:
14 ms of CPU time per 41x41 SVD, 0.4 ms with one thread). numpy's OpenBLAS does the same for the small 2x2
algebra of the blur kernel. threadpoolctl finds every such library loaded in the process and sets its limit.

OpenCV's own pool is left alone: `cv2.setNumThreads` in a forked worker can hang for good (it destroys the
parent's pool, whose condition variables still count the parent's waiting threads), and a forked worker whose
parent had used that pool runs OpenCV sequentially anyway.
"""

from __future__ import annotations

from facerevive.utils.cpu_threads import set_thread_pools


def limit_worker_threads(worker_id: int | None = None) -> None:
    """Run this process's linear-algebra code on one thread; usable as a DataLoader `worker_init_fn`."""
    del worker_id  # every worker gets the same limit
    set_thread_pools(1)
