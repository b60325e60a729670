"""One demo run: the uploaded photos through the pipeline and the runner of configs/restore.yaml.

Each run copies the uploads into its own folder, restores them with `RestoreRunner` (the writer of
`facerevive-restore`: restored_imgs/, cropped_faces/, restored_faces/, comparison/), zips those results and
makes the page's previews. Anything that stops a run is a DemoError whose message says why, for the page to show;
a photo that cannot be restored while others can is listed in the run's report.
"""

from __future__ import annotations

import json
import logging
import math
import re
import shutil
import tempfile
import threading
import time
import zipfile
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import cv2
import numpy as np
import torch
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from facerevive.demo.models import ModelMenu, RefusedModelError
from facerevive.demo.previews import MIN_FACE_PREVIEW, enlarge, fit_to, shrink, with_banner
from facerevive.demo.settings import DemoSettings
from facerevive.demo.uploads import RefusedUploadError, check_pixels, uploaded_photos
from facerevive.restore.build import ModelCaveat, instantiate_pipeline, model_caveat, pipeline_options
from facerevive.restore.comparison import to_display
from facerevive.restore.images import BadInputError, read_photo
from facerevive.restore.options import OptionError, checked_config
from facerevive.restore.pipeline import RestorePipeline
from facerevive.restore.runner import OutputError, RestoreRunner
from facerevive.weights.hint import weights_command
from facerevive.weights.provenance import provenance

log = logging.getLogger(__name__)

# What the page adds to the caveat of a model that is not a full release (restore.build.model_caveat).
CAVEAT_ADVICE = f"Choose a release ({weights_command()} downloads them) for real restorations."


class DemoError(Exception):
    """A run that gives no result; the message says why (it names the file or the option)."""


@dataclass(frozen=True)
class PageOptions:
    """What the page sets for one run: the restore options of the same names in configs/restore.yaml."""

    weights: str
    fidelity: float
    upscale: float
    bg_upsampler: str
    only_center_face: bool
    aligned: bool
    noise: str
    seed: int


@dataclass(frozen=True)
class PhotoPreview:
    """One restored photo on the page: the upload's name, the input at the output size and the result."""

    name: str
    before: Path
    after: Path


@dataclass(frozen=True)
class FacePreview:
    caption: str
    image: Path


@dataclass
class DemoRun:
    """The outcome of a run: previews, the zip of every result, the report lines shown with them, and the caveat
    of a model that is not a full release (random weights, a quickstart checkpoint, a small model), which labels
    every preview, the comparison images and the zip."""

    photos: list[PhotoPreview]
    faces: list[FacePreview]
    archive: Path
    caveat: ModelCaveat | None
    report: list[str] = field(default_factory=list)


def safe_stem(name: str, taken: set[str]) -> str:
    """A file stem for an upload's `name` that is safe on any disk and not in `taken` (which it joins)."""
    stem = re.sub(r"[^\w.-]+", "_", Path(name).stem).strip("._") or "photo"
    candidate, number = stem, 2
    while candidate.lower() in taken:
        candidate, number = f"{stem}_{number}", number + 1
    taken.add(candidate.lower())
    return candidate


def _read_result(path: Path, flags: int = cv2.IMREAD_COLOR) -> np.ndarray:
    """An image the runner wrote; DemoError when it cannot be read back (a full or vanished disk)."""
    image = cv2.imread(str(path), flags)
    if image is None:
        raise DemoError(f"{path.name}: the result could not be read back from the server's disk")
    return image


def _is_face_of(path: Path, stem: str) -> bool:
    """Whether `path` is one of the runner's face files of the photo `stem` (<stem>_<number>.png)."""
    return re.fullmatch(re.escape(stem) + r"_\d{2,}\.png", path.name) is not None


