"""The demo page: uploads and options on the left; before/after slider, restored photos, face crops and the zip
on the right. A failed run clears the old results and shows its reason (gr.Error), never a stale or unchanged
picture."""

from __future__ import annotations

import html
import importlib.util
import logging
from typing import Any

import gradio as gr

from facerevive.demo.session import DemoError, DemoRestorer, DemoRun, PageOptions
from facerevive.demo.settings import DemoSettings
from facerevive.demo.uploads import PHOTO_SUFFIXES

log = logging.getLogger(__name__)

TITLE = "FaceRevive: blind face restoration (GFPGAN)"


def limits_text(settings: DemoSettings) -> str:
    """The size limits of a run, as the page states them (the values the runner enforces)."""
    megapixels = settings.option("max_output_megapixels")
    output = f"at most {megapixels:g} MP" if megapixels is not None else "not limited"
    return (
        f"Limits: up to {settings.max_photos} photos a run, {settings.max_upload_mb:g} MB a file "
        f"({', '.join(s.lstrip('.') for s in PHOTO_SUFFIXES)}); each photo at most "
        f"{settings.max_input_megapixels:g} MP, its shorter side at least "
        f"{settings.option('min_side')} px and its longer side at most {settings.option('max_side')} px; "
        f"the restored photo (photo size x upscale) {output}. Previews are shrunk to "
        f"{settings.preview_max_side} px; the zip holds the full-size results."
    )


def background_choices() -> list[str]:
    """'none', and 'realesrgan' when the realesrgan package is installed."""
    return ["none", "realesrgan"] if importlib.util.find_spec("realesrgan") is not None else ["none"]


def run_outputs(run: DemoRun) -> tuple[Any, ...]:
    """The page's outputs for a finished run: slider, photos, faces, zip, report, and the slider pairs."""
    pairs = [(str(photo.before), str(photo.after)) for photo in run.photos]
    photos = [(str(photo.after), photo.name) for photo in run.photos]
    faces = [(str(face.image), face.caption) for face in run.faces]
    report = "\n".join(f"- {line.strip()}" for line in run.report)
    return pairs[0], photos, faces, str(run.archive), report, pairs


def build_app(settings: DemoSettings, restorer: DemoRestorer) -> gr.Blocks:
    """The Gradio page over `restorer`; its defaults are the restore options of `settings`."""
    backgrounds = background_choices()

    def restore(files: list[str] | None, *values: Any) -> tuple[Any, ...]:
        weights, fidelity, upscale, bg_upsampler, only_center_face, aligned, noise, seed = values
        options = PageOptions(
            weights=str(weights or "").strip(),
            fidelity=float(fidelity),
            upscale=float(upscale),
            bg_upsampler=str(bg_upsampler),
            only_center_face=bool(only_center_face),
            aligned=bool(aligned),
            noise=str(noise),
            seed=int(seed) if isinstance(seed, float) and seed.is_integer() else seed,
        )
        try:
            return run_outputs(restorer.restore(files, options))
        except DemoError as exc:  # the message is HTML in the page: file names are escaped
            raise gr.Error(html.escape(str(exc)), duration=None, print_exception=False) from exc
        except Exception as exc:  # a bug or an unexpected failure: its type on the page, its text (which may name
            log.exception("the demo run failed")  # server files) only in the server's log
            message = f"restoration failed ({type(exc).__name__}; the server's log says more)"
            raise gr.Error(message, duration=None, print_exception=False) from exc

    def show_photo(pairs: list[tuple[str, str]], event: gr.SelectData) -> Any:
        index = event.index  # sent by the client: only an index of this session's own results is taken
        if isinstance(index, int) and not isinstance(index, bool) and 0 <= index < len(pairs):
            return pairs[index]
        return gr.skip()

    with gr.Blocks(title="FaceRevive demo", delete_cache=(3600, 3600)) as app:
        gr.Markdown(f"# {TITLE}\n{limits_text(settings)}", elem_id="intro")
        with gr.Row():
            with gr.Column(scale=2):
                files = gr.File(
                    label="Photos (one or several)",
                    file_count="multiple",
                    file_types=list(PHOTO_SUFFIXES),
                    elem_id="photos",
                )
                model = gr.Dropdown(
                    restorer.models.choices(),
                    value=str(settings.option("weights")),
                    allow_custom_value=settings.allow_custom_models,
                    label="Model",
                    info="a GFPGAN, CodeFormer or RestoreFormer release, or type the path of a model file in the "
                    "models folder"
                    if settings.allow_custom_models
                    else "a GFPGAN, CodeFormer or RestoreFormer release or one of this demo's models",
                    elem_id="model",
                )
                fidelity = gr.Slider(
                    0.0,
                    1.0,
                    value=1.0 if settings.option("fidelity") is None else float(settings.option("fidelity")),
                    step=0.05,
                    label="Fidelity",
                    info="1 = the standard GFPGAN output; towards 0 = more of the StyleGAN2 face prior "
                    "(CodeFormer: its w, 0.5 in its own demo; RestoreFormer: 1 only)",
                    elem_id="fidelity",
                )
                upscale = gr.Slider(
                    1, settings.max_upscale, value=float(settings.option("upscale")), step=0.5, label="Upscale"
                )
                bg_upsampler = gr.Dropdown(
                    backgrounds,
                    value="none",
                    label="Background upsampler",
                    info="Real-ESRGAN x2 (needs RealESRGAN_x2plus.pth)"
                    if len(backgrounds) > 1
                    else "Lanczos resize; pip install realesrgan adds Real-ESRGAN",
                    interactive=len(backgrounds) > 1,
                )
                with gr.Row():
                    only_center_face = gr.Checkbox(
                        value=bool(settings.option("only_center_face")), label="Only the centre face"
                    )
                    aligned = gr.Checkbox(
                        value=bool(settings.option("aligned")), label="Aligned input (already cropped faces)"
                    )
                with gr.Row():
                    noise = gr.Radio(
                        ["random", "fixed"],
                        value=str(settings.option("noise")),
                        label="StyleGAN2 noise",
                        info="random: drawn from the seed; fixed: the checkpoint's noise maps",
                    )
                    seed = gr.Number(value=int(settings.option("seed")), precision=0, minimum=0, label="Seed")
                button = gr.Button("Restore", variant="primary", elem_id="restore")
            with gr.Column(scale=3):
                report = gr.Markdown(elem_id="report")
                slider = gr.ImageSlider(label="Before / after", format="png", elem_id="before-after")
                photos = gr.Gallery(
                    label="Restored photos (click one to compare)",
                    columns=4,
                    height=240,
                    preview=False,
                    fit_columns=False,
                    object_fit="contain",
                    format="png",
                    elem_id="restored",
                )
                faces = gr.Gallery(
                    label="Faces: input crop | restored",
                    columns=3,
                    height=240,
                    preview=False,
                    fit_columns=False,
                    object_fit="contain",
                    format="png",
                    elem_id="faces",
                )
                archive = gr.File(label="All results (zip)", elem_id="download")
        pairs = gr.State([])

        outputs = [slider, photos, faces, archive, report, pairs]
        inputs = [files, model, fidelity, upscale, bg_upsampler, only_center_face, aligned, noise, seed]
        started = button.click(
            lambda: (None, [], [], None, "Restoring...", []), outputs=outputs, queue=False, show_progress="hidden"
        )
        finished = started.then(restore, inputs=inputs, outputs=outputs)  # queue limits: launch.py
        finished.failure(lambda: "**No result**: the message says why.", outputs=report)
        photos.select(show_photo, inputs=pairs, outputs=slider)
    return app
