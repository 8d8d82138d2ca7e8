"""Reading training images, the embedded sample data and intensity normalisation."""

from medgan.data.image_set import (
    ALLOWED_SIZES,
    SimpleITKReader,
    find_image_paths,
    fit_to_size,
    load_training_images,
    read_images,
    validate_image_size,
)
from medgan.data.intensity import denormalize, foreground_mask, foreground_slice_indices, normalize, robust_range
from medgan.data.sample import sample_slices, sample_volume, sample_volume_path

__all__ = [
    "ALLOWED_SIZES",
    "SimpleITKReader",
    "denormalize",
    "find_image_paths",
    "fit_to_size",
    "foreground_mask",
    "foreground_slice_indices",
    "robust_range",
    "load_training_images",
    "normalize",
    "read_images",
    "sample_slices",
    "sample_volume",
    "sample_volume_path",
    "validate_image_size",
]
