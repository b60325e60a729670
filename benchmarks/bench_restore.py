"""Faces per second of whole-photo restoration: FaceRevive's pipeline vs the official GFPGANer, side by side.

Both pipelines get the same photos, the same generator weights (the official architecture, random weights unless
--weights names a checkpoint that is on disk), the same detector (the no-download tiny RetinaFace, plugged into
facexlib's helper) and the same paste mask (--mask square, or parse with one shared ParseNet), and are timed end
to end (detection, alignment, restoration, paste-back), interleaved, best of --repeats after one warm-up each.

    python benchmarks/bench_restore.py                          # CPU, fp32, one face per forward
    python benchmarks/bench_restore.py --precision fp32 bf16 fp16  # a FaceRevive column per precision
    python benchmarks/bench_restore.py --device cuda --batch-size 8 --precision fp16
    python benchmarks/bench_restore.py --precision fp32 bf16 --compile  # + torch.compile'd fast-form columns

With --compile each precision gets a second column: the fast form (activation-form modulated convolution,
channels_last) under torch.compile, its compile time (first call; Inductor's cache under ~/.cache/facerevive/compile
or $FACEREVIVE_CACHE_DIR) printed, the warm-up absorbing it. The CPU's vector units are printed with the figures.

Each reduced precision's (and compiled column's) error against FaceRevive fp32 on the photos' faces (same faces
and noise) is printed first: max abs in uint8 levels and PSNR of the restored faces; --faces DIR adds the same
figures on a folder of aligned faces (restored as aligned=true does). The share of FaceRevive's time spent in the
network forward is printed last: it bounds what overlapping detection and paste-back with the network could save.

With --onnx the same network is exported (activation-form modulated conv, noise as inputs, dynamic batch) and
run through onnxruntime in the same pipeline as extra columns: fp32, and fp16 with --onnx-fp16 (on the CPU
onnxruntime runs the ops it has no fp16 kernel for in fp32 between casts). The fp16 export's error against the
fp32 PyTorch network on the same faces and noise is printed (max abs in uint8 levels and PSNR of the restored
faces).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import cv2
import matplotlib.cbook
import numpy as np
import skimage.data
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from helpers.reference import import_reference  # noqa: E402

from facerevive.data.sources import IMAGE_EXTENSIONS  # noqa: E402
from facerevive.restore import FaceRestorer, RestorePipeline, TinyRetinaFaceDetector, photo_from_array  # noqa: E402
from facerevive.restore.build import build_network  # noqa: E402
from facerevive.restore.fastpath import CompiledNetwork, cpu_description  # noqa: E402
from facerevive.restore.network import PRECISIONS  # noqa: E402
from facerevive.restore.pasteback import FaceParser  # noqa: E402
from facerevive.utils.device import resolve_device  # noqa: E402
from facerevive.weights import OFFICIAL_MODELS, official_name  # noqa: E402


def portraits() -> tuple[np.ndarray, np.ndarray]:
    astronaut = cv2.cvtColor(skimage.data.astronaut(), cv2.COLOR_RGB2BGR)
    hopper = cv2.imread(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))[44:556]
    return astronaut, hopper


def group_photo(rows: int = 2, cols: int = 3, tile: int = 560) -> np.ndarray:
    """A group photo of rows x cols public-domain portraits, as a family photo scan would be (1680x1120)."""
    astronaut, hopper = portraits()
    tiles = [cv2.resize(img, (tile, tile), interpolation=cv2.INTER_AREA) for img in (astronaut, hopper)]
    grid = [[tiles[(r + c) % 2] for c in range(cols)] for r in range(rows)]
    return np.concatenate([np.concatenate(row, axis=1) for row in grid], axis=0)


class SharedDetector:
    """The tiny RetinaFace detector with facexlib's `detect_faces` interface, for the official helper."""

    def __init__(self, detector: TinyRetinaFaceDetector) -> None:
        self.detector = detector

    def detect_faces(self, image: np.ndarray, *_threshold: float) -> np.ndarray:
        """The shared detections; facexlib's threshold argument is not used (both pipelines see the same faces)."""
        return self.detector.detect(image)


def official_restorer(weights: Path, arch: str, channel_multiplier: int, device, detector, parser):
    utils = import_reference("gfpgan.utils")
    helper = import_reference("facexlib.utils.face_restoration_helper")
    helper.init_detection_model = lambda *a, **k: SharedDetector(detector)
    helper.init_parsing_model = lambda *a, **k: parser
    return utils.GFPGANer(
        str(weights), upscale=2, arch=arch, channel_multiplier=channel_multiplier, bg_upsampler=None, device=device
    )


