"""`python evaluate.py`: restore a test set with every method, score every metric, write the report.

The order is one pass per method over the test set: each batch is decoded once, restored once, and every
metric scores it while it is on the device; distribution metrics (FID) keep only their 2048-d features.
"""

from __future__ import annotations

import logging
import math
from collections import defaultdict
from pathlib import Path

import cv2
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from torch.utils.data import DataLoader

from facerevive.data import UnpairedImageDataset
from facerevive.data.sources import stem
from facerevive.evaluation.methods import (
    Method,
    MethodError,
    load_network,
    parse_method,
    quantise,
    resize_to,
    run_network,
)
from facerevive.evaluation.report import MethodResult, Results, write_report
from facerevive.evaluation.testsets import prepare_dataset
from facerevive.metrics.assets import MissingWeightsError
from facerevive.metrics.scorers import FIDScorer, Scorer
from facerevive.weights.checkpoint import CheckpointError

log = logging.getLogger(__name__)


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def _save_png(img: torch.Tensor, path: Path) -> None:
    """One RGB [0, 1] CHW image as an 8-bit PNG."""
    path.parent.mkdir(parents=True, exist_ok=True)
    array = (img.clamp(0, 1) * 255).round().byte().permute(1, 2, 0).cpu().numpy()
    if not cv2.imwrite(str(path), cv2.cvtColor(array, cv2.COLOR_RGB2BGR)):
        raise OSError(f"could not write {path}")


def _missing_message(exc: Exception) -> str:
    text = str(exc)
    if isinstance(exc, FileNotFoundError) and "make weights" in text:
        return f"not computed: {Path(text.split(' is missing')[0]).name} missing (make weights)"
    return f"not computed: {text}"


def _prepare_method(method: Method, device: torch.device, cfg: DictConfig, names: list[str]) -> None:
    if method.kind == "net":
        overrides = (
            OmegaConf.to_container(cfg.get("random_overrides") or {}) if method.target.startswith("random:") else None
        )
        load_network(method, device, overrides)
    elif method.kind == "folder":
        method.reader = UnpairedImageDataset(method.target, signed=False)
        method.restored_by_stem = {stem(key): i for i, key in enumerate(method.reader.lq.keys)}
        missing = [name for name in names if name not in method.restored_by_stem]
        if missing:
            raise MethodError(
                f"{method.target} has no restored image named {missing[0]}.* ({len(missing)} of {len(names)} missing)"
            )


def _restore(
    method: Method, batch: dict, lq: torch.Tensor, gt: torch.Tensor | None, device: torch.device
) -> torch.Tensor:
    size = tuple(gt.shape[-2:]) if gt is not None else tuple(lq.shape[-2:])
    if method.kind == "input":
        return quantise(resize_to(lq, size))
    if method.kind == "gt":
        return gt
    if method.kind == "net":
        return run_network(method.net, lq, size)
    images = []
    for path in batch["lq_path"]:
        name = Path(path).stem
        if name not in method.restored_by_stem:
            raise MethodError(f"{method.target} has no restored image named {name}.* (test image {path})")
        images.append(method.reader[method.restored_by_stem[name]]["lq"])
    return resize_to(torch.stack(images).to(device), size)


def _setup_scorers(scorers: dict[str, Scorer], paired: bool, device: torch.device, gt_files: list[Path]):
    columns, active, not_computed = [], [], {}
    for name, scorer in scorers.items():
        if scorer.needs_gt and not paired:
            log.info("metric %s needs GT: left out on this real-world set", name)
            continue
        if isinstance(scorer, FIDScorer) and scorer.reference == "gt" and not paired:
            log.info("FID against GT left out: the set has no GT")
            continue
        columns.extend(scorer.columns)
        try:
            scorer.setup(device)
            if isinstance(scorer, FIDScorer):
                scorer.set_gt_files(gt_files)
            active.append(scorer)
        except MissingWeightsError as exc:
            log.warning("metric %s: %s", name, exc)
            for column in scorer.columns:
                not_computed[column.key] = str(exc)
    return columns, active, not_computed


def _gallery_indices(count: int, size: int) -> list[int]:
    if count == 0 or size <= 0:
        return []
    return sorted({round(i * (count - 1) / max(size - 1, 1)) for i in range(min(size, count))})


