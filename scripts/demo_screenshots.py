"""Screenshots of the web demo for docs/demo/: the page after a restoration, and an error.

Starts `python -m facerevive.demo` on a free port (random weights unless --weights names a model you have), uploads
scikit-image's public-domain astronaut photo, and photographs the page in Debian's chromium through playwright:

    python scripts/demo_screenshots.py [--out docs/demo] [--weights gfpgan_v1.4]
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import cv2
import skimage.data
from playwright.sync_api import Page, sync_playwright

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking"]
TINY = "restore.weights_overrides={out_size:64,num_style_feat:64,channel_multiplier:1,narrow:0.5}"


def serve(weights: str, folder: Path) -> tuple[subprocess.Popen, str]:
    """The demo on a free port, and its address once it answers."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = [f"server_port={port}", f"restore.weights={weights}", f"work_dir={folder / 'work'}"]
    if weights.startswith("random:"):
        settings.append(TINY)
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen([sys.executable, "-m", "facerevive.demo", *settings], cwd=ROOT, env=env)
    url = f"http://127.0.0.1:{port}/"
    for _ in range(240):
        if process.poll() is not None:
            raise SystemExit(f"the demo exited with status {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return process, url
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.5)
    process.terminate()
    raise SystemExit(f"the demo did not answer on {url}")


def restore(page: Page, files: list[Path], expect: str) -> None:
    clear = page.locator("#photos button[aria-label='Clear']")
    if clear.count():
        clear.click()
    page.locator("#photos input[type=file]").set_input_files([str(f) for f in files])
    page.wait_for_function(f"document.querySelectorAll('#photos tr').length === {len(files)}")
    page.click("#restore")
    page.locator("#report").get_by_text(expect).first.wait_for(timeout=300_000)
    time.sleep(1)  # the images finish loading


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "demo")
    parser.add_argument("--weights", default="random:gfpgan_v1.4")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        photo = folder / "astronaut.png"
        cv2.imwrite(str(photo), cv2.cvtColor(skimage.data.astronaut(), cv2.COLOR_RGB2BGR))
        broken = folder / "scan_042.jpg"
        broken.write_bytes(b"a download that stopped half way")
        process, url = serve(args.weights, folder)
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                page = browser.new_page(viewport={"width": 1280, "height": 1200})
                page.goto(url)
                page.wait_for_selector("#restore")
                restore(page, [photo], "restored 1 image(s)")
                page.screenshot(path=str(args.out / "demo_restored.png"), full_page=True)
                restore(page, [broken], "No result")
                page.screenshot(path=str(args.out / "demo_error.png"))
                browser.close()
        finally:
            process.terminate()
            process.wait(timeout=30)
    print(f"screenshots in {args.out}")


if __name__ == "__main__":
    main()
