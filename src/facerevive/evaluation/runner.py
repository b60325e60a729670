"""Restore a test set with every method, score every metric, write the report.

The order is one pass per method over the test set: each batch is decoded once, restored once, and every
scorer sees it while it is on the device (set-level scorers such as FID keep only their features). The parts:
`build_protocol` (the scorers that apply), `Evaluation.score` (one method's pass), `RestoredImages` and
`Gallery` (what is written per batch), `write_report` and `log_report` (the outputs).

One unreadable image (of the test set or of a `folder:` method) is marked for that method in the report and
the other images are scored; the report is written even when a method fails with a bug (then with the rows
done and an INTERRUPTED line), and the error is raised after it.
"""

from __future__ import annotations

import logging
import sys
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from facerevive.evaluation.methods import (
    MethodError,
    MethodKind,
    MethodSpec,
    MethodUnavailableError,
    Restorer,
    open_method,
    parse_method,
)
from facerevive.evaluation.options import SettingError, evaluate_options
from facerevive.evaluation.report import MethodResult, Results, cell
from facerevive.evaluation.report_files import write_report
from facerevive.evaluation.testsets import TestSet, load_test_set, set_name
from facerevive.metrics.assets import MissingWeightsError
from facerevive.metrics.scorers import Column, Scorer
from facerevive.utils.cpu_threads import use_cpu_threads
from facerevive.utils.device import resolve_device
from facerevive.utils.images import unit_to_uint8
from facerevive.utils.instantiate import instantiate_loggers
from facerevive.utils.progress import progress_bar
from facerevive.weights.provenance import software_record, weights_record

log = logging.getLogger(__name__)


def save_png(img: torch.Tensor, path: Path) -> None:
    """One RGB [0, 1] CHW image as an 8-bit PNG."""
    path.parent.mkdir(parents=True, exist_ok=True)
    array = unit_to_uint8(img).permute(1, 2, 0).cpu().numpy()
    if not cv2.imwrite(str(path), cv2.cvtColor(array, cv2.COLOR_RGB2BGR)):
        raise OSError(f"could not write {path}")


@dataclass
class Protocol:
    """The scorers that run on this set, the report's columns, and the columns that cannot be computed."""

    scorers: list[Scorer]
    columns: list[Column]
    not_computed: dict[str, str] = field(default_factory=dict)


def build_protocol(metrics: DictConfig, test_set: TestSet, device: torch.device) -> Protocol:
    """Instantiate every configured scorer; those needing GT are left out on real-world sets, and those whose
    weights are absent give "not computed" columns."""
    protocol = Protocol([], [])
    for name, conf in metrics.items():
        if conf is None:
            continue
        scorer: Scorer = instantiate(conf)
        if scorer.needs_gt and not test_set.paired:
            log.info("metric %s needs GT: left out on the real-world set %s", name, test_set.name)
            continue
        protocol.columns.extend(scorer.columns)
        try:
            scorer.setup(device, test_set.info)
        except MissingWeightsError as exc:
            log.warning("metric %s: %s", name, exc)
            protocol.not_computed.update({column.key: str(exc) for column in scorer.columns})
            continue
        protocol.scorers.append(scorer)
    return protocol


def evenly_spaced(count: int, size: int | None) -> list[int]:
    """min(`size`, `count`) distinct indices spread evenly over `count` items, first and last included (every
    index when `size` is None or at least `count`)."""
    shown = count if size is None else min(size, count)
    if shown <= 0:
        return []
    if shown == 1:
        return [0]
    return [round(i * (count - 1) / (shown - 1)) for i in range(shown)]


class RestoredImages:
    """Every network method's outputs as PNGs under `folder`/<method slug>/<image>.png."""

    def __init__(self, folder: Path, names: Sequence[str]) -> None:
        self.folder, self.names = folder, names

    def add(
        self, spec: MethodSpec, indices: list[int], lq: torch.Tensor, restored: torch.Tensor, gt: torch.Tensor | None
    ) -> None:
        """Save one batch (the images `indices` of the set)."""
        if not spec.is_network:
            return
        for index, img in zip(indices, restored):
            save_png(img, self.folder / spec.slug / f"{self.names[index]}.png")


