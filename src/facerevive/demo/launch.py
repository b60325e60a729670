"""`facerevive-demo [key=value ...]` / `make demo`: serve the web demo at http://<server_name>:<server_port>.

Settings are configs/demo.yaml (`--help` prints it); a setting that cannot work is one line and exit status 2,
before anything is built or served. Results are written to `work_dir`, or to a temporary folder removed at exit.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import FrameType
from typing import NoReturn

from facerevive.demo.session import DemoRestorer
from facerevive.demo.settings import DemoSettings, SettingsError, load_settings, settings_help
from facerevive.restore.build import is_random_model
from facerevive.utils.cpu_threads import thread_setting, use_cpu_threads
from facerevive.utils.device import resolve_device
from facerevive.weights import set_pretrained_dir
from facerevive.weights.hint import weights_command
from facerevive.weights.registry import OFFICIAL_MODELS, weight_path

log = logging.getLogger("demo")


@contextlib.contextmanager
def work_folder(settings: DemoSettings) -> Iterator[Path]:
    """`settings.work_dir` (created), or a temporary folder that is removed when the demo stops."""
    if settings.work_dir is not None:
        settings.work_dir.mkdir(parents=True, exist_ok=True)
        yield settings.work_dir
        return
    with tempfile.TemporaryDirectory(prefix="facerevive-demo-") as folder:
        yield Path(folder)


def _stop(signum: int, frame: FrameType | None) -> None:
    """SIGTERM stops the demo as Ctrl-C does: the server closes and the temporary result folder is removed."""
    raise KeyboardInterrupt


def _usage_error(reason: str) -> NoReturn:
    print(f"demo: {reason} (facerevive-demo --help lists the settings)", file=sys.stderr)
    raise SystemExit(2)


def check_default_model(settings: DemoSettings) -> None:
    """Say at start-up what the page's default model is when it is not a downloaded release."""
    weights = str(settings.option("weights"))
    if is_random_model(weights):
        log.warning("model %s is RANDOMLY INITIALISED: every output is labelled RANDOM WEIGHTS", weights)
    elif weights in OFFICIAL_MODELS and not weight_path(OFFICIAL_MODELS[weights].weights).is_file():
        log.warning(
            "%s is missing (%s downloads it); the page will say so, and restore.weights=random:%s runs "
            "the demo with random weights",
            weight_path(OFFICIAL_MODELS[weights].weights),
            weights_command(weights),
            weights,
        )


def main(argv: Sequence[str] | None = None) -> None:
    """Check the settings, build the page and serve it until interrupted."""
    args = list(sys.argv[1:] if argv is None else argv)
    if "-h" in args or "--help" in args:
        print(settings_help())
        raise SystemExit(0)
    try:
        settings = load_settings(args)
        resolve_device(settings.option("device"))
        thread_setting(settings.option("threads"))
    except (SettingsError, RuntimeError, ValueError) as exc:
        _usage_error(str(exc))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # Gradio's own start-up requests, one line each
    set_pretrained_dir(settings.pretrained_dir)
    use_cpu_threads(settings.option("threads"))
    check_default_model(settings)
    # Offline: no telemetry and no version check (set before Gradio is imported).
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    from facerevive.demo.app import build_app

    signal.signal(signal.SIGTERM, _stop)
    with work_folder(settings) as work_dir:
        app = build_app(settings, DemoRestorer(settings, work_dir))
        app.queue(max_size=16).launch(
            server_name=settings.server_name,
            server_port=settings.server_port,
            max_file_size=f"{settings.max_upload_mb:g}mb",
            show_error=True,
        )
