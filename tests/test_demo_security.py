"""The web demo attacked through its HTTP API, as any client can call it (issue 21: "the demo serves only what it
was given").

One demo (`python -m facerevive.demo`, tiny random-weights model, 127.0.0.1 only) with a login, a queue of 2 and a
private system temp folder (TMPDIR) serves the whole module; each test is one attack, answered by a clear
refusal. The last test stops the demo with SIGTERM and checks that it left nothing in that temp folder, so the
module runs in file order (pytest's default).
"""

from __future__ import annotations

import secrets
import shutil
import threading
import time
from pathlib import Path

import httpx
import pytest
import torch
from helpers.demo_server import (
    ROOT,
    CallResult,
    DemoServer,
    call,
    file_data,
    peak_memory_mb,
    png_bomb,
    start_demo,
    upload,
)

pytestmark = pytest.mark.e2e

PHOTO = ROOT / "data" / "samples" / "astronaut.png"
AUTH_ENV = "FACEREVIVE_DEMO_TEST_LOGIN"
USER, PASSWORD = "tester", secrets.token_urlsafe(12)
MAX_QUEUE = 2
DEFAULT_MODEL = "random:gfpgan_v1.4"


def restore_args(files: list, model: str = DEFAULT_MODEL, upscale: float = 1.0) -> list:
    """The /restore endpoint's inputs: photos, model, fidelity, upscale, background, centre face, aligned, noise,
    seed."""
    return [files, model, 1.0, upscale, "none", False, False, "random", 0]


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("demo_security")


@pytest.fixture(scope="module")
def system_temp(folder) -> Path:
    """The demo's system temp folder (TMPDIR): empty at the start, and it must be empty after the demo stops."""
    path = folder / "system_tmp"
    path.mkdir()
    return path


@pytest.fixture(scope="module")
def demo(folder, system_temp):
    server = start_demo(
        folder,
        [f"auth_env={AUTH_ENV}", f"max_queue={MAX_QUEUE}"],
        env={"TMPDIR": str(system_temp), AUTH_ENV: f"{USER}:{PASSWORD}"},
    )
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def client(demo: DemoServer):
    logged_in = demo.client(username=USER, password=PASSWORD)
    yield logged_in
    logged_in.close()


def refused(result: CallResult, *expected: str) -> str:
    """The refusal's message, after checking that the call was refused and says one of `expected`."""
    assert result.status != "complete", f"the attack was served: {result.data}"
    message = result.message
    assert any(text in message for text in expected), message
    return message


def test_pixel_bombs_are_refused_from_the_header_in_little_time_and_memory(demo, client, tmp_path):
    # First in the module: the server's peak memory is still the one of its start.
    bombs = [
        png_bomb(tmp_path / "blank_7999.png", 7999, 7999),  # 64 MP, 7.9 kB; 192 MB once decoded to BGR
        png_bomb(tmp_path / "blank_20000.png", 20000, 20000),  # 400 MP, above PIL's own limit
    ]
    refused(call(client, "restore", restore_args([])), "upload one or more photos first")  # the queue's first call
    for bomb in bombs:
        (path,) = upload(client, [bomb])
        peak_before = peak_memory_mb(demo.process.pid)
        started = time.monotonic()
        result = call(client, "restore", restore_args([file_data(path)]))
        seconds = time.monotonic() - started
        growth = peak_memory_mb(demo.process.pid) - peak_before
        refused(result, f"{bomb.name}: ")
        assert "above this demo's limit of 25 MP a photo" in result.message, result.message
        assert seconds < 1.0, f"{bomb.name} refused after {seconds:.2f} s"
        assert growth < 32, f"{bomb.name}: the server's peak memory grew by {growth:.0f} MB"


def test_a_login_is_required(demo):
    with httpx.Client(base_url=demo.url, timeout=30) as anonymous:
        assert anonymous.post("/gradio_api/upload", files=[("files", ("a.png", PHOTO.read_bytes()))]).status_code == 401
        assert anonymous.post("/gradio_api/call/restore", json={"data": restore_args([])}).status_code == 401
        assert anonymous.post("/login", data={"username": USER, "password": "wrong"}).status_code == 400


def test_an_uploaded_weights_file_named_in_the_model_box_never_runs(client, tmp_path):
    marker = tmp_path / "marker.txt"
    crafted = tmp_path / "crafted.pth"  # plain data only (weights_only loads it); its config writes `marker`
    writer = {"_target_": "pathlib.Path.write_text", "_args_": [{"_target_": "pathlib.Path", "_args_": [str(marker)]}]}
    config = {"_target_": "builtins.dict", "a": {**writer, "_args_": [*writer["_args_"], "code ran"]}}
    torch.save({"params_ema": {}, "net_g_config": config}, crafted)
    weights, photo = upload(client, [crafted, PHOTO])
    result = call(client, "restore", restore_args([file_data(photo)], model=weights))
    refused(result, "not in the list of choices", "not in this demo's model menu")
    assert not marker.exists(), "the uploaded file's config ran code in the demo"


