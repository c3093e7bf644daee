"""Datasets for the course: built-in ones that work offline, and real ones when they can be had."""
from cvcourse_utils.datasets.photos import PHOTOS, sample_photo

__all__ = ["PHOTOS", "sample_photo"]
