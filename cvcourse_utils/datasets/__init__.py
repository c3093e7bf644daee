"""Datasets for the course: built-in ones that work offline, and real ones when they can be had.

Start with :func:`load_dataset` (names in ``DATASET_NAMES``):

- ``"shapes"``, ``"shapes_detection"``, ``"shapes_segmentation"``: generated shapes (``shapes``)
- ``"shapes_captions"``: generated shapes with true captions and a tiny tokenizer (``captions``)
- ``"digits"``: scikit-learn's bundled 8x8 digits (``digits``)
- ``"mnist"``, ``"fashion_mnist"``, ``"cifar10"``: real datasets, once downloaded (``real``)

and :func:`sample_photo` for real photographs (``photos``).
"""
from cvcourse_utils.datasets.base import (
    SPLITS,
    CorruptDatasetError,
    DatasetUnavailableError,
    ImageClassificationDataset,
    UnknownDatasetError,
)
from cvcourse_utils.datasets.captions import (
    CAPTION_SHAPES,
    COLOR_NAMES,
    HELD_OUT_PAIRS,
    TOKENIZER,
    CaptionedShapes,
    CaptionTokenizer,
    caption_text,
)
from cvcourse_utils.datasets.digits import load_digits_dataset
from cvcourse_utils.datasets.loading import (
    BUILT_IN_NAMES,
    CLASSIFICATION_NAMES,
    DATASET_NAMES,
    download,
    load_dataset,
)
from cvcourse_utils.datasets.photos import PHOTOS, sample_photo
from cvcourse_utils.datasets.real import REAL_DATASETS, dataset_folder, is_downloaded
from cvcourse_utils.datasets.shapes import (
    DIFFICULTIES,
    SHAPE_CLASSES,
    ShapeScenes,
    ShapesScenes,
    boxes_from_instance_map,
    collate_detection,
    generate_shapes,
    shape_style,
)
from cvcourse_utils.datasets.splits import stratified_subset, train_val_test_split

__all__ = [
    "BUILT_IN_NAMES",
    "CAPTION_SHAPES",
    "COLOR_NAMES",
    "HELD_OUT_PAIRS",
    "TOKENIZER",
    "CaptionTokenizer",
    "CaptionedShapes",
    "caption_text",
    "CLASSIFICATION_NAMES",
    "DATASET_NAMES",
    "DIFFICULTIES",
    "PHOTOS",
    "REAL_DATASETS",
    "SHAPE_CLASSES",
    "SPLITS",
    "CorruptDatasetError",
    "DatasetUnavailableError",
    "ImageClassificationDataset",
    "ShapeScenes",
    "ShapesScenes",
    "UnknownDatasetError",
    "boxes_from_instance_map",
    "collate_detection",
    "dataset_folder",
    "download",
    "generate_shapes",
    "is_downloaded",
    "load_dataset",
    "load_digits_dataset",
    "sample_photo",
    "shape_style",
    "stratified_subset",
    "train_val_test_split",
]
