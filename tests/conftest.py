"""Shared pytest setup: W&B off the network, deterministic seeds, the reference shims importable."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import torch

TESTS_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(TESTS_DIR))
os.environ.setdefault("WANDB_MODE", "disabled")
# Restoration's auto choices (precision=auto, compile=auto) as on a CPU without bf16 units, so the suite's outputs and
# run times do not depend on the machine; tests of those choices set the probe themselves (test_restore_fastpath.py).
os.environ["FACEREVIVE_BF16_UNITS"] = "0"


# Every test has exactly one tier (a `pytestmark` line per file, a mark per test in a mixed file): `-m unit` etc.
TIERS = ("unit", "parity", "e2e", "docs", "bench")


def pytest_addoption(parser) -> None:
    parser.addoption(
        "--reverse-order",
        action="store_true",
        help="run the collected tests last to first (a test that needs an earlier one's leftovers fails)",
    )


def pytest_collection_modifyitems(config, items) -> None:
    """Fail the collection when a test has no tier marker or more than one, naming the tests; --reverse-order."""
    if config.getoption("--reverse-order"):
        items.reverse()
    elif os.environ.get("PYTEST_XDIST_WORKER"):
        _files_with_most_slow_tests_first(items)
    wrong = []
    for item in items:
        tiers = [mark.name for mark in item.iter_markers() if mark.name in TIERS]
        if len(tiers) != 1:
            wrong.append(f"{item.nodeid}: {tiers or 'no tier'}")
    if wrong:
        raise pytest.UsageError(f"each test needs exactly one tier marker of {TIERS}:\n" + "\n".join(wrong))


def pytest_configure(config) -> None:
    """Under pytest-xdist (`make test` runs one worker per CPU), each worker keeps to one CPU with one thread, and
    so do the scripts it starts (they inherit the affinity; their thread setting follows it): two workers on two
    CPUs without oversubscription, and the same thread count in every test as on a one-CPU machine."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not worker or not hasattr(os, "sched_setaffinity"):
        return
    cpus = sorted(os.sched_getaffinity(0))
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if workers > 1 and len(cpus) >= workers:
        share = len(cpus) // workers
        index = int(worker.removeprefix("gw"))
        os.sched_setaffinity(0, set(cpus[index * share : (index + 1) * share]))
        torch.set_num_threads(share)


def _files_with_most_slow_tests_first(items: list) -> None:
    """Reorder `items` (in place) file by file: files with `long` tests first, then those with the most slow-marked
    tests, each file's tests in their order. xdist hands out whole files in this order (`--dist loadfile`), so the
    long ones start early and do not end the run alone on one CPU."""
    weight: dict[str, tuple[int, int]] = {}
    for item in items:
        long, slow = weight.get(item.fspath.strpath, (0, 0))
        weight[item.fspath.strpath] = (
            long + (item.get_closest_marker("long") is not None),
            slow + (item.get_closest_marker("slow") is not None),
        )
    rank = {path: position for position, path in enumerate(sorted(weight, key=lambda path: weight[path], reverse=True))}
    items.sort(key=lambda item: rank[item.fspath.strpath])


@pytest.fixture(autouse=True)
def _seed_and_threads() -> None:
    torch.manual_seed(0)


@pytest.fixture(autouse=True)
def _default_weights_folder():
    """Every entry point's run(cfg) sets the process-wide weights folder; each test starts from the default."""
    from facerevive.weights import set_pretrained_dir

    yield
    set_pretrained_dir(None)


def pytest_sessionfinish(session) -> None:
    """An xdist worker hands its parity records and hostile-file counts to the controller, which prints them."""
    from helpers.compare import PARITY_RECORDS
    from helpers.hostile import HOSTILE_CASES

    output = getattr(session.config, "workeroutput", None)
    if output is not None:
        output["parity_records"] = [list(record) for record in PARITY_RECORDS]
        output["hostile_cases"] = dict(HOSTILE_CASES)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error) -> None:
    """The controller's side of pytest_sessionfinish: a finished worker's records join the controller's."""
    from helpers.compare import PARITY_RECORDS
    from helpers.hostile import HOSTILE_CASES

    output = getattr(node, "workeroutput", {})
    PARITY_RECORDS.extend(tuple(record) for record in output.get("parity_records", []))
    for entry_point, count in output.get("hostile_cases", {}).items():
        HOSTILE_CASES[entry_point] = HOSTILE_CASES.get(entry_point, 0) + count


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    """Largest error (max abs error / reference peak) of each parity test, so every CI log states what parity
    was measured; the number of hostile files tried per entry point."""
    from helpers.compare import PARITY_RECORDS
    from helpers.hostile import HOSTILE_CASES

    if HOSTILE_CASES:
        terminalreporter.section("hostile files tried (tests/test_hostile_files.py)")
        for entry_point, count in sorted(HOSTILE_CASES.items()):
            terminalreporter.write_line(f"{count:6d}  {entry_point}")
        terminalreporter.write_line(f"{sum(HOSTILE_CASES.values()):6d}  in all, none ran")
    if not PARITY_RECORDS:
        return
    worst: dict[str, tuple[str, float]] = {}
    for test_id, what, error in PARITY_RECORDS:
        if test_id not in worst or error > worst[test_id][1]:
            worst[test_id] = (what, error)
    terminalreporter.section("parity: largest max abs error / reference peak per test")
    for test_id, (what, error) in sorted(worst.items()):
        terminalreporter.write_line(f"{error:.2e}  {test_id}  ({what})")


@pytest.fixture
def compose(tmp_path: Path):
    """compose(config_name, overrides, run_dir=None): a real config composed as the entry point would."""
    from helpers.configs import compose_config

    def _compose(config_name: str, overrides: list[str] | None = None, run_dir: Path | None = None):
        return compose_config(config_name, list(overrides or []), tmp_path, run_dir)

    return _compose
