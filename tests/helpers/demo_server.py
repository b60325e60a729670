"""The web demo as its users' clients see it: `python -m facerevive.demo` started on a free 127.0.0.1 port with a
tiny random-weights model, and its HTTP API (Gradio's /gradio_api/upload and /gradio_api/call/<name>) called with
httpx, as any client or attacker can."""

from __future__ import annotations

import html
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
# The 64 px narrow generator of tests/test_docs_commands.py's TINY_RESTORE, randomly initialised.
TINY_DEMO = [
    "restore.weights=random:gfpgan_v1.4",
    "restore.weights_overrides={out_size:64,num_style_feat:64,channel_multiplier:1,narrow:0.5}",
    "restore.device=cpu",
]
START_TIMEOUT_S = 120


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class CallResult:
    """What the server answered to one call: `status` is 'complete' or 'error', or the HTTP status of a call that
    was refused before it was queued (e.g. '503' when the queue is full); `data` is the outputs or the message."""

    status: str
    data: object

    @property
    def message(self) -> str:
        """The text a user reads: the error of a refused call (the page shows it as HTML), else the data as JSON."""
        if isinstance(self.data, dict) and isinstance(self.data.get("error"), str):
            return html.unescape(self.data["error"])
        return self.data if isinstance(self.data, str) else json.dumps(self.data)


@dataclass
class DemoServer:
    """A running demo: its address, process and log."""

    url: str
    process: subprocess.Popen
    log: Path

    def client(self, **credentials: str) -> httpx.Client:
        """An HTTP client for the demo, logged in with `username`/`password` when given."""
        client = httpx.Client(base_url=self.url, timeout=120)
        if credentials:
            client.post("/login", data=credentials).raise_for_status()
        return client

    def stop(self, timeout: float = 30) -> int:
        """SIGTERM, then wait for the exit; the exit status."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
                pytest.fail(f"the demo did not stop within {timeout:.0f} s of SIGTERM:\n{self.tail()}")
        return int(self.process.returncode)

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]


def start_demo(folder: Path, settings: list[str], env: dict[str, str] | None = None) -> DemoServer:
    """`python -m facerevive.demo` with `settings` on a free localhost port; returns once the page is served."""
    port = free_port()
    log = folder / "demo.log"
    environment = {
        **os.environ,
        "GRADIO_ANALYTICS_ENABLED": "False",
        "FACEREVIVE_WEIGHTS_DIR": str(folder / "no_weights"),
        "OMP_NUM_THREADS": "1",  # the tiny network runs fastest on one thread when the CPUs are shared
        **(env or {}),
    }
    command = [sys.executable, "-m", "facerevive.demo", f"server_port={port}", *TINY_DEMO, *settings]
    with log.open("w") as out:
        process = subprocess.Popen(command, cwd=ROOT, env=environment, stdout=out, stderr=subprocess.STDOUT)
    server = DemoServer(f"http://127.0.0.1:{port}", process, log)
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"facerevive-demo exited {process.returncode}:\n{server.tail()}")
        try:
            if httpx.get(server.url + "/", timeout=2).status_code in (200, 401):
                return server
        except httpx.HTTPError:
            time.sleep(0.3)
    server.stop()
    pytest.fail(f"facerevive-demo did not serve {server.url} within {START_TIMEOUT_S} s:\n{server.tail()}")


def upload(client: httpx.Client, files: list[Path]) -> list[str]:
    """POST the files to Gradio's upload route; the server paths it answers."""
    parts = [("files", (path.name, path.read_bytes())) for path in files]
    response = client.post("/gradio_api/upload", files=parts)
    response.raise_for_status()
    return list(response.json())


def file_data(path: str, name: str | None = None) -> dict:
    """The FileData object that names the server file `path` in a call, as Gradio's own client sends it."""
    return {"path": path, "orig_name": name or Path(path).name, "meta": {"_type": "gradio.FileData"}}


def call(client: httpx.Client, api_name: str, data: list) -> CallResult:
    """Call the endpoint `api_name` with `data` and wait for its answer."""
    body = json.dumps({"data": data})  # as Python writes JSON: NaN and Infinity included, as an attacker may send
    joined = client.post(f"/gradio_api/call/{api_name}", content=body, headers={"Content-Type": "application/json"})
    if joined.status_code != 200:
        return CallResult(str(joined.status_code), joined.json().get("detail", joined.text))
    event_id = joined.json()["event_id"]
    event = None
    with client.stream("GET", f"/gradio_api/call/{api_name}/{event_id}") as stream:
        for line in stream.iter_lines():
            if line.startswith("event: "):
                event = line.removeprefix("event: ")
            elif line.startswith("data: ") and event in ("complete", "error"):
                return CallResult(event, json.loads(line.removeprefix("data: ")))
    raise AssertionError(f"{api_name}: the stream ended without an answer (last event {event!r})")


def png_bomb(path: Path, width: int, height: int, color_type: int = 0, bit_depth: int = 1) -> Path:
    """A valid, blank PNG of `width` x `height` px that is small on disk and huge once decoded (a decompression
    bomb): its rows of zeros are compressed as they are made, so making it never holds the image in memory."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    channels = {0: 1, 2: 3}[color_type]  # gray, RGB
    row = bytes(1 + (width * channels * bit_depth + 7) // 8)  # filter byte 0, then the row's samples
    rows_per_block = max(1, (1 << 22) // len(row))
    compressor = zlib.compressobj(9)
    parts, left = [], height
    while left > 0:
        rows = min(rows_per_block, left)
        parts.append(compressor.compress(row * rows))
        left -= rows
    parts.append(compressor.flush())
    header = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", b"".join(parts)) + chunk(b"IEND", b"")
    )
    return path


def peak_memory_mb(pid: int) -> float:
    """The peak resident memory of process `pid` so far (VmHWM), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmHWM in /proc/{pid}/status")
