"""Metric throughput: `python evaluate.py`'s scoring loop vs the reference scripts, on the same images and weights.

    python benchmarks/bench_eval.py [--images 24] [--size 512] [--device cuda] [--batch 8] [--threads 1]
                                    [--override metrics.lpips.bf16=true]

The full metric set of the GFPGAN-lineage protocol on one restored folder against its GT folder: PSNR and SSIM
(with VQFR's mean/variance correction), LPIPS-VGG, FID against the GT folder, NIQE, identity (Deg./IDD/IDS)
and LMD. FaceRevive runs it as the evaluate command does (one decode per image, batches on the device, one
Inception pass, eigen-solver Fréchet distance). The reference is the scripts' way, run one after another: VQFR's
calculate_psnr_ssim (BasicSR metrics), lpips.LPIPS per pair, pytorch-fid on both folders (scipy sqrtm), BasicSR's
NIQE per image, the official ArcFace per pair (RestoreFormer++ script), facexlib's get_landmarks per image.
Images are synthesised; every network gets the same random weights on both sides (the real files cannot be
downloaded here), which does not change the amount of work. Prints images/s and the ratio, plus both mean
values per metric as a sanity check.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from helpers.reference import import_reference

from facerevive.archs import ResNetArcFace
from facerevive.metrics.fid import random_inception_trunk


def synthesise(folder: Path, count: int, size: int, seed: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    paths = []
    for i in range(count):
        a, b, c = rng.uniform(2, 9, 3)
        img = np.stack([np.sin(a * xx + b * yy), np.cos(b * xx - c * yy), np.sin(c * (xx + yy) + a)], -1) * 90 + 128
        img = (img + rng.normal(0, 10, img.shape)).clip(0, 255).astype(np.uint8)
        paths.append(folder / f"{i:04d}.png")
        cv2.imwrite(str(paths[-1]), img)
    return paths


def _random_inception_state() -> dict:
    """Random Inception weights that keep the signal alive through the 94 layers (He-initialised convolutions,
    unit batch norms), so pool3 features differ between images and FID is not trivially 0."""
    return random_inception_trunk(seed=0).state_dict()


def write_random_weights(folder: Path) -> dict:
    """Random weights under the official file names; returns the state dicts for the reference side."""
    import torchvision
    from facexlib.alignment import FAN

    folder.mkdir(parents=True, exist_ok=True)
    states = {
        "arcface": ResNetArcFace("IRBlock", (2, 2, 2, 2), use_se=False).state_dict(),
        "inception": _random_inception_state(),
        "vgg16": torchvision.models.vgg16(weights=None).state_dict(),
        "awing": FAN(num_modules=4, num_landmarks=98, device="cpu").state_dict(),
    }
    torch.save(states["arcface"], folder / "arcface_resnet18.pth")
    torch.save(states["inception"], folder / "pt_inception-2015-12-05-6726825d.pth")
    torch.save(states["vgg16"], folder / "vgg16-397923af.pth")
    torch.save({"state_dict": states["awing"]}, folder / "alignment_WFLW_4HG.pth")
    return states


@contextlib.contextmanager
def timed_scorers(device: str) -> Iterator[dict[str, float]]:
    """Seconds spent in each scorer class (setup, update and result), accumulated while the block runs."""
    from facerevive.metrics import scorers

    seconds: dict[str, float] = defaultdict(float)
    originals = []
    for cls in (scorers.PSNRSSIM, scorers.LPIPSScorer, scorers.FIDScorer, scorers.NIQEScorer,
                scorers.IdentityScorer, scorers.LandmarkScorer):  # fmt: skip
        for name in ("setup", "update", "result"):
            original = cls.__dict__.get(name) or getattr(cls, name)
            originals.append((cls, name, cls.__dict__.get(name)))

            def wrapper(self, *args, _original=original, _cls=cls, **kwargs):
                start = time.perf_counter()
                try:
                    return _original(self, *args, **kwargs)
                finally:
                    if device.startswith("cuda"):
                        torch.cuda.synchronize()
                    seconds[_cls.__name__] += time.perf_counter() - start

            setattr(cls, name, wrapper)
    try:
        yield seconds
    finally:
        for cls, name, original in originals:
            if original is None:
                delattr(cls, name)
            else:
                setattr(cls, name, original)


# Our scorer classes under the names of the reference's parts.
_OUR_PARTS = {
    "PSNRSSIM": "psnr+ssim",
    "LPIPSScorer": "lpips",
    "FIDScorer": "fid",
    "NIQEScorer": "niqe",
    "IdentityScorer": "identity",
    "LandmarkScorer": "lmd",
}


def run_ours(work: Path, device: str, batch: int, workers: int, extra: list[str]) -> tuple[float, dict, dict]:
    from hydra import compose, initialize_config_dir

    from facerevive.cli.evaluate import run
    from facerevive.paths import CONFIG_DIR

    overrides = [
        f"paths.root_dir={work}",
        f"paths.output_dir={work / 'run'}",
        f"paths.pretrained_dir={work / 'weights'}",
        f"device={device}",
        f"batch_size={batch}",
        f"num_workers={workers}",
        "gallery_size=0",
        "save_restored=false",
        "dataset=celeba_test",
        f"dataset.images.lq_root={work / 'restored'}",
        f"dataset.images.gt_root={work / 'gt'}",
        f"methods=[folder:{work / 'restored'}]",
        "metrics.fid=null",
        "metrics.psnr_ssim_y=null",
        "metrics.psnr_ssim_raw=null",
        "metrics.lpips_alex=null",
        f"metrics.fid_gt.cache_dir={work / 'fid_cache'}",
        *extra,
    ]
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = compose("evaluate.yaml", overrides=overrides)
    with timed_scorers(device) as parts:
        start = time.perf_counter()
        report, _ = run(cfg)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        elapsed = time.perf_counter() - start
    assert not report.not_computed, report.not_computed
    summary = dict(report.methods[0].summary)
    summary["lmd_per_image"] = {name: values["lmd"] for name, values in report.methods[0].per_image.items()}
    parts = {_OUR_PARTS[name]: seconds for name, seconds in parts.items()}
    parts["rest"] = elapsed - sum(parts.values())
    return elapsed, summary, parts


def _read_rgb01(path: Path) -> np.ndarray:
    return cv2.imread(str(path))[..., ::-1].astype(np.float32) / 255.0


def _sqrtm_with_disp(fid_score) -> None:
    """pytorch-fid 0.3.0 calls scipy's sqrtm(..., disp=False), an argument newer scipy removed: accept it."""
    import inspect

    from scipy import linalg

    if "disp" in inspect.signature(linalg.sqrtm).parameters:
        return

    class _Linalg:
        def __getattr__(self, name):
            return getattr(linalg, name)

        @staticmethod
        def sqrtm(a, disp=True):
            root = linalg.sqrtm(a)
            return (root, None) if not disp else root

    fid_score.linalg = _Linalg()