class Gallery:
    """The faces the HTML gallery shows: for evenly spaced test images (all of them unless the set is larger than
    `size`), the LQ, each method's output and GT. The LQ column is left out when the `input` method is a row:
    its faces are the LQ images already (resized to the GT size)."""

    def __init__(self, out_dir: Path, names: Sequence[str], size: int | None, paired: bool, show_lq: bool) -> None:
        self.out_dir, self.names, self.paired, self.show_lq = out_dir, names, paired, show_lq
        self.indices = set(evenly_spaced(len(names), size))
        self.cells: dict[int, dict[str, str]] = {}

    def _save(self, img: torch.Tensor, slug: str, name: str) -> str:
        relative = f"gallery/{slug}/{name}.png"
        save_png(img, self.out_dir / relative)
        return relative

    def add(
        self, spec: MethodSpec, indices: list[int], lq: torch.Tensor, restored: torch.Tensor, gt: torch.Tensor | None
    ) -> None:
        """Keep the batch's gallery faces (the images `indices` of the set)."""
        for j, index in enumerate(indices):
            if index not in self.indices:
                continue
            name = self.names[index]
            row = self.cells.setdefault(index, {})
            if self.show_lq and "LQ" not in row:
                row["LQ"] = self._save(lq[j], "lq", name)
            if gt is not None and "GT" not in row:
                row["GT"] = self._save(gt[j], "gt", name)
            row[spec.label] = self._save(restored[j], spec.slug, name)

    def rows(self, labels: Sequence[str]) -> list[dict[str, str]]:
        """One row per shown image: its name, LQ, every method in `labels` ("" when it did not run), GT."""
        rows = []
        for index in sorted(self.cells):
            cells = self.cells[index]
            row = {"image": self.names[index]}
            if self.show_lq:
                row["LQ"] = cells["LQ"]
            row.update({label: cells.get(label, "") for label in labels if label != "GT"})
            if self.paired:
                row["GT"] = cells.get("GT", "")
            rows.append(row)
        return rows


@dataclass
class Evaluation:
    """One test set, one protocol, one device: scores methods one after another."""

    test_set: TestSet
    protocol: Protocol
    device: torch.device
    batch_size: int
    num_workers: int
    seed: int
    outputs: list[RestoredImages | Gallery]
    random_overrides: dict[str, Any] | None = None
    quiet: bool = False  # no progress bar

    def open(self, spec: MethodSpec) -> Restorer:
        """The method's restorer (MethodUnavailableError when its weights or images are absent)."""
        return open_method(spec, self.device, self.test_set.names, self.random_overrides)

    def score(self, spec: MethodSpec) -> MethodResult:
        """One pass of `spec` over the set: restore, score, save; a method that cannot run gets its error."""
        result = MethodResult(spec.label, spec.slug, spec.is_reference_row)
        if spec.weights_spec is not None:
            result.weights = weights_record(spec.weights_spec).as_dict()
        torch.manual_seed(self.seed)
        try:
            restorer = self.open(spec)
        except MethodUnavailableError as exc:
            result.error = str(exc)
            log.warning("method %s: %s", spec.label, result.error)
            return result
        names = self.test_set.names
        log.info("evaluating %s on %s (%d images)", spec.label, self.test_set.name, len(names))
        for scorer in self.protocol.scorers:
            scorer.begin()
        values: dict[str, list[float]] = defaultdict(list)
        scored: list[str] = []
        resized: Counter[str] = Counter()
        loader = self.test_set.loader(self.batch_size, self.num_workers)
        for batch in progress_bar(loader, desc=spec.label, total=len(loader), unit="batch", quiet=self.quiet):
            for index, reason in batch.pop("failed").items():
                self._mark_bad(result, names[index], reason)
            if "lq" not in batch:
                continue
            indices = [int(i) for i in batch["index"]]
            lq = batch["lq"].to(self.device)
            gt = batch["gt"].to(self.device) if self.test_set.paired else None
            out = restorer.restore(batch, lq, gt)
            if out.failed:
                for position, reason in out.failed.items():
                    self._mark_bad(result, names[indices[position]], reason)
                keep = [j for j in range(len(indices)) if j not in out.failed]
                indices, lq = [indices[j] for j in keep], lq[keep]
                gt = gt[keep] if gt is not None else None
            if not indices:
                continue
            target = tuple(out.images.shape[-2:])
            resized.update(f"{w}x{h} -> {target[1]}x{target[0]}" for h, w in out.sizes if (h, w) != target)
            for scorer in self.protocol.scorers:
                for key, tensor in scorer.update(out.images, gt).items():
                    values[key].extend(tensor.double().cpu().tolist())
            for output in self.outputs:
                output.add(spec, indices, lq, out.images, gt)
            scored.extend(names[i] for i in indices)
        result.resized = dict(resized)
        if not scored:
            result.error = f"not computed: none of the {len(names)} images could be read"
            log.warning("method %s: %s", spec.label, result.error)
            return result
        for scorer in self.protocol.scorers:
            for key, (value, note) in scorer.result().items():
                result.summary[key], result.notes[key] = value, note
        result.per_image = {name: {k: v[i] for k, v in values.items()} for i, name in enumerate(scored)}
        for change, count in result.resized.items():
            log.warning("method %s: %d image(s) resized to the GT size (%s)", spec.label, count, change)
        return result

    @staticmethod
    def _mark_bad(result: MethodResult, name: str, reason: str) -> None:
        result.bad_images[name] = reason
        log.warning("method %s: image %s not scored: %s", result.label, name, reason)


