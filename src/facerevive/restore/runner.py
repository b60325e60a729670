"""Restore a file, a folder, a glob or a video; write the outputs; summarise what happened to every input.

Bad inputs are skipped with their reason and the run goes on; the summary's `problem` says when the run as a
whole failed (nothing restored, or outputs that could not be written), for the command's exit status.
Videos become H.264 MP4s with their sound (restore.video_writer). Animated GIFs are restored frame by frame like
videos (restored_videos/<name>.mp4); other animated formats (APNG, animated WebP) restore their first frame only,
and the summary says so.
"""

from __future__ import annotations

import contextlib
import glob
import json
import logging
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from tqdm.contrib.logging import logging_redirect_tqdm

from facerevive.restore.comparison import comparison_image, face_comparison
from facerevive.restore.images import (
    BadInputError,
    Photo,
    check_output_size,
    frame_count,
    photo_from_array,
    read_photo,
    write_image,
)
from facerevive.restore.pipeline import PreparedPhoto, RestorePipeline, RestoreResult
from facerevive.restore.smoothing import LandmarkSmoother
from facerevive.restore.video_writer import RestoredVideoWriter
from facerevive.utils.files import atomic_write_text, ensure_writable_dir
from facerevive.utils.progress import progress_bar

log = logging.getLogger(__name__)

VIDEO_SUFFIXES = {".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv"}
OUTPUT_DIRS = ("restored_imgs", "cropped_faces", "restored_faces", "comparison", "cmp", "restored_videos")
ANIMATED_AS_VIDEO = {".gif"}  # animated images that OpenCV's video reader decodes frame by frame
# What made the outputs (weights file and SHA-256, iteration, versions, device), beside them in the output folder;
# every PNG written also carries it as a text chunk under PNG_TEXT_KEY.
PROVENANCE_FILE = "provenance.json"
PNG_TEXT_KEY = "facerevive"


class OutputError(OSError):
    """An output that cannot be written (read-only or full folder); the message names the file or folder."""


def check_writable(folder: Path) -> None:
    """Create `folder` and a temporary file in it, or raise OutputError saying why: found before any work."""
    try:
        ensure_writable_dir(folder)
    except OSError as exc:
        raise OutputError(f"cannot write to the output folder {folder} ({exc.strerror or exc})") from exc


@dataclass
class Summary:
    """Counts of the run and the reason for every input that was not restored."""

    images_restored: int = 0
    faces_restored: int = 0
    videos_restored: int = 0
    frames_restored: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)
    unwritten: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def skip(self, source: str, reason: str) -> None:
        self.skipped.append((source, reason))
        log.warning("skipped %s", reason if reason.startswith(source) else f"{source}: {reason}")

    def write_failed(self, reason: str) -> None:
        self.unwritten.append(reason)
        log.error("%s", reason)

    def note(self, text: str) -> None:
        self.notes.append(text)
        log.warning("%s", text)

    @property
    def problem(self) -> str | None:
        """Why the run failed as a whole (one line), or None: outputs not written, or nothing restored."""
        if self.unwritten:
            return f"{len(self.unwritten)} input(s) restored but not written: {self.unwritten[0]}"
        if self.images_restored + self.videos_restored == 0:
            reasons = Counter(_reason_kind(reason) for _, reason in self.skipped).most_common()
            why = ", ".join(f"{count} x {kind}" for kind, count in reasons) or "no inputs"
            return f"nothing was restored ({why})"
        return None

    def lines(self) -> list[str]:
        lines = [
            f"restored {self.images_restored} image(s) with {self.faces_restored} face(s)"
            + (f", {self.videos_restored} video(s) ({self.frames_restored} frames)" if self.videos_restored else ""),
            f"skipped {len(self.skipped)} input(s)",
        ]
        reasons = Counter(_reason_kind(reason) for _, reason in self.skipped)
        lines += [f"  {count} x {kind}" for kind, count in reasons.most_common()]
        lines += [f"    {reason}" for _, reason in self.skipped]
        if self.unwritten:
            lines += [f"not written: {len(self.unwritten)} input(s)", *[f"    {r}" for r in self.unwritten]]
        lines += [f"note: {text}" for text in self.notes]
        return lines


