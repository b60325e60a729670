"""Write a restored video that browsers play, with the source's sound: H.264 in MP4, audio carried over.

With PyAV (the `av` package, FFmpeg's libraries) the frames are encoded as H.264 (yuv420p, `+faststart` so a
browser starts playing before the whole file is loaded) and the first audio track of the source is copied
packet for packet when MP4 can hold its codec (AAC, MP3, AC-3, Opus, ALAC, FLAC), else re-encoded as AAC. Without
PyAV, or where no H.264 encoder is built in, OpenCV writes MPEG-4 Part 2 and the audio is lost; `note` says so,
for the run summary. The file is written beside the target and renamed into place when complete.
"""

from __future__ import annotations

import logging
from fractions import Fraction
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from facerevive.utils.files import replace_synced

log = logging.getLogger(__name__)

# Audio codecs the MP4 muxer takes as they are (FFmpeg names); any other track is re-encoded as AAC.
MP4_AUDIO = {"aac", "mp3", "ac3", "eac3", "opus", "alac", "flac"}
H264_ENCODERS = ("libx264", "h264")


def _h264_encoder() -> str | None:
    """The name of a usable H.264 encoder of PyAV's FFmpeg, or None (PyAV absent or built without one)."""
    try:
        from av.codec import Codec
    except ImportError:
        return None
    for name in H264_ENCODERS:
        try:
            Codec(name, "w")
        except Exception:  # PyAV raises its own error types for an unknown encoder
            continue
        return name
    return None


def even(image: np.ndarray) -> np.ndarray:
    """`image` with an odd width or height padded by one edge pixel: 4:2:0 video needs even sides."""
    pad_y, pad_x = image.shape[0] % 2, image.shape[1] % 2
    if not (pad_y or pad_x):
        return image
    return cv2.copyMakeBorder(image, 0, pad_y, 0, pad_x, cv2.BORDER_REPLICATE)


class RestoredVideoWriter:
    """Frames in (8-bit BGR, all the same size), `target` out: `finish()` adds the sound of `source` and moves
    the file into place, `discard()` removes what was written. `note` (None when all went as planned) says what
    the file lacks."""

    def __init__(self, target: Path, source: Path, fps: float) -> None:
        self.target, self.source = target, source
        self.tmp = target.with_name(f".{target.stem}.tmp{target.suffix}")
        self.rate = Fraction(fps).limit_denominator(1001) if fps > 0 else Fraction(25)
        self.encoder = _h264_encoder()
        self.note: str | None = None
        self.frames = 0
        self._cv_writer: cv2.VideoWriter | None = None
        self._container: Any = None  # PyAV's output, its streams, and the source's audio track
        self._video: Any = None
        self._source: Any = None
        self._audio_in: Any = None
        self._audio_out: Any = None
        self._transcode = False  # the audio is re-encoded as AAC (its codec does not fit MP4)

    def _open(self, width: int, height: int) -> None:
        if self.encoder is None:
            fourcc = cv2.VideoWriter.fourcc(*"mp4v")
            self._cv_writer = cv2.VideoWriter(str(self.tmp), fourcc, float(self.rate), (width, height))
            if not self._cv_writer.isOpened():
                raise OSError(f"{self.target}: cannot open a video writer")
            self.note = (
                f"{self.target.name}: written as MPEG-4 Part 2 without sound (PyAV with an H.264 encoder is not "
                "installed: pip install av)"
            )
            return
        import av

        self._container = av.open(str(self.tmp), "w", format="mp4", options={"movflags": "+faststart"})
        self._video = self._container.add_stream(self.encoder, rate=self.rate)
        self._video.width, self._video.height, self._video.pix_fmt = width, height, "yuv420p"
        try:
            self._source = av.open(str(self.source))
        except av.FFmpegError as exc:
            self.note = f"{self.source}: its sound could not be read ({exc}); the restored video has none"
            return
        if not self._source.streams.audio:
            return
        self._audio_in = self._source.streams.audio[0]
        self._transcode = self._audio_in.codec_context.name not in MP4_AUDIO
        if self._transcode:
            self._audio_out = self._container.add_stream("aac", rate=self._audio_in.rate or 48000)
            self._audio_out.codec_context.layout = self._audio_in.layout.name  # mono stays mono
        else:
            self._audio_out = self._container.add_stream_from_template(self._audio_in)

    def write(self, image: np.ndarray) -> None:
        """Append one frame (BGR uint8; gray or BGRA are converted)."""
        if image.ndim == 2:
            image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
        image = np.ascontiguousarray(even(image[..., :3]))
        if self._container is None and self._cv_writer is None:
            self._open(image.shape[1], image.shape[0])
        if self._cv_writer is not None:
            self._cv_writer.write(image)
        else:
            import av

            frame = av.VideoFrame.from_ndarray(image, format="bgr24")
            frame.pts = self.frames
            self._container.mux(self._video.encode(frame))
        self.frames += 1

    def _copy_audio(self) -> None:
        """The source's audio track into the output: its packets as they are, or re-encoded as AAC."""
        import av

        if not self._transcode:
            for packet in self._source.demux(self._audio_in):
                if packet.dts is not None:  # None: the demuxer's closing empty packet
                    packet.stream = self._audio_out
                    self._container.mux(packet)
            return
        resampler = av.AudioResampler(format="fltp", layout=self._audio_out.layout, rate=self._audio_out.rate)
        for frame in self._source.decode(self._audio_in):
            for resampled in resampler.resample(frame):
                self._container.mux(self._audio_out.encode(resampled))
        self._container.mux(self._audio_out.encode(None))

    def _close(self) -> None:
        if self._cv_writer is not None:
            self._cv_writer.release()
        if self._source is not None:
            self._source.close()

    def finish(self) -> None:
        """Flush the encoder, add the sound, and move the file into place (nothing is left on failure)."""
        try:
            if self._container is not None:
                self._container.mux(self._video.encode(None))
                if self._audio_in is not None:
                    self._copy_audio()
                self._container.close()
            self._close()
            if self.frames:
                replace_synced(self.tmp, self.target)
        finally:
            self.tmp.unlink(missing_ok=True)

    def discard(self) -> None:
        """Stop and remove the partial file (a run that failed half way leaves no broken video)."""
        try:
            if self._container is not None:
                self._container.close()
            self._close()
        finally:
            self.tmp.unlink(missing_ok=True)
