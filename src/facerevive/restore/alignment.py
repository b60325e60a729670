"""5-point alignment to the FFHQ template and the inverse transform used to paste faces back."""

from __future__ import annotations

import cv2
import numpy as np

# Left eye, right eye, nose tip, left and right mouth corners of an FFHQ-aligned 512x512 face
# (the template of facexlib's FaceRestoreHelper, which the official models were trained with).
FFHQ_TEMPLATE_512 = np.array(
    [
        [192.98138, 239.94708],
        [318.90277, 240.1936],
        [256.63416, 314.01935],
        [201.26117, 371.41043],
        [313.08905, 371.15118],
    ]
)
# Border colour of the aligned crops where the face leaves the photo (a neutral gray, as facexlib uses).
CROP_BORDER_BGR = (135, 133, 132)


def face_template(face_size: int) -> np.ndarray:
    """The FFHQ 5-point template scaled to a face_size x face_size crop (the model's out_size)."""
    return FFHQ_TEMPLATE_512 * (face_size / 512.0)


def landmarks_from_detections(detections: np.ndarray) -> np.ndarray:
    """(N, 5, 2) landmarks from (N, 15) detections."""
    return detections[:, 5:15].reshape(-1, 5, 2).astype(np.float64)


def estimate_alignment(landmarks: np.ndarray, face_size: int) -> np.ndarray:
    """2x3 similarity transform taking the 5 landmarks onto the template (least-median robust fit)."""
    matrix, _ = cv2.estimateAffinePartial2D(landmarks, face_template(face_size), method=cv2.LMEDS)
    if matrix is None:
        raise ValueError(f"no similarity transform fits the landmarks {landmarks.tolist()}")
    return matrix


def warp_face(image: np.ndarray, matrix: np.ndarray, face_size: int) -> np.ndarray:
    """The aligned face_size x face_size crop (bilinear, gray outside the photo)."""
    return cv2.warpAffine(
        image, matrix, (face_size, face_size), borderMode=cv2.BORDER_CONSTANT, borderValue=CROP_BORDER_BGR
    )


def paste_transform(matrix: np.ndarray, upscale: float) -> np.ndarray:
    """Map from the aligned crop into the upscaled output image.

    The inverse alignment scaled by `upscale`; above 1 it is shifted by half an output pixel per unit of
    upscale, which centres the face on the upscaled pixel grid (facexlib's offset).
    """
    inverse = cv2.invertAffineTransform(matrix) * upscale
    if upscale > 1:
        inverse[:, 2] += 0.5 * upscale
    return inverse