def evaluate_methods(cfg: DictConfig) -> tuple[Results, Path]:
    """Run the whole evaluation described by `cfg` and write the report into `cfg.paths.output_dir`."""
    root = Path(cfg.paths.root_dir)
    out_dir = Path(cfg.paths.output_dir)
    device = resolve_device(cfg.device)
    methods = [parse_method(spec, root) for spec in cfg.methods]
    if not methods:
        raise MethodError("methods=[...] is empty: name at least one method")
    dataset = prepare_dataset(cfg.dataset)
    paired = bool(cfg.dataset.paired)
    if not paired and any(m.kind == "gt" for m in methods):
        raise MethodError(f"method 'gt' needs a paired set; {cfg.dataset.name} has LQ images only")
    gt_files = [Path(dataset.gt.path(k)) for _, k in dataset.pairs] if paired else []
    scorers = {name: instantiate(conf) for name, conf in cfg.metrics.items() if conf is not None}
    columns, active, not_computed = _setup_scorers(scorers, paired, device, gt_files)

    loader = DataLoader(dataset, batch_size=cfg.batch_size, num_workers=cfg.num_workers, shuffle=False)
    names = [stem(lq_key) for lq_key, _ in dataset.pairs] if paired else [stem(k) for k in dataset.lq.keys]
    gallery = set(_gallery_indices(len(dataset), cfg.gallery_size))
    gallery_rows: dict[int, dict[str, str]] = {}
    results: list[MethodResult] = []
    for method in methods:
        result = MethodResult(method.label, method.slug, method.is_reference_row)
        results.append(result)
        try:
            _prepare_method(method, device, cfg, names)
        except (FileNotFoundError, CheckpointError, MethodError, ValueError) as exc:
            result.error = _missing_message(exc)
            log.warning("method %s: %s", method.label, result.error)
            continue
        log.info("evaluating %s on %s (%d images)", method.label, cfg.dataset.name, len(dataset))
        torch.manual_seed(cfg.seed)
        for scorer in active:
            scorer.start_method()
        values: dict[str, list[float]] = defaultdict(list)
        index = 0
        for batch in loader:
            lq = batch["lq"].to(device)
            gt = batch["gt"].to(device) if paired else None
            restored = _restore(method, batch, lq, gt, device)
            for scorer in active:
                per_image = scorer.update(restored, gt)
                for key, tensor in (per_image or {}).items():
                    values[key].extend(tensor.double().cpu().tolist())
            for j in range(lq.shape[0]):
                name = names[index + j]
                if cfg.save_restored and method.kind == "net":
                    _save_png(restored[j], out_dir / "restored" / method.slug / f"{name}.png")
                if index + j in gallery:
                    row = gallery_rows.setdefault(index + j, {"image": name})
                    if "LQ" not in row:
                        _save_png(lq[j], out_dir / "gallery" / "lq" / f"{name}.png")
                        row["LQ"] = f"gallery/lq/{name}.png"
                    _save_png(restored[j], out_dir / "gallery" / method.slug / f"{name}.png")
                    row[method.label] = f"gallery/{method.slug}/{name}.png"
                    if paired and "GT" not in row:
                        _save_png(gt[j], out_dir / "gallery" / "gt" / f"{name}.png")
            index += lq.shape[0]
        for scorer in active:
            for column in scorer.columns:
                result.summary[column.key], result.notes[column.key] = scorer.summary(
                    column.key, values.get(column.key, [])
                )
            if isinstance(scorer, FIDScorer):
                try:
                    result.summary[scorer.columns[0].key] = scorer.finish_method()
                except ValueError as exc:
                    result.summary[scorer.columns[0].key] = math.nan
                    result.notes[scorer.columns[0].key] = str(exc)
        result.per_image = {name: {k: v[i] for k, v in values.items()} for i, name in enumerate(names)}
        method.net = None
    rows = []
    for i in sorted(gallery_rows):
        row = {"image": gallery_rows[i]["image"], "LQ": gallery_rows[i].get("LQ", "")}
        row.update({m.label: gallery_rows[i].get(m.label, "") for m in results if m.label != "GT"})
        if paired:
            row["GT"] = f"gallery/gt/{gallery_rows[i]['image']}.png"
        rows.append(row)
    report = Results(
        dataset=str(cfg.dataset.name),
        columns=columns,
        methods=results,
        not_computed=not_computed,
        protocol=OmegaConf.to_container(cfg.metrics, resolve=True),
        images=names,
    )
    write_report(report, out_dir, rows)
    log_to_loggers(cfg, report, out_dir, rows)
    return report, out_dir


def log_to_loggers(cfg: DictConfig, report: Results, out_dir: Path, rows: list[dict[str, str]]) -> None:
    """The table and the gallery images to every configured logger that can take them (W&B)."""
    loggers = cfg.get("logger") or {}
    if not loggers:
        return
    from facerevive.evaluation.report import cell

    columns = ["method", *[c.label for c in report.columns]]
    data = [[m.label, *[cell(report, i, c) for c in report.columns]] for i, m in enumerate(report.methods)]
    for name, conf in loggers.items():
        if not isinstance(conf, DictConfig) or "_target_" not in conf:
            continue
        logger = instantiate(conf)
        if hasattr(logger, "log_table"):
            logger.log_table(key=f"eval/{report.dataset}/metrics", columns=columns, data=data)
        if hasattr(logger, "log_image") and rows:
            for header in [h for h in rows[0] if h != "image"]:
                paths = [str(out_dir / r[header]) for r in rows if r.get(header)]
                if paths:
                    images = [cv2.cvtColor(cv2.imread(p), cv2.COLOR_BGR2RGB) for p in paths]
                    logger.log_image(
                        key=f"eval/{report.dataset}/{header}", images=images, caption=[Path(p).stem for p in paths]
                    )
        log.info("logged the report to %s", name)
    try:
        import wandb

        if wandb.run is not None:
            wandb.finish()
    except ImportError:
        pass
