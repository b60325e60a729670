"""Data: the GFPGAN degradation pipeline, datasets, sources, component boxes and the DataModule."""

from facerevive.data import component_boxes
from facerevive.data.datamodule import FaceDataModule
from facerevive.data.ffhq_dataset import FFHQDegradationDataset
from facerevive.data.paired_dataset import PairedImageDataset, UnpairedImageDataset
from facerevive.data.pipeline import DegradationPipeline, gfpgan_degradations

__all__ = [
    "DegradationPipeline",
    "FFHQDegradationDataset",
    "FaceDataModule",
    "PairedImageDataset",
    "UnpairedImageDataset",
    "component_boxes",
    "gfpgan_degradations",
]
