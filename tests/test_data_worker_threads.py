"""DataLoader workers run torch and every BLAS/OpenMP pool on one thread (the fast blur's SVD otherwise wakes
OpenCV's OpenBLAS pool in every worker)."""

from __future__ import annotations

import pytest
import torch
from test_data_support import gfpgan_v1, write_faces
from threadpoolctl import threadpool_info, threadpool_limits

from facerevive.data import FaceDataModule, FFHQDegradationDataset

pytestmark = pytest.mark.unit


def _threads() -> dict[str, int]:
    pools = threadpool_info()
    assert any(pool["internal_api"] == "openblas" for pool in pools)  # OpenCV's or numpy's: there is one to limit
    return {
        "torch": torch.get_num_threads(),
        "blas/openmp": max(pool["num_threads"] for pool in pools),
    }


class _ThreadProbe(torch.utils.data.Dataset):
    """Reports the worker's thread settings, after fetching an item of `dataset` when one is given."""

    def __init__(self, dataset: torch.utils.data.Dataset | None = None) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return 1

    def __getitem__(self, index: int) -> dict[str, int]:
        if self.dataset is not None:
            self.dataset[index]
        return _threads()


@pytest.fixture
def many_threads():
    """The parent process allows 4 BLAS/OpenMP threads, so a worker that sees 1 was limited by FaceRevive."""
    with threadpool_limits(limits=4):
        assert _threads()["blas/openmp"] == 4
        yield


def _worker_threads(loader: torch.utils.data.DataLoader) -> dict[str, int]:
    (batch,) = list(loader)
    return {name: int(value) for name, value in batch.items()}


@pytest.mark.usefixtures("many_threads")
def test_datamodule_workers_run_on_one_thread():
    datamodule = FaceDataModule(val=_ThreadProbe(), num_workers=1, persistent_workers=False, pin_memory=False)
    assert _worker_threads(datamodule.val_dataloader()) == {"torch": 1, "blas/openmp": 1}


@pytest.mark.usefixtures("many_threads")
def test_dataset_limits_threads_in_any_dataloader_worker(tmp_path):
    write_faces(tmp_path / "faces", 1, 64)
    dataset = FFHQDegradationDataset(tmp_path / "faces", gfpgan_v1(), out_size=64)
    loader = torch.utils.data.DataLoader(_ThreadProbe(dataset), num_workers=1)
    assert _worker_threads(loader) == {"torch": 1, "blas/openmp": 1}
    assert _threads()["blas/openmp"] == 4  # the main process keeps its own settings
