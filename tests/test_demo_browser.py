"""The web demo in a real browser: `python -m facerevive.demo` (= facerevive-demo) on a free localhost port with a
tiny random-weights model, driven through Debian's chromium by playwright.

The browser comes from Debian (`apt-get install chromium chromium-driver`; .ci/run installs it), never from
playwright's own download; without it this test fails and says so, it does not skip.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
from playwright.sync_api import Browser, Page, sync_playwright

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# The 64 px narrow generator of tests/test_docs_commands.py's TINY_RESTORE, randomly initialised.
TINY_DEMO = [
    "restore.weights=random:gfpgan_v1.4",
    "restore.weights_overrides={out_size:64,num_style_feat:64,channel_multiplier:1,narrow:0.5}",
    "restore.device=cpu",
]
PHOTOS = [ROOT / "data" / "samples" / "astronaut.png", ROOT / "data" / "samples" / "grace_hopper.png"]
RUN_TIMEOUT_MS = 90_000


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_until_served(url: str, process: subprocess.Popen, log: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"facerevive-demo exited {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.5)
    pytest.fail(f"facerevive-demo did not serve {url} within {timeout:.0f} s:\n{log.read_text()[-3000:]}")


@pytest.fixture(scope="module")
def demo_url(tmp_path_factory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("demo")
    port = free_port()
    log = folder / "demo.log"
    env = {
        **os.environ,
        "GRADIO_ANALYTICS_ENABLED": "False",
        "FACEREVIVE_WEIGHTS_DIR": str(folder / "no_weights"),
        "OMP_NUM_THREADS": "1",  # the tiny network runs fastest on one thread when the CPUs are shared
    }
    command = [sys.executable, "-m", "facerevive.demo", f"server_port={port}", f"work_dir={folder / 'work'}"]
    with log.open("w") as out:
        process = subprocess.Popen([*command, *TINY_DEMO], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    try:
        wait_until_served(url, process, log)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.is_file():
        pytest.fail(
            f"{CHROMIUM} is missing: the demo's browser test needs Debian's chromium "
            "(apt-get install -y chromium chromium-driver; .ci/run installs it)"
        )
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


def upload(page: Page, files: list[Path]) -> None:
    """Replace the page's uploads with `files` and wait until every one is listed."""
    clear = page.locator("#photos button[aria-label='Clear']")
    if clear.count():
        clear.click()
    page.locator("#photos input[type=file]").set_input_files([str(f) for f in files])
    page.wait_for_function(f"document.querySelectorAll('#photos tr').length === {len(files)}")


def restore(page: Page, expect: str) -> None:
    """Press Restore and wait until the report shows `expect`."""
    page.click("#restore")
    page.locator("#report").get_by_text(expect).first.wait_for(timeout=RUN_TIMEOUT_MS)


def slider_images(page: Page) -> list[np.ndarray]:
    """The before and after images that the slider shows, as the browser fetched them (BGR)."""
    sources = [img.get_attribute("src") for img in page.locator("#before-after img").all()]
    assert len(sources) == 2, f"the before/after slider shows {sources}"
    images = []
    for source in sources:
        body = page.request.get(source).body()
        images.append(cv2.imdecode(np.frombuffer(body, np.uint8), cv2.IMREAD_COLOR))
    return images


@pytest.mark.slow
def test_upload_restore_fidelity_and_error_in_browser(demo_url, browser, tmp_path):
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"these bytes are not an image")
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(demo_url)
    page.wait_for_selector("#restore")
    intro = page.locator("#intro").inner_text()
    assert "up to 8 photos" in intro and "100 MP" in intro and "25 MP" in intro and "32 px" in intro, intro

    # Two photos and a broken file: the photos are restored, the broken file is listed with its reason.
    upload(page, [*PHOTOS, broken])
    restore(page, "restored 2 image(s) with 2 face(s)")
    report = page.locator("#report").inner_text()
    assert "broken.png: not an image" in report and "RANDOM WEIGHTS" in report, report
    before, after = slider_images(page)
    assert before.shape == after.shape == (1024, 1024, 3), "upscale 2 of the 512 px photo"
    banner = after[-20:, -200:].reshape(-1, 3).mean(axis=0)
    assert banner[2] > 150 and banner[0] < 90, f"the restored image is not marked RANDOM WEIGHTS ({banner})"
    assert page.locator("#faces img").count() == 2
    assert "facerevive_results_RANDOM_WEIGHTS.zip" in page.locator("#download").inner_text().replace("\n", "")
    # The slider shows the first photo; a click on the second one of the gallery shows that one.
    assert "astronaut_after" in (page.locator("#before-after img").nth(1).get_attribute("src") or "")
    page.click("#restored button[aria-label='Thumbnail 2 of 2']")
    page.wait_for_function(
        "() => [...document.querySelectorAll('#before-after img')].map(i => i.getAttribute('src')).join()"
        ".includes('grace_hopper_after')"
    )

    # The fidelity slider moved with the keyboard (1 -> 0.5), then a new result.
    slider = page.locator("#fidelity input[type=range]")
    slider.focus()
    for _ in range(10):
        slider.press("ArrowLeft")
    assert page.locator("#fidelity input[type=number]").input_value() == "0.5"
    old_source = page.locator("#before-after img").nth(1).get_attribute("src")
    page.click("#restore")
    page.wait_for_function(
        "old => { const images = [...document.querySelectorAll('#before-after img')];"
        " return images.length === 2 && images.every(i => i.getAttribute('src') !== old); }",
        arg=old_source,
        timeout=RUN_TIMEOUT_MS,
    )
    page.locator("#report").get_by_text("restored 2 image(s)").first.wait_for(timeout=RUN_TIMEOUT_MS)
    before_half, after_half = slider_images(page)
    face = (slice(200, 800), slice(200, 800))
    change = np.abs(after_half[face].astype(int) - after[face].astype(int)).mean()
    assert change > 1, f"fidelity 0.5 gave the same face as fidelity 1 (mean change {change:.2f})"
    assert np.array_equal(before_half, before), "the slider compares the same first photo again"

    # Only a broken file: an error message in the page, and no stale result left on it.
    upload(page, [broken])
    page.click("#restore")
    page.locator("#report").get_by_text("No result").wait_for(timeout=RUN_TIMEOUT_MS)
    error = page.locator(".toast-body.error [data-testid='toast-text']")
    assert "broken.png: not an image" in error.inner_text(), error.inner_text()
    assert page.locator("#before-after img").count() == 0
    page.close()