def _sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def timed_sides(fns, repeats: int) -> list[list[float]]:
    """Best-of-`repeats` [wall s, process CPU s] of each function, runs interleaved (official, ours, ...) after
    one warm-up each, so that a busy machine slows every side alike and a load spike does not decide a ratio.
    CPU time (all threads of this process) is the steadier figure on a shared CPU; wall time is the one on a GPU."""
    for fn in fns:
        fn()
    best = [[float("inf")] * 2 for _ in fns]
    for _ in range(repeats):
        for side, fn in enumerate(fns):
            _sync()
            wall, cpu = time.perf_counter(), time.process_time()
            fn()
            _sync()
            best[side][0] = min(best[side][0], time.perf_counter() - wall)
            best[side][1] = min(best[side][1], time.process_time() - cpu)
    return best


def export_for_bench(weights: str, folder: Path, dtype: str):
    """The bench network exported to ONNX (activation form, noise inputs, dynamic batch)."""
    from facerevive.export import export_model

    return export_model(model=weights, out=folder / f"bench_{dtype}.onnx", dtype=dtype)


def restore_each(restorer: FaceRestorer, faces: list[np.ndarray]) -> list[torch.Tensor]:
    """The faces restored one by one (seed = the face's index), as float tensors."""
    return [restorer.restore_tensor(torch.from_numpy(face[None]), seed=i).float() for i, face in enumerate(faces)]


def restored_error(reference: list[torch.Tensor], other: FaceRestorer, faces: list[np.ndarray]) -> tuple[float, float]:
    """(max abs error in uint8 levels, PSNR dB) of the faces restored by `other` against the `reference`
    restorations of the same faces with the same noise."""
    restored = restore_each(other, faces)
    worst = max(float((a - b).abs().max()) for a, b in zip(reference, restored))
    mse = max(float(np.mean([float(((a - b) ** 2).mean()) for a, b in zip(reference, restored)])), 1e-12)
    return worst, 10 * np.log10(255.0**2 / mse)


def aligned_faces(folder: Path, size: int) -> list[np.ndarray]:
    """The images of `folder` as aligned faces of the network's size (resized as aligned=true does)."""
    faces = [cv2.imread(str(path)) for path in sorted(folder.iterdir()) if path.suffix.lower() in IMAGE_EXTENSIONS]
    return [face if face.shape[:2] == (size, size) else cv2.resize(face, (size, size)) for face in faces]