def _plain_dict(node: DictConfig, key: str) -> dict[str, Any]:
    """The config entry `key` as a plain, resolved dict (constructor overrides, the report's protocol)."""
    container = OmegaConf.to_container(node, resolve=True)
    if not isinstance(container, dict):
        raise SettingError(f"{key} must be a mapping such as {{out_size: 64}}, got {container!r}")
    return {str(name): value for name, value in container.items()}


def _read_png(path: str) -> np.ndarray:
    """A gallery image written by this run (BGR)."""
    image = cv2.imread(path)
    if image is None:
        raise OSError(f"could not read {path}")
    return image


def parse_methods(texts: Sequence[str], quickstart_runs: Path, dataset: DictConfig) -> list[MethodSpec]:
    """The method specs of `methods=[...]`, checked against the dataset config before anything runs."""
    specs = [parse_method(text, quickstart_runs) for text in texts]
    if not specs:
        raise MethodError("methods=[...] is empty: name at least one method")
    if not dataset.paired and any(spec.kind is MethodKind.GT for spec in specs):
        raise MethodError(f"method 'gt' needs a paired set; {set_name(dataset)} has LQ images only")
    return specs


def evaluate_methods(cfg: DictConfig) -> tuple[Results, Path]:
    """Run the whole evaluation described by `cfg` and write the report into `cfg.paths.output_dir`; the options
    are checked (facerevive.evaluation.options) before anything is built."""
    options = evaluate_options(cfg)
    use_cpu_threads(options.threads)
    out_dir = Path(cfg.paths.output_dir)
    try:
        device = resolve_device(options.device)
    except ValueError as exc:
        raise SettingError(str(exc)) from exc
    specs = parse_methods(options.methods, Path(cfg.quickstart_runs), cfg.dataset)
    test_set = load_test_set(cfg.dataset)
    protocol = build_protocol(cfg.metrics, test_set, device)
    show_lq = not any(spec.kind is MethodKind.INPUT for spec in specs)
    gallery = Gallery(out_dir, test_set.names, options.gallery_size, test_set.paired, show_lq)
    outputs: list[RestoredImages | Gallery] = [gallery]
    if options.save_restored:
        outputs.append(RestoredImages(out_dir / "restored", test_set.names))
    evaluation = Evaluation(
        test_set,
        protocol,
        device,
        options.batch_size,
        options.num_workers,
        options.seed,
        outputs,
        options.random_overrides or None,
        quiet=not options.progress,
    )
    report = Results(
        dataset=test_set.name,
        columns=protocol.columns,
        methods=[],
        not_computed=protocol.not_computed,
        protocol=_plain_dict(cfg.metrics, "metrics"),
        images=test_set.names,
        note=str(cfg.dataset.get("note") or ""),
        software=software_record(device),
    )
    if report.note:
        log.warning("%s: %s", test_set.name, report.note)
    try:
        for spec in specs:
            report.methods.append(evaluation.score(spec))
    except BaseException as exc:  # a bug or Ctrl-C: the rows done are written before the error goes on
        report.interrupted = f"{spec.label} failed with {type(exc).__name__}: {exc}"
        write_report(report, out_dir, gallery.rows([row.label for row in report.methods]))
        log.error("evaluation interrupted at %s; the report of the methods done is in %s", spec.label, out_dir)
        raise
    gallery_rows = gallery.rows([row.label for row in report.methods])
    write_report(report, out_dir, gallery_rows)
    log_report(cfg.get("logger"), report, out_dir, gallery_rows)
    return report, out_dir


def log_report(loggers: DictConfig | None, report: Results, out_dir: Path, rows: list[dict[str, str]]) -> None:
    """The table and the gallery images to every configured logger that can take them (W&B)."""
    instances = instantiate_loggers(loggers)
    if not instances:
        return
    columns = ["method", *[c.label for c in report.columns]]
    data = [[m.label, *[cell(report, i, c) for c in report.columns]] for i, m in enumerate(report.methods)]
    headers = [h for h in rows[0] if h != "image"] if rows else []
    for logger in instances:
        if hasattr(logger, "log_table"):
            logger.log_table(key=f"eval/{report.dataset}/metrics", columns=columns, data=data)
        if hasattr(logger, "log_image"):
            for header in headers:
                paths = [str(out_dir / r[header]) for r in rows if r.get(header)]
                if paths:
                    images = [cv2.cvtColor(_read_png(p), cv2.COLOR_BGR2RGB) for p in paths]
                    logger.log_image(
                        key=f"eval/{report.dataset}/{header}", images=images, caption=[Path(p).stem for p in paths]
                    )
        log.info("logged the report to %s", type(logger).__name__)
    wandb = sys.modules.get("wandb")  # a W&B logger imported it: close its run so the upload completes
    if wandb is not None and wandb.run is not None:
        wandb.finish()