class DemoRestorer:
    """Runs the demo's restorations, each into its own folder under `work_dir` (the newest `keep_runs` are kept).

    A run reads only files inside `upload_dir` (the demo's private upload folder) and only the models of `models`.
    Built pipelines are cached by every option that shapes them; the fidelity is not one of them (it is an
    argument of each restoration, which the run's writer passes), so moving the fidelity slider does not load the
    model again. `close` waits for the runs in
    progress and refuses new ones, so the demo's folders can be removed at exit without a run writing into them.
    """

    def __init__(
        self, settings: DemoSettings, work_dir: Path, upload_dir: Path, models: ModelMenu, page_dir: Path | None = None
    ) -> None:
        self.settings = settings
        self.work_dir = work_dir
        work_dir.mkdir(parents=True, exist_ok=True)
        self.upload_dir = upload_dir
        # Where each run's previews and zip go (<page_dir>/<run>/), apart from its inputs and results: the files
        # handed to Gradio, which copies them into its cache (launch.py keeps this folder private to the process).
        self.page_dir = work_dir if page_dir is None else page_dir
        self.models = models
        self._pipelines: OrderedDict[str, RestorePipeline] = OrderedDict()
        self._runs = threading.Condition()
        self._running = 0
        self._closed = False

    def close(self, timeout: float = 60.0) -> None:
        """Refuse new runs and wait (at most `timeout` seconds) for those in progress to end."""
        with self._runs:
            self._closed = True
            self._runs.wait_for(lambda: self._running == 0, timeout)

    def run_config(self, options: PageOptions, folder: Path) -> DictConfig:
        """configs/restore.yaml with the demo's changes, the page's options and this run's folders (checked)."""
        page = asdict(options)
        for key, value in page.items():  # request values are data: an OmegaConf interpolation would be resolved
            if isinstance(value, str) and "${" in value:
                raise DemoError(f"{key}: a page value cannot hold '${{'")
        for key in ("fidelity", "upscale"):  # JSON carries NaN and Infinity, which no range check catches
            value = getattr(options, key)
            if isinstance(value, float) and not math.isfinite(value):
                raise DemoError(f"{key}={value}: not a finite number")
        if isinstance(options.upscale, int | float) and options.upscale > self.settings.max_upscale:
            raise DemoError(f"upscale={options.upscale:g}: this demo upscales at most {self.settings.max_upscale:g}x")
        cfg = OmegaConf.merge(self.settings.restore, page, {"input": str(folder / "inputs")})
        assert isinstance(cfg, DictConfig)
        cfg.output = str(folder / "results")
        try:
            _, cfg = checked_config(cfg)
        except OptionError as exc:
            raise DemoError(str(exc)) from None
        return cfg

    def pipeline(self, cfg: DictConfig) -> RestorePipeline:
        """The pipeline of `cfg` (from the cache when only per-call values such as the fidelity changed); a model
        that cannot be built (missing weights, unreadable checkpoint, bad option) is a DemoError naming it."""
        shape = {key: cfg[key] for key in pipeline_options(cfg)}
        key = json.dumps(OmegaConf.to_container(OmegaConf.create(shape), resolve=True), sort_keys=True, default=str)
        pipeline = self._pipelines.pop(key, None)
        if pipeline is None:
            try:
                pipeline = instantiate_pipeline(cfg.pipeline)
            except (OSError, RuntimeError, ValueError, TypeError, InstantiationException) as exc:
                if self.models.in_menu(str(cfg.weights)):  # the operator's model: the reason helps them
                    raise DemoError(f"model {cfg.weights}: {exc}") from exc
                log.warning("typed model %s could not be built: %s", cfg.weights, exc)
                reason = "could not be loaded (the server's log says why)"
                raise DemoError(f"model {Path(cfg.weights).name}: {reason}") from None
        self._pipelines[key] = pipeline
        while len(self._pipelines) > self.settings.cached_pipelines:
            self._pipelines.popitem(last=False)
        return pipeline

    def restore(self, files: Sequence[str | Path] | None, options: PageOptions) -> DemoRun:
        """Restore the uploaded `files` with `options`; DemoError when nothing can be restored."""
        try:
            uploads = uploaded_photos(list(files or []), self.upload_dir, self.settings.max_photos)
            options = replace(options, weights=self.models.choose(options.weights))
            self._check_pixels(uploads, options)
        except (RefusedUploadError, RefusedModelError) as exc:
            raise DemoError(str(exc)) from None
        with self._runs:
            if self._closed:
                raise DemoError("the demo is stopping: no new runs")
            self._running += 1
        try:
            folder = self._new_run_folder()
            try:
                run = self._restore_into(folder, uploads, options)
            except BaseException:  # a failed run leaves nothing behind
                self._remove_run(folder)
                raise
            for stale in sorted(self.work_dir.glob("run-*"))[: -self.settings.keep_runs]:
                self._remove_run(stale)
            return run
        finally:
            with self._runs:
                self._running -= 1
                self._runs.notify_all()

    def _restore_into(self, folder: Path, uploads: list[Path], options: PageOptions) -> DemoRun:
        cfg = self.run_config(options, folder)
        inputs = self._copy_uploads(uploads, folder / "inputs")
        pipeline = self.pipeline(cfg)
        record = provenance(options.weights, torch.device(cfg.device))  # resolved by checked_config
        caveat = model_caveat(options.weights, pipeline.face_size, record["weights"]["source"])
        if caveat is not None:
            log.warning("%s", caveat.message)
        make_runner = instantiate(cfg.runner, _partial_=True)
        runner: RestoreRunner = make_runner(pipeline=pipeline, note=caveat.label if caveat else None, provenance=record)
        try:
            summary = runner.run(folder / "inputs")
        except OutputError as exc:
            raise DemoError(str(exc)) from exc
        clean = f"{folder / 'inputs'}/"
        if summary.problem is not None:
            reasons = [reason.replace(clean, "") for _, reason in summary.skipped]
            raise DemoError("; ".join([summary.problem.replace(clean, ""), *reasons]))
        run = self._previews(inputs, folder, caveat)
        run.report = [line.replace(clean, "") for line in summary.lines()]
        if caveat is not None:
            run.report.insert(0, f"{caveat.label}: {caveat.message}. {CAVEAT_ADVICE}")
        return run

    def _check_pixels(self, uploads: list[Path], options: PageOptions) -> None:
        """Refuse a photo with too many pixels, or too many at the page's upscale, from its header: before a run
        folder is made or anything decoded. (An upload never changes: Gradio stores each one in a new folder.)"""
        upscale = options.upscale if isinstance(options.upscale, int | float) and options.upscale > 0 else 1.0
        limit = self.settings.option("max_output_megapixels")
        for upload in uploads:
            if upload.is_file():
                check_pixels(upload, float(upscale), self.settings.max_input_megapixels, limit)

    def _page_folder(self, folder: Path) -> Path:
        return folder if self.page_dir == self.work_dir else self.page_dir / folder.name

    def _remove_run(self, folder: Path) -> None:
        shutil.rmtree(self._page_folder(folder), ignore_errors=True)
        shutil.rmtree(folder, ignore_errors=True)

    def _new_run_folder(self) -> Path:
        """A fresh folder for one run, unique even when several demos share `work_dir`, named in start order
        (`work_dir` is not created again once the demo has removed it)."""
        folder = Path(tempfile.mkdtemp(prefix=f"run-{time.time_ns()}-", dir=self.work_dir))
        (folder / "inputs").mkdir()
        return folder

    @staticmethod
    def _copy_uploads(uploads: list[Path], target: Path) -> dict[str, tuple[str, Path]]:
        """Copy the uploads under safe, distinct names: {stem: (the upload's name, its copy)}."""
        taken: set[str] = set()
        copies = {}
        for upload in uploads:
            if not upload.is_file():
                raise DemoError(f"{upload.name}: the upload did not arrive (try again)")
            stem = safe_stem(upload.name, taken)
            copy = target / f"{stem}{upload.suffix.lower()}"
            shutil.copyfile(upload, copy)
            copies[stem] = (upload.name, copy)
        return copies

    def _previews(self, inputs: dict[str, tuple[str, Path]], folder: Path, caveat: ModelCaveat | None) -> DemoRun:
        page = self._page_folder(folder)
        results, previews = folder / "results", page / "previews"
        previews.mkdir(parents=True)
        max_side = self.settings.preview_max_side
        photos, faces = [], []
        for stem, (name, source) in inputs.items():
            restored_files = sorted((results / "restored_imgs").glob(f"{stem}.*"))
            if not restored_files:
                continue  # skipped by the runner: its reason is in the report
            after = to_display(_read_result(restored_files[0], cv2.IMREAD_UNCHANGED))
            try:
                before = to_display(read_photo(source).color)
            except BadInputError as exc:
                raise DemoError(str(exc)) from exc
            before = shrink(fit_to(before, after.shape[1::-1]), max_side)
            after = shrink(after, max_side)
            if caveat is not None:
                after = with_banner(after, caveat.label)
            photo = PhotoPreview(name, previews / f"{stem}_before.png", previews / f"{stem}_after.png")
            cv2.imwrite(str(photo.before), before)
            cv2.imwrite(str(photo.after), after)
            photos.append(photo)
            # The runner's cmp/<stem>_XX.png: the aligned input crop | the restored face.
            pairs = [p for p in (results / "cmp").glob(f"{stem}_*.png") if _is_face_of(p, stem)]
            pairs.sort(key=lambda p: int(p.stem.rsplit("_", 1)[1]))
            for index, pair_file in enumerate(pairs):
                pair = enlarge(_read_result(pair_file), MIN_FACE_PREVIEW)
                if caveat is not None:
                    pair = with_banner(pair, caveat.label)
                preview = previews / f"{stem}_face{index:02d}.png"
                cv2.imwrite(str(preview), pair)
                faces.append(FacePreview(f"{name}, face {index + 1}: input | restored", preview))
        archive = self._zip(results, page, caveat)
        return DemoRun(photos, faces, archive, caveat)

    @staticmethod
    def _zip(results: Path, folder: Path, caveat: ModelCaveat | None) -> Path:
        """Every result file in one zip; a model's caveat names the zip and is written in it as a text file."""
        tag = "" if caveat is None else "_" + re.sub(r"\W+", "_", caveat.label)
        archive = folder / f"facerevive_results{tag}.zip"
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as bundle:
            for path in sorted(p for p in results.rglob("*") if p.is_file()):
                bundle.write(path, path.relative_to(results).as_posix())
            if caveat is not None:
                bundle.writestr(f"{tag[1:]}.txt", f"{caveat.label}: {caveat.message}\n")
        return archive