def test_server_paths_in_the_model_box_are_refused_alike(client, tmp_path, system_temp):
    (photo,) = upload(client, [PHOTO])
    unreadable = tmp_path / "unreadable.pth"
    unreadable.write_bytes(b"\x80secret")
    unreadable.chmod(0)
    paths = ["/etc/passwd", "/etc/no-such-file.pth", str(unreadable), str(Path(photo).parent), str(system_temp)]
    messages = set()
    for path in paths:
        message = refused(call(client, "restore", restore_args([file_data(photo)], model=path)), path)
        messages.add(message.replace(path, "<path>"))
    assert len(messages) == 1, f"the refusals tell paths apart: {messages}"
    assert "secret" not in messages.pop()


def test_page_values_that_are_not_data_are_refused(client):
    (photo,) = upload(client, [PHOTO])
    interpolation = restore_args([file_data(photo)], model="${oc.env:" + AUTH_ENV + "}")  # would print the login
    refused(call(client, "restore", interpolation), "not in the list of choices", "not in this demo's model menu")
    not_a_number = restore_args([file_data(photo)])
    not_a_number[2] = float("nan")  # fidelity: JSON carries NaN, which passes every range check
    refused(call(client, "restore", not_a_number), "fidelity=nan: not a finite number")


def test_paths_of_files_never_uploaded_are_refused(client, demo, folder, tmp_path):
    (photo,) = upload(client, [PHOTO])
    upload_dir = Path(photo).parent.parent  # Gradio's upload folder: <folder>/<hash>/<name>
    secret = shutil.copy(PHOTO, tmp_path / "secret.png")
    link = Path(photo).parent / "link.png"  # a link inside the upload folder to a file outside it
    link.symlink_to(secret)
    attacks = {
        "outside": file_data(str(secret)),
        "missing": file_data(str(tmp_path / "missing.png")),
        "traversal": file_data(str(upload_dir) + "/.." * 40 + str(secret)),
        "link": file_data(str(link)),
        "no meta": {"path": str(secret)},
        "private folder": file_data(str(upload_dir.parent / "tmp" / "x.png")),
    }
    for name, data in attacks.items():
        result = call(client, "restore", restore_args([data]))
        refused(result, "not uploaded by a user", "not a file uploaded to this demo", "'meta' field")
        assert str(Path(secret).read_bytes()[:8]) not in result.message, name


def test_eight_concurrent_clients_get_a_result_or_a_busy_refusal(demo):
    clients = [demo.client(username=USER, password=PASSWORD) for _ in range(8)]
    uploads = [upload(one, [PHOTO])[0] for one in clients]
    call(clients[0], "restore", restore_args([file_data(uploads[0])]))  # the model is built before the burst
    start = threading.Barrier(len(clients))
    results: list[CallResult | None] = [None] * len(clients)

    def run(index: int) -> None:
        start.wait()
        results[index] = call(clients[index], "restore", restore_args([file_data(uploads[index])]))

    threads = [threading.Thread(target=run, args=(index,)) for index in range(len(clients))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=600)
    for one in clients:
        one.close()
    statuses = [result.status if result else "no answer" for result in results]
    assert set(statuses) == {"complete", "503"}, statuses
    busy = [result for result in results if result and result.status == "503"]
    assert all("Queue is full" in result.message for result in busy), [result.message for result in busy]
    assert statuses.count("complete") <= 1 + MAX_QUEUE + 2, statuses  # one running, the queue, late arrivals


def test_the_runs_inputs_and_results_are_not_served_by_path(client, system_temp):
    (photo,) = upload(client, [PHOTO])
    result = call(client, "restore", restore_args([file_data(photo)]))
    assert result.status == "complete", result.data
    run_files = [p for p in system_temp.rglob("run-*/*/*") if p.is_file()]  # inputs/, results/ (this machine's view)
    assert run_files, "no run folder found in the demo's private folder"
    for path in run_files[:5]:
        assert client.get(f"/gradio_api/file={path}").status_code == 403, path
    shown = result.data[0][1]["url"]  # the after image, served from Gradio's cache
    assert client.get(shown).status_code == 200


def test_sigterm_leaves_nothing_in_the_system_temp_folder(demo, client, system_temp):
    (photo,) = upload(client, [PHOTO])
    result = call(client, "restore", restore_args([file_data(photo)]))
    assert result.status == "complete", result.data
    assert any(system_temp.iterdir()), "the uploads and results were in the demo's folder inside TMPDIR"
    assert demo.stop() == 0, demo.tail()
    left = sorted(str(p.relative_to(system_temp)) for p in system_temp.rglob("*"))
    assert left == [], f"left in the system temp folder after SIGTERM: {left[:20]}"
    stopping = demo.log.read_text().split("Keyboard interruption in main thread")[-1]
    assert "Traceback" not in stopping, demo.tail()  # (refused attacks above are logged with Gradio's tracebacks)
