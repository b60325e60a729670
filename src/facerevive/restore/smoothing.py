"""Temporal smoothing of the detected landmarks of a video, against the flicker of per-frame alignment.

Each frame's detector landmarks wobble by a pixel or so around the true ones; aligned frame by frame, the crop
and so the restored face shake with them (GFPGAN#533, facexlib#48). `LandmarkSmoother` follows each face from
frame to frame (its nearest track, within half its eye distance) and replaces its landmarks and box by an
exponential average: `smoothed = weight * previous + (1 - weight) * detected`. The paste-back uses the inverse
of the same (smoothed) alignment, so the restored face goes back exactly where its crop came from.

`landmark_jitter` is the measure: the frame-to-frame motion of the landmarks minus the true motion, RMS in
pixels, on a clip whose true motion is known.
"""

from __future__ import annotations

import numpy as np

from facerevive.restore.alignment import landmarks_from_detections


class LandmarkSmoother:
    """Exponential averaging of (N, 15) detections over the frames of one video; `weight` in [0, 1) is the share
    of the previous frame (0: the detections unchanged)."""

    def __init__(self, weight: float) -> None:
        if not 0.0 <= weight < 1.0:
            raise ValueError(f"smooth_landmarks must be within [0, 1), got {weight}")
        self.weight = weight
        self.tracks = np.zeros((0, 15), np.float64)

    def __call__(self, detections: np.ndarray) -> np.ndarray:
        """The detections of the next frame, smoothed with the face each continues (a new face starts a track)."""
        if self.weight == 0.0 or len(detections) == 0:
            self.tracks = detections.astype(np.float64)
            return detections
        current = detections.astype(np.float64)
        smoothed = current.copy()
        if len(self.tracks):
            centres = landmarks_from_detections(current).mean(axis=1)
            previous = landmarks_from_detections(self.tracks).mean(axis=1)
            distance = np.linalg.norm(centres[:, None] - previous[None], axis=2)
            gate = 0.5 * eye_distance(current)
            taken: set[int] = set()
            for face in np.argsort(distance.min(axis=1)):
                track = int(np.argmin(distance[face]))
                if track in taken or distance[face, track] > gate[face]:
                    continue
                taken.add(track)
                keep = np.r_[0:4, 5:15]  # the box and the landmarks; the score stays this frame's
                smoothed[face, keep] = self.weight * self.tracks[track, keep] + (1 - self.weight) * current[face, keep]
        self.tracks = smoothed
        return smoothed.astype(detections.dtype)


def eye_distance(detections: np.ndarray) -> np.ndarray:
    """The distance between the two eye landmarks of each detection (px)."""
    landmarks = landmarks_from_detections(detections)
    return np.linalg.norm(landmarks[:, 0] - landmarks[:, 1], axis=1)


def landmark_jitter(landmarks: np.ndarray, true_motion: np.ndarray) -> float:
    """RMS (px) of the frame-to-frame landmark motion minus the true motion: `landmarks` (T, 5, 2) of one face,
    `true_motion` (T - 1, 2) the shift of the face between consecutive frames."""
    motion = np.diff(landmarks, axis=0) - true_motion[:, None, :]
    return float(np.sqrt(np.mean(np.sum(motion**2, axis=2))))