class ForwardClock:
    """Wall seconds a FaceRestorer spends in `restore_tensor` (the network and its conversions), summed."""

    def __init__(self, restorer: FaceRestorer) -> None:
        self.seconds = 0.0
        self.inner = restorer.restore_tensor
        restorer.restore_tensor = self  # type: ignore[method-assign]

    def __call__(self, faces: torch.Tensor, seed: int = 0) -> torch.Tensor:
        _sync()
        start = time.perf_counter()
        out = self.inner(faces, seed)
        _sync()
        self.seconds += time.perf_counter() - start
        return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--weights", "--model", dest="weights", default="random:gfpgan_v1.4", help="official name or random:<name>"
    )
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch-size", type=int, default=1, help="faces per forward for FaceRevive")
    parser.add_argument(
        "--precision", nargs="+", choices=PRECISIONS, default=["fp32"], help="FaceRevive columns, one per precision"
    )
    parser.add_argument("--compile", action="store_true", help="add a torch.compile'd column per precision")
    parser.add_argument("--faces", type=Path, help="also the precision errors on this folder of aligned faces")
    parser.add_argument("--mask", choices=("square", "parse"), default="square")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--photos", type=int, default=3, help="the first N of the 3 photos (1: one portrait)")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch default)")
    parser.add_argument("--onnx", action="store_true", help="add onnxruntime columns (the same network exported)")
    parser.add_argument("--onnx-fp16", action="store_true", help="with --onnx: an fp16 export too")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)

    name = official_name(args.weights.removeprefix("random:"))
    if name is None:
        raise SystemExit(f"--weights must be an official name or random:<official name>, got {args.weights}")
    config = OFFICIAL_MODELS[name].net_g_config
    arch = "original" if config["_target_"].endswith("GFPGANv1") else "clean"
    net = build_network(args.weights, device)
    weights = Path(tempfile.mkdtemp()) / "bench_weights.pth"
    torch.save({"params_ema": net.state_dict()}, weights)

    detector = TinyRetinaFaceDetector()
    parse_net = None
    if args.mask == "parse":
        from facexlib.parsing.parsenet import ParseNet

        parse_net = ParseNet(in_size=512, out_size=512, parsing_ch=19).eval().to(device)
    official = official_restorer(weights, arch, config["channel_multiplier"], device, detector, parse_net)
    official.face_helper.use_parse = args.mask == "parse"
    face_parser = FaceParser(device, model=parse_net) if parse_net is not None else None
    forms = [(precision, False) for precision in args.precision]
    forms += [(precision, True) for precision in args.precision if args.compile]
    try:
        ours = {
            f"{precision} compiled" if compiled else precision: RestorePipeline(
                FaceRestorer(net, device, batch_size=args.batch_size, precision=precision, compile=compiled),
                detector,
                upscale=2,
                parser=face_parser,
            )
            for precision, compiled in forms
        }
    except ValueError as exc:
        raise SystemExit(f"--{exc}") from None
    exact = FaceRestorer(net, device, batch_size=args.batch_size)
    astronaut, hopper = portraits()
    photos = {"portrait 512x512": astronaut, "portrait 512x512 (2)": hopper, "group 1680x1120": group_photo()}
    photos = dict(list(photos.items())[: args.photos])
    first = next(iter(ours.values()))
    photo_faces = [f for image in photos.values() for f in first.enhance(photo_from_array(image)).cropped_faces]
    face_sets = {f"the photos' {len(photo_faces)} faces": photo_faces}
    if args.faces is not None:
        folder_faces = aligned_faces(args.faces, exact.face_size)
        face_sets[f"{len(folder_faces)} aligned faces of {args.faces}"] = folder_faces
    reduced = [precision for precision in ours if precision != "fp32"]
    compared = reduced or (args.onnx and args.onnx_fp16)
    references = {label: restore_each(exact, faces) for label, faces in face_sets.items() if compared}
    for precision in reduced:
        for label, faces in face_sets.items():
            error, psnr = restored_error(references[label], ours[precision].restorer, faces)
            print(f"{precision} vs fp32 on {label}: max abs {error:.0f}/255, PSNR {psnr:.1f} dB", flush=True)

    sides: dict[str, RestorePipeline | None] = {"official": None}
    sides.update({f"PyTorch {precision}": pipeline for precision, pipeline in ours.items()})
    if args.onnx:
        from facerevive.export import OnnxGenerator

        folder = Path(tempfile.mkdtemp())
        for dtype in ("fp32", "fp16") if args.onnx_fp16 else ("fp32",):
            runner = OnnxGenerator(export_for_bench(args.weights, folder, dtype).path, device)
            restorer = FaceRestorer(runner, device)
            sides[f"ONNX {dtype}"] = RestorePipeline(restorer, detector, upscale=2, parser=face_parser)
            if dtype == "fp16":
                for label, faces in face_sets.items():
                    error, psnr = restored_error(references[label], restorer, faces)
                    print(f"ONNX fp16 vs PyTorch fp32 on {label}: max abs {error:.0f}/255, PSNR {psnr:.1f} dB")

    for label, pipeline in ours.items():
        compiled = pipeline.restorer._forward
        if isinstance(compiled, CompiledNetwork):
            print(f"{label}: first call (compile) {sum(compiled.compile_seconds.values()):.1f} s", flush=True)
    print(f"CPU: {cpu_description()}")
    print(f"weights {args.weights} ({arch}), device {device}, threads {torch.get_num_threads()}, mask {args.mask}")
    print(f"FaceRevive: batch {args.batch_size}; official GFPGANer: fp32, 1 face")
    names = list(sides)
    header = f"{'photo':<22}{'faces':>6}" + "".join(f"{name + ' f/s':>18}" for name in names)
    header += "".join(f"{name + ' x':>15}" for name in names[1:]) + "".join(f"{'CPU x':>8}" for _ in names[1:])
    print(header, flush=True)
    totals = np.zeros((len(names), 2))
    total_faces = 0
    for label, image in photos.items():
        faces = len(first.detect(photo_from_array(image)))
        fns = [lambda image=image: official.enhance(image.copy(), paste_back=True)]
        fns += [lambda image=image, p=p: p.enhance(photo_from_array(image.copy())) for p in list(sides.values())[1:]]
        times = np.array(timed_sides(fns, args.repeats))
        totals += times
        total_faces += faces
        print(_row(label, faces, times), flush=True)
    print(_row("all", total_faces, totals))
    print("x: official time / that side's time (> 1: faster than the official code); CPU x: the same in CPU time")
    clock = ForwardClock(first.restorer)
    start = time.perf_counter()
    for image in photos.values():
        first.enhance(photo_from_array(image.copy()))
    share = clock.seconds / (time.perf_counter() - start)
    print(f"PyTorch {args.precision[0]}: {100 * share:.1f}% of the pipeline time is the network (restore_tensor)")


def _row(label: str, faces: int, times: np.ndarray) -> str:
    """One table row: faces/s of every side, then each FaceRevive side's wall-time and CPU-time speed-up against
    the official side."""
    row = f"{label:<22}{faces:>6}" + "".join(f"{faces / wall:>18.3f}" for wall, _ in times)
    row += "".join(f"{times[0, 0] / wall:>14.2f}x" for wall, _ in times[1:])
    return row + "".join(f"{times[0, 1] / cpu:>7.2f}x" for _, cpu in times[1:])


if __name__ == "__main__":
    main()