def _reason_kind(reason: str) -> str:
    text = reason.split(": ", 1)[-1]
    return text.split(" (", 1)[0]


def expand_inputs(spec: str | Path, exclude: Path | None = None) -> list[Path]:
    """The input files: one file (existing or not, so a missing one is reported), a folder's files, or a glob.

    Hidden files and anything inside the output subfolders of `exclude` (the output folder) are left out, so a
    run never reads its own outputs back, even when the output folder is the input folder.
    """
    spec = str(spec)
    if any(char in spec for char in "*?["):
        paths = [Path(p) for p in sorted(glob.glob(spec, recursive=True))]
        paths = [p for p in paths if p.is_file()]
    elif Path(spec).is_dir():
        paths = sorted(p for p in Path(spec).iterdir() if p.is_file())
    else:
        return [Path(spec)]
    paths = [p for p in paths if not p.name.startswith(".")]
    if exclude is not None:
        excluded = {(exclude / name).resolve() for name in OUTPUT_DIRS}
        record = (exclude / PROVENANCE_FILE).resolve()
        paths = [p for p in paths if not excluded.intersection(p.resolve().parents) and p.resolve() != record]
    return paths


def output_extension(ext: str, source: Path | None, has_alpha: bool, bit_depth: int) -> str:
    """'.png'/'.jpg'/...: `ext` ('auto' = the input's), switched to PNG where JPEG would drop alpha or 16 bits."""
    if ext == "auto":
        suffix = source.suffix.lower() if source is not None and source.suffix else ".png"
        if suffix not in {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"}:
            suffix = ".png"
    else:
        suffix = "." + ext.lower().lstrip(".")
    if suffix in {".jpg", ".jpeg", ".bmp", ".webp"} and (has_alpha or bit_depth == 16):
        log.info("%s: writing PNG to keep the alpha channel / 16-bit depth", source)
        suffix = ".png"
    return suffix


class RestoreRunner:
    """Writes, for each input photo `name`: restored_imgs/name.ext, cropped_faces/name_XX.png,
    restored_faces/name_XX.png (`save_faces`), comparison/name.jpg (input | restored, faces boxed when
    `comparison_boxes`) and cmp/name_XX.png (input crop | restored face) (`save_comparison`). A progress bar
    runs over the inputs (and a video's frames) on stderr when `progress` and stderr is a terminal. With
    `provenance` (facerevive.weights.provenance: weights, software), it is written as provenance.json in the output
    folder and into every PNG's text chunk `facerevive`."""

    def __init__(
        self,
        pipeline: RestorePipeline,
        output: str | Path,
        ext: str = "auto",
        seed: int = 0,
        fidelity: float | None = None,
        save_faces: bool = True,
        save_comparison: bool = True,
        comparison_boxes: bool = True,
        smooth_landmarks: float = 0.0,
        note: str | None = None,
        min_side: int = 32,
        max_side: int = 8000,
        max_output_megapixels: float | None = 300,
        progress: bool = True,
        provenance: Mapping[str, Any] | None = None,
    ) -> None:
        self.pipeline = pipeline
        self.output = Path(output)
        self.ext = ext
        self.seed = seed
        self.fidelity = fidelity
        self.save_faces = save_faces
        self.save_comparison = save_comparison
        self.comparison_boxes = comparison_boxes
        self.smooth_landmarks = smooth_landmarks
        self.note = note
        self.min_side = min_side
        self.max_side = max_side
        self.max_output_megapixels = max_output_megapixels
        self.progress = progress
        self.provenance = provenance
        compact = json.dumps(provenance, sort_keys=True, separators=(",", ":")) if provenance else ""
        self._png_text = {PNG_TEXT_KEY: compact} if provenance else None
        self.summary = Summary()
        self._inputs: set[Path] = set()
        self._used_names: set[str] = set()
        self._pending: list[tuple[Path, PreparedPhoto]] = []  # photos whose faces wait for a batch

    def run(self, spec: str | Path) -> Summary:
        """Restore every input of `spec`; bad inputs are reported and skipped, never fatal. An output folder
        that cannot be written raises OutputError before any input is read."""
        check_writable(self.output)
        if self.provenance is not None:
            try:
                atomic_write_text(self.output / PROVENANCE_FILE, json.dumps(self.provenance, indent=2) + "\n")
            except OSError as exc:
                raise OutputError(f"{self.output / PROVENANCE_FILE}: cannot write ({exc.strerror or exc})") from exc
        paths = expand_inputs(spec, exclude=self.output)
        if not paths:
            self.summary.skip(str(spec), f"{spec}: no input files matched")
        self._inputs = {p.resolve() for p in paths}
        with logging_redirect_tqdm():  # log lines go above the bar instead of breaking it
            for path in progress_bar(paths, desc="restore", unit="photo", quiet=not self.progress):
                self._restore_one(path)
            self._flush()
        return self.summary

    def _restore_one(self, path: Path) -> None:
        """Restore a video, or prepare a photo (detect, align) and restore the waiting photos once they hold a
        batch of faces (the restorer's `batch_size`): faces are batched across photos. A bad input or an
        unwritable output is recorded in the summary, never raised."""
        suffix = path.suffix.lower()
        with self._recorded(path):
            if suffix in VIDEO_SUFFIXES or (suffix in ANIMATED_AS_VIDEO and frame_count(path) > 1):
                self._flush()
                self.restore_video(path)
            else:
                self._pending.append((path, self._prepare_image(path)))
        if sum(len(prepared.cropped) for _, prepared in self._pending) >= self.pipeline.restorer.batch_size:
            self._flush()

    @contextlib.contextmanager
    def _recorded(self, *paths: Path) -> Iterator[None]:
        """Record what goes wrong for `paths` in the summary instead of raising it."""
        try:
            yield
        except BadInputError as exc:
            for path in paths:
                self.summary.skip(str(path), str(exc))
        except OutputError as exc:
            self.summary.write_failed(str(exc))
        except Exception as exc:  # one broken file must not stop a folder run
            for path in paths:
                log.exception("failed on %s", path)
                self.summary.skip(str(path), f"{path}: failed ({type(exc).__name__}: {exc})")

    def _flush(self) -> None:
        """Restore the waiting photos' faces in one batch and write each photo's outputs."""
        pending, self._pending = self._pending, []
        if not pending:
            return
        results: list[RestoreResult] | None = None
        with self._recorded(*(path for path, _ in pending)):
            results = self.pipeline.restore_prepared([prepared for _, prepared in pending], self.seed, self.fidelity)
        for (path, prepared), result in zip(pending, results or []):
            with self._recorded(path):
                self._write_image_outputs(path, prepared.photo, result)

    def _name(self, path: Path) -> str:
        name = path.stem
        if name in self._used_names:
            name = f"{path.stem}_{path.suffix.lstrip('.').lower()}"
        self._used_names.add(name)
        return name

    def _write(self, path: Path, image: np.ndarray) -> None:
        if path.resolve() in self._inputs:
            raise BadInputError(f"{path}: refusing to overwrite an input file")
        try:
            write_image(path, image, self._png_text)
        except OSError as exc:
            raise OutputError(f"{path}: cannot write ({exc.strerror or exc})") from exc

    def _prepare_image(self, path: Path) -> PreparedPhoto:
        """Read and check a photo, find and align its faces (BadInputError when it has none)."""
        photo = read_photo(path, self.min_side, self.max_side)
        height, width = photo.color.shape[:2]
        check_output_size(width, height, self.pipeline.upscale, str(path), self.max_output_megapixels)
        if photo.frames > 1:
            self.summary.note(f"{path}: animated image of {photo.frames} frames, only the first is restored")
        prepared = self.pipeline.prepare(photo)
        if not prepared.cropped:
            raise BadInputError(f"{path}: no face detected")
        return prepared

    def _write_image_outputs(self, path: Path, photo: Photo, result: RestoreResult) -> None:
        name = self._name(path)
        suffix = output_extension(self.ext, path, photo.alpha is not None, photo.bit_depth)
        self._write(self.output / "restored_imgs" / f"{name}{suffix}", result.restored)
        if self.save_faces:
            for index, (crop, face) in enumerate(zip(result.cropped_faces, result.restored_faces)):
                self._write(self.output / "cropped_faces" / f"{name}_{index:02d}.png", crop)
                self._write(self.output / "restored_faces" / f"{name}_{index:02d}.png", face)
        if self.save_comparison:
            boxes = result.boxes if self.comparison_boxes else None
            side_by_side = comparison_image(result.source, result.restored, boxes, self.note)
            self._write(self.output / "comparison" / f"{name}.jpg", side_by_side)
            for index, (crop, face) in enumerate(zip(result.cropped_faces, result.restored_faces)):
                self._write(self.output / "cmp" / f"{name}_{index:02d}.png", face_comparison(crop, face))
        self.summary.images_restored += 1
        self.summary.faces_restored += result.num_faces
        log.info("%s: %d face(s) restored", path, result.num_faces)

    def restore_video(self, path: Path) -> None:
        """Restore a video frame by frame (faces of each frame in one batch; frames without faces are upscaled)
        into an H.264 MP4 with the source's sound (restore.video_writer); with `smooth_landmarks` > 0 each face's
        landmarks are averaged over the frames (restore.smoothing) before the alignment."""
        capture = cv2.VideoCapture(str(path))
        if not capture.isOpened():
            raise BadInputError(f"{path}: not a readable video")
        try:
            frames, faces, target = self._restore_frames(path, capture)
        finally:
            capture.release()
        if frames == 0:
            raise BadInputError(f"{path}: no frames could be decoded")
        self.summary.videos_restored += 1
        self.summary.frames_restored += frames
        self.summary.faces_restored += faces
        log.info("%s: %d frames, %d face(s) restored -> %s", path, frames, faces, target)

    def _restore_frames(self, path: Path, capture: cv2.VideoCapture) -> tuple[int, int, Path]:
        """Restore every frame of `capture` into restored_videos/<name>.mp4: (frames, faces, that file)."""
        fps = capture.get(cv2.CAP_PROP_FPS) or 25.0
        frame_size = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)), int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
        check_output_size(*frame_size, self.pipeline.upscale, str(path), self.max_output_megapixels)
        target = self.output / "restored_videos" / f"{self._name(path)}.mp4"
        if target.resolve() in self._inputs:
            raise BadInputError(f"{target}: refusing to overwrite an input file")
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(f"{target}: cannot write ({exc.strerror or exc})") from exc
        writer = RestoredVideoWriter(target, path, fps)
        smooth = self.smooth_landmarks > 0 and not self.pipeline.aligned  # an aligned input has no landmarks
        smoother = LandmarkSmoother(self.smooth_landmarks) if smooth else None
        frames = faces = 0
        total = int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) or None  # an estimate from the container (0: unknown)
        bar = progress_bar(desc=path.name, total=total, unit="frame", quiet=not self.progress, leave=False)
        try:
            while True:
                ok, frame = capture.read()
                if not ok:
                    break
                photo = photo_from_array(frame, f"{path}#frame{frames}")
                detections = smoother(self.pipeline.detect(photo)) if smoother is not None else None
                result = self.pipeline.enhance(photo, seed=self.seed, detections=detections, fidelity=self.fidelity)
                writer.write(result.restored)
                frames += 1
                faces += result.num_faces
                bar.update()
            writer.finish()
        except OSError as exc:
            writer.discard()
            raise OutputError(f"{target}: cannot write ({exc.strerror or exc})") from exc
        except BaseException:
            writer.discard()
            raise
        finally:
            bar.close()
        if writer.note:
            self.summary.note(writer.note)
        return frames, faces, target