def run_reference(restored: list[Path], gt: list[Path], states: dict, device: str) -> tuple[float, dict, dict]:
    """The reference scripts one after another; returns total seconds, means and seconds per metric."""
    import lpips
    import torch.nn.functional as F
    from pytorch_fid import fid_score
    from pytorch_fid import inception as pf

    psnr_ssim = import_reference("basicsr.metrics.psnr_ssim")
    niqe = import_reference("basicsr.metrics.niqe")
    awing = import_reference("facexlib.alignment.awing_arch")
    arcface_cls = import_reference("gfpgan.archs.arcface_arch").ResNetArcFace
    dev = torch.device(device)
    seconds, means = {}, {}

    start = time.perf_counter()  # VQFR metric_paper/calculate_psnr_ssim.py (correct_mean_var on)
    values_p, values_s = [], []
    for r_path, g_path in zip(restored, gt):
        g = cv2.imread(str(g_path)).astype(np.float32) / 255.0
        r = cv2.imread(str(r_path)).astype(np.float32) / 255.0
        for j in range(3):
            for _ in range(2):
                r[:, :, j] = r[:, :, j] - np.mean(r[:, :, j]) + np.mean(g[:, :, j])
                r[:, :, j] = r[:, :, j] / np.std(r[:, :, j]) * np.std(g[:, :, j])
        values_p.append(psnr_ssim.calculate_psnr(g * 255, r * 255, crop_border=0, input_order="HWC"))
        values_s.append(psnr_ssim.calculate_ssim(g * 255, r * 255, crop_border=0, input_order="HWC"))
    seconds["psnr+ssim"] = time.perf_counter() - start
    means["psnr"], means["ssim"] = np.mean(values_p), np.mean(values_s)

    start = time.perf_counter()  # lpips.LPIPS per pair, [-1, 1] inputs
    model = lpips.LPIPS(net="vgg", pnet_rand=True, verbose=False)
    features = {k[len("features.") :]: v for k, v in states["vgg16"].items() if k.startswith("features.")}
    for slice_ in (model.net.slice1, model.net.slice2, model.net.slice3, model.net.slice4, model.net.slice5):
        for name, module in slice_.named_children():
            module.load_state_dict({k.split(".", 1)[1]: v for k, v in features.items() if k.split(".")[0] == name})
    model = model.to(dev).eval()
    values = []
    with torch.no_grad():
        for r_path, g_path in zip(restored, gt):
            r = torch.from_numpy(_read_rgb01(r_path)).permute(2, 0, 1)[None].to(dev) * 2 - 1
            g = torch.from_numpy(_read_rgb01(g_path)).permute(2, 0, 1)[None].to(dev) * 2 - 1
            values.append(model(r, g).item())
    seconds["lpips"], means["lpips"] = time.perf_counter() - start, np.mean(values)

    start = time.perf_counter()  # pytorch-fid on both folders, scipy sqrtm
    original = pf.load_state_dict_from_url
    pf.load_state_dict_from_url = lambda *a, **k: states["inception"]
    try:
        net = pf.InceptionV3([3]).to(dev).eval()
    finally:
        pf.load_state_dict_from_url = original
    _sqrtm_with_disp(fid_score)
    batch = min(50, len(restored))
    m1, s1 = fid_score.calculate_activation_statistics([str(p) for p in restored], net, batch, 2048, dev, 0)
    m2, s2 = fid_score.calculate_activation_statistics([str(p) for p in gt], net, batch, 2048, dev, 0)
    means["fid_gt"] = fid_score.calculate_frechet_distance(m1, s1, m2, s2)
    seconds["fid"] = time.perf_counter() - start

    start = time.perf_counter()  # BasicSR NIQE per image
    means["niqe"] = np.mean([niqe.calculate_niqe(cv2.imread(str(p)), crop_border=0) for p in restored])
    seconds["niqe"] = time.perf_counter() - start

    start = time.perf_counter()  # identity, per pair (RestoreFormer++ / GFPGAN gray resize, official ArcFace)
    arcface = arcface_cls("IRBlock", [2, 2, 2, 2], use_se=False)
    arcface.load_state_dict(states["arcface"])
    arcface = arcface.to(dev).eval()
    degs, coss = [], []
    with torch.no_grad():
        for r_path, g_path in zip(restored, gt):
            embeddings = []
            for path in (r_path, g_path):
                x = torch.from_numpy(_read_rgb01(path)).permute(2, 0, 1)[None].to(dev) * 2 - 1
                gray = (0.2989 * x[:, 0] + 0.5870 * x[:, 1] + 0.1140 * x[:, 2])[:, None]
                gray = F.interpolate(gray, (128, 128), mode="bilinear", align_corners=False)
                embeddings.append(arcface(gray)[0].cpu().numpy())
            cos = np.dot(*embeddings) / (np.linalg.norm(embeddings[0]) * np.linalg.norm(embeddings[1]))
            coss.append(cos)
            degs.append(math.degrees(math.acos(min(1.0, max(-1.0, cos)))))
    kept = [d for d in degs if d >= 1]
    means["deg"], means["ids"] = (np.mean(kept) if kept else math.nan), np.mean(coss)
    seconds["identity"] = time.perf_counter() - start

    start = time.perf_counter()  # facexlib get_landmarks per image (VQFR calculate_landmark_distance.py)
    fan = awing.FAN(num_modules=4, num_landmarks=98, device=device)
    fan.load_state_dict(states["awing"])
    fan = fan.to(dev).eval()
    values, failed = [], []
    with torch.no_grad():
        for r_path, g_path in zip(restored, gt):
            points = []
            for path in (r_path, g_path):  # both faces go through the network, as the script does
                try:
                    points.append(fan.get_landmarks(cv2.imread(str(path))))
                except IndexError:  # facexlib reads heatmap[argmax + 1]: out of range when the peak is last
                    points.append(None)
            p, q = points
            if p is None or q is None:
                failed.append(r_path.stem)
                continue
            values.append(np.sqrt(((q - p) ** 2).sum(1)).mean())
    seconds["lmd"], means["lmd"] = time.perf_counter() - start, np.mean(values) if values else math.nan
    means["lmd_failed"] = failed
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return sum(seconds.values()), means, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=24)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--threads", type=int, default=None, help="torch intra-op threads for both sides (default: torch's)"
    )
    parser.add_argument(
        "--override", action="append", default=[], help="an evaluate.yaml override for FaceRevive's side only, "
        "e.g. metrics.lpips.bf16=true (an opt-in switch: compare the mean values printed)",
    )  # fmt: skip
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        os.environ["TORCH_HOME"] = str(work / "torch_home")
        states = write_random_weights(work / "weights")
        gt = synthesise(work / "gt", args.images, args.size, seed=0)
        restored = synthesise(work / "restored", args.images, args.size, seed=1)
        # Warm-up on the device (CUDA context, cuDNN autotuning) before either side is timed.
        torch.zeros(1, device=args.device) + 1
        ours_s, ours_means, our_parts = run_ours(work, args.device, args.batch, args.workers, args.override)
        ref_s, ref_means, ref_parts = run_reference(restored, gt, states, args.device)
    n = args.images
    threads = torch.get_num_threads()
    print(f"{n} images of {args.size}x{args.size} on {args.device}, batch {args.batch}, {threads} torch threads")
    print(f"  FaceRevive evaluate : {ours_s:8.2f} s  {n / ours_s:8.2f} images/s")
    print(f"  reference scripts   : {ref_s:8.2f} s  {n / ref_s:8.2f} images/s")
    print("  per metric (FaceRevive s / reference s = speed-up):")
    for key, ref in ref_parts.items():
        ours = our_parts.get(key, math.nan)
        print(f"    {key:10s} {ours:8.2f} / {ref:8.2f} = {ref / ours:6.2f}x")
    print(f"    {'rest':10s} {our_parts['rest']:8.2f}   (FaceRevive: decoding, batching, report)")
    print(f"  speed-up            : {ref_s / ours_s:8.2f}x")
    failed = ref_means.pop("lmd_failed")
    if failed:
        # facexlib cannot score these pairs (random weights put a peak on the last heatmap pixel): the LMD means
        # are compared over the pairs both sides scored.
        kept = [v for name, v in ours_means.pop("lmd_per_image").items() if name not in failed]
        ours_means["lmd"] = float(np.mean(kept)) if kept else math.nan
        print(f"  note: facexlib get_landmarks raised IndexError on {len(failed)} pair(s); LMD over the others")
    print("  mean values (FaceRevive / reference):")
    for key, ref in ref_means.items():
        print(f"    {key:7s} {ours_means.get(key, math.nan):12.6f} / {ref:12.6f}")


if __name__ == "__main__":
    main()
