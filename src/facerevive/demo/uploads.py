"""Which files a demo run may read: photos uploaded to this demo, of a size it can hold, checked before decoding.

The file paths of a request come from the client. Gradio moves uploads into its upload folder, which the demo
makes private to itself (launch.py); a run reads a path only when it resolves (`..` and links included) to a file
inside that folder, so no request can name another file of the server. A photo's pixel count is read from its
header (PIL opens lazily and reads no pixel data): a decompression bomb, a few hundred kB that decode to gigabytes,
is refused before OpenCV or anything else decodes it.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path

from PIL import Image

from facerevive.data.sources import IMAGE_EXTENSIONS

# Still-image types the runner restores as photos (videos and animated GIFs are `facerevive-restore`'s job).
PHOTO_SUFFIXES = IMAGE_EXTENSIONS


class RefusedUploadError(ValueError):
    """An upload a run does not read; the message names the file (its name only, never a server folder)."""


def is_inside(path: Path, folder: Path) -> bool:
    """Whether `path` (resolved) is `folder` (resolved) or inside it."""
    return path == folder or folder in path.parents


def header_size(path: Path) -> tuple[int, int] | None:
    """(width, height) from the image's header without decoding its pixels; None when PIL does not know the format
    (the runner then says why it cannot read the file, without decoding it either). Image.DecompressionBombError
    for a size above PIL's own limit."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            with Image.open(path) as image:
                return image.size
        except (OSError, ValueError, SyntaxError):
            return None


def check_pixels(path: Path, upscale: float, max_input_megapixels: float, max_output_megapixels: float | None) -> None:
    """Refuse `path` when its header gives more pixels than the demo takes, or an output (size x upscale) above
    `max_output_megapixels`; both from the header, so nothing is decoded."""
    too_many = f"above this demo's limit of {max_input_megapixels:g} MP a photo"
    try:
        size = header_size(path)
    except Image.DecompressionBombError:  # above PIL's own limit (about 179 MP), so far above ours
        raise RefusedUploadError(f"{path.name}: more pixels than PIL opens, {too_many}") from None
    if size is None:
        return
    width, height = size
    megapixels = width * height / 1e6
    if megapixels > max_input_megapixels:
        raise RefusedUploadError(f"{path.name}: {width}x{height} px ({megapixels:.1f} MP) is {too_many}")
    output = int(width * upscale) * int(height * upscale) / 1e6
    if max_output_megapixels is not None and output > max_output_megapixels:
        raise RefusedUploadError(
            f"{path.name}: the output would be {output:.1f} MP at upscale {upscale:g}, above this demo's limit of "
            f"{max_output_megapixels:g} MP; choose a lower upscale"
        )


def uploaded_photos(files: Sequence[str | Path], upload_dir: Path, max_photos: int) -> list[Path]:
    """The request's `files` as paths inside `upload_dir`, after the checks that open nothing: each one is inside
    that folder (the same refusal whether or not a named outside file exists), at most `max_photos`, photo types."""
    if not files:
        raise RefusedUploadError("upload one or more photos first")
    if len(files) > max_photos:
        raise RefusedUploadError(f"{len(files)} photos uploaded: the demo restores at most {max_photos} at once")
    folder = upload_dir.resolve()
    uploads = []
    for file in files:
        path = Path(file)
        try:
            resolved = path.resolve()
        except (OSError, RuntimeError, ValueError):
            resolved = None
        if resolved is None or not is_inside(resolved, folder):
            raise RefusedUploadError(f"{path.name}: not a file uploaded to this demo")
        uploads.append(resolved)
    wrong = [p.name for p in uploads if p.suffix.lower() not in PHOTO_SUFFIXES]
    if wrong:
        raise RefusedUploadError(f"{', '.join(wrong)}: not a photo type the demo takes ({' '.join(PHOTO_SUFFIXES)})")
    return uploads
