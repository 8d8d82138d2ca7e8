"""Load a folder of training images into memory as one (N, C, *spatial) tensor in [-1, 1].

Reading goes through MONAI ``LoadImage`` with a reader chosen by file suffix:

- PNG, JPEG, BMP, TIFF (first page): ``PILReader`` in row-major order, so a 2D image is (C, H, W) as in numpy.
- NIfTI (``.nii``, ``.nii.gz``): ``NibabelReader``; ``.npy``: ``NumpyReader`` (2D array = one 2D image,
  3D array = one volume).
- NRRD, MetaImage (``.mha``, ``.mhd``) and DICOM (a folder that holds ``.dcm`` files is one series):
  ``SimpleITKReader`` below, because MONAI's ``ITKReader`` needs the ``itk`` package and medgan depends on SimpleITK.

Volumes are reoriented to RAS, so their last axis runs inferior to superior and axial slices are cut along it.
Every problem a user can fix raises ``BadInputError`` with one sentence, before any training.
"""

import fnmatch
import math
import os
from collections.abc import Sequence
from functools import partial
from pathlib import Path

import numpy as np
import SimpleITK as sitk
import torch
from monai.data import ImageReader, MetaTensor, NibabelReader, NumpyReader, PILReader
from monai.data.utils import orientation_ras_lps
from monai.transforms import LoadImage, Orientation, SpatialPad
from monai.utils import convert_to_tensor, ensure_tuple

from medgan.data.intensity import foreground_slice_indices, normalize
from medgan.data.sample import axial_to_picture, sample_volume
from medgan.errors import BadInputError
from medgan.layers.resize import resize_antialiased

ALLOWED_SIZES = (64, 128, 256)
MIN_SLICE_AREA_FRACTION = 0.25
MAX_UPSCALING = 8  # an image whose longest side is magnified more than this is interpolation, not data
MAX_NAMED = 5  # unreadable files named in one sentence
MAX_LABELS = 16  # an image with at most this many distinct whole values is a label map (OASIS seg PNGs have 4)
MIN_PIXELS_PER_LABEL = 100
BITMAP_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
NIFTI_SUFFIXES = (".nii", ".nii.gz")
NUMPY_SUFFIXES = (".npy",)
ITK_SUFFIXES = (".nrrd", ".nhdr", ".mha", ".mhd")
DICOM_SUFFIX = ".dcm"
FORMATS = "PNG, JPEG, BMP, TIFF, NIfTI, NRRD, MHA/MHD, DICOM series or .npy"
INTERPOLATION = {2: "bilinear", 3: "trilinear"}
RAS_LABELS = (("L", "R"), ("P", "A"), ("I", "S"))  # the affines of all readers here are in RAS


class SimpleITKReader(ImageReader):
    """MONAI image reader backed by SimpleITK: NRRD, MetaImage and DICOM series (a folder of ``.dcm`` files).

    Like MONAI's ``ITKReader`` it returns the spatial axes in ITK's (x, y, z) order, channels last, with a RAS
    affine; ``LoadImage(ensure_channel_first=True)`` then gives (C, X, Y[, Z]).
    """

    def verify_suffix(self, filename) -> bool:
        return all(Path(f).is_dir() or _suffix(Path(f)) in ITK_SUFFIXES for f in ensure_tuple(filename))

    def read(self, data, **kwargs) -> sitk.Image:
        (path,) = (Path(p) for p in ensure_tuple(data))
        if not path.is_dir():
            return sitk.ReadImage(str(path))
        series = sitk.ImageSeriesReader.GetGDCMSeriesIDs(str(path))
        if not series:
            raise BadInputError(f"{path} holds .dcm files but no readable DICOM series; replace or remove them.")
        if len(series) > 1:
            raise BadInputError(f"{path} holds {len(series)} DICOM series; put each series in a folder of its own.")
        return sitk.ReadImage(sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(path), series[0]))

    def get_data(self, img: sitk.Image) -> tuple[np.ndarray, dict]:
        rank = img.GetDimension()
        array = sitk.GetArrayFromImage(img)  # (z, y, x) or (z, y, x, c)
        array = array.transpose(*reversed(range(rank)), *range(rank, array.ndim))
        spatial = min(rank, 3)
        direction = np.asarray(img.GetDirection()).reshape(rank, rank)[:spatial, :spatial]
        affine = np.eye(4)
        affine[:spatial, :spatial] = direction @ np.diag(img.GetSpacing()[:spatial])
        affine[:spatial, 3] = img.GetOrigin()[:spatial]
        affine = orientation_ras_lps(affine)  # ITK's physical space is LPS
        meta = {
            "affine": affine,
            "original_affine": affine.copy(),
            "spatial_shape": np.asarray(array.shape[:rank]),
            "original_channel_dim": -1 if img.GetNumberOfComponentsPerPixel() > 1 else float("nan"),
            "space": "RAS",
        }
        return array, meta


_READERS = {  # file suffix -> reader factory
    **{suffix: partial(PILReader, reverse_indexing=False) for suffix in BITMAP_SUFFIXES},
    **{suffix: NibabelReader for suffix in NIFTI_SUFFIXES},
    **{suffix: NumpyReader for suffix in NUMPY_SUFFIXES},
    **{suffix: SimpleITKReader for suffix in ITK_SUFFIXES},
}


def validate_image_size(image_size: int, allowed_sizes: tuple[int, ...] | None = ALLOWED_SIZES) -> None:
    """Raise ``BadInputError`` unless ``image_size`` is one of ``allowed_sizes`` (any positive integer if None)."""
    is_int = isinstance(image_size, int) and not isinstance(image_size, bool)
    if allowed_sizes is None and not (is_int and image_size > 0):
        raise BadInputError(f"image_size {image_size!r} is not a size in pixels; use a positive integer.")
    if allowed_sizes is not None and not (is_int and image_size in allowed_sizes):
        allowed = ", ".join(str(size) for size in allowed_sizes)
        raise BadInputError(f"image_size {image_size!r} is not supported by this model; use one of {allowed}.")


def _patterns(patterns: str | Sequence[str] | None) -> tuple[str, ...]:
    return (patterns,) if isinstance(patterns, str) else tuple(patterns or ())


def _matches(relative: str, patterns: tuple[str, ...]) -> bool:
    """Whether a path relative to the dataset folder (posix) or its file name matches one of the glob patterns
    (``*`` also crosses folders: ``keras_png_slices_seg_*`` matches every file under those folders)."""
    name = relative.rsplit("/", 1)[-1]
    return any(fnmatch.fnmatchcase(relative, pattern) or fnmatch.fnmatchcase(name, pattern) for pattern in patterns)


def find_image_paths(
    dataset_dir: str | Path, include: str | Sequence[str] | None = None, exclude: str | Sequence[str] | None = None
) -> list[Path]:
    """The images under ``dataset_dir`` (recursively, sorted; hidden files skipped), or ``[dataset_dir]`` if it is
    itself an image file. A folder that directly holds ``.dcm`` files is listed once, as one DICOM series.
    ``include`` / ``exclude``: glob patterns (one or a list) matched against each path relative to ``dataset_dir``
    and against its file name; with ``include`` only matching images are kept, then ``exclude`` drops images."""
    root = Path(dataset_dir).expanduser()
    if root.is_file() and _suffix(root) in _READERS:
        return [root]
    if not root.is_dir():
        raise BadInputError(
            f"dataset_dir {root} is not a folder or an image file; point --dataset_dir at a folder of images "
            "(or leave it empty to train on the sample data)."
        )
    paths = []
    for path in [root, *sorted(root.rglob("*"))]:
        if any(part.startswith(".") for part in path.relative_to(root).parts):
            continue
        if path.is_file() and _suffix(path) in _READERS:
            paths.append(path)
        elif path.is_dir() and any(child.suffix.lower() == DICOM_SUFFIX for child in path.iterdir()):
            paths.append(path)
    if not paths:
        raise BadInputError(
            f"dataset_dir {root} holds no images ({FORMATS}); point --dataset_dir at a folder of images."
        )
    include, exclude = _patterns(include), _patterns(exclude)
    chosen = [
        path for path in paths
        if (not include or _matches(path.relative_to(root).as_posix(), include))
        and not _matches(path.relative_to(root).as_posix(), exclude)
    ]  # fmt: skip
    if not chosen:
        given = " and ".join(
            f"--dataset_{kind} {list(patterns)}" for kind, patterns in (("include", include), ("exclude", exclude))
            if patterns
        )  # fmt: skip
        raise BadInputError(
            f"none of the {len(paths)} images under {root} is left by {given}; patterns match paths relative "
            "to dataset_dir or file names, e.g. --dataset_include '*.nii.gz' or --dataset_exclude 'seg_*'."
        )
    return chosen


def looks_like_label_map(image: torch.Tensor) -> bool:
    """Whether an image as read holds only a few whole values (at most ``MAX_LABELS``, each on at least
    ``MIN_PIXELS_PER_LABEL`` pixels on average): a segmentation, not a scan (a tiny or flat test image is neither)."""
    values = torch.unique(image)
    few = len(values) <= MAX_LABELS and image.numel() >= MIN_PIXELS_PER_LABEL * len(values)
    return few and bool(torch.all(values == torch.round(values)))


def _refuse_mixed_label_maps(label_maps: list[Path], scans: list[Path], root: Path) -> None:
    """Refuse a dataset that holds scans and label maps, naming a ``--dataset_exclude`` pattern that leaves out
    the label maps only (the common start of their relative paths, or of their file names)."""
    if not label_maps or not scans:
        return
    relative = [path.relative_to(root).as_posix() for path in label_maps]
    scan_paths = [path.relative_to(root).as_posix() for path in scans]
    pattern = None
    for candidates in (relative, [name.rsplit("/", 1)[-1] for name in relative]):
        start = os.path.commonprefix(candidates)
        if start and not any(_matches(path, (start + "*",)) for path in scan_paths):
            pattern = start + "*"
            break
    advice = f"--dataset_exclude '{pattern}'" if pattern else "--dataset_exclude and a pattern that matches them"
    raise BadInputError(
        f"{len(label_maps)} of the {len(label_maps) + len(scans)} images under {root} look like label maps (at most "
        f"{MAX_LABELS} whole values, e.g. {label_maps[0]}); leave them out with {advice}."
    )


def read_images(
    dataset_dir: str | Path | None,
    spatial_dims: int,
    channels: int = 1,
    include: str | Sequence[str] | None = None,
    exclude: str | Sequence[str] | None = None,
) -> list[torch.Tensor]:
    """Read, check and normalise every image for a ``spatial_dims`` model, at its own size.

    Args:
        dataset_dir: a folder (searched recursively) or one image file; None or "" for the embedded sample volume.
        spatial_dims: 2 (volumes are cut into axial slices with foreground, see ``foreground_slice_indices``) or 3.
        channels: the channel count every image must have.
        include, exclude: glob patterns choosing the folder's images (:func:`find_image_paths`). A folder whose
            images are partly label maps (:func:`looks_like_label_map`: the OASIS ``keras_png_slices_seg_*``
            folders beside the scans) is refused, naming the ``--dataset_exclude`` pattern that leaves them out.

    Returns:
        (C, *spatial) float32 tensors in [-1, 1], in file order (slices inferior to superior); volumes of a 3D
        model stay MetaTensors with their RAS affine.
    """
    if spatial_dims not in INTERPOLATION:
        raise BadInputError(f"spatial_dims {spatial_dims!r} is not supported; use 2 or 3.")
    if not (isinstance(channels, int) and channels > 0):
        raise BadInputError(f"channels {channels!r} is not a channel count; use 1 (grayscale) or 3 (RGB).")
    if not dataset_dir:
        volume = sample_volume()
        images = _prepare(volume, "the sample volume", spatial_dims)
        _check_channels(volume, "the sample volume", channels)
        return images
    images, paths = [], find_image_paths(dataset_dir, include, exclude)
    unreadable, label_maps = [], []
    for path in paths:
        try:
            image = load_image(path)
        except BadInputError as error:
            unreadable.append((path, error))
            continue
        if looks_like_label_map(image):
            label_maps.append(path)
        images.extend(_prepare(image, path, spatial_dims))
        if path == paths[0]:
            _check_channels(image, path, channels)
        elif image.shape[0] != channels:
            raise BadInputError(
                f"{path} has {image.shape[0]} channel(s) but {paths[0]} has {channels}; "
                "give images that all have the same number of channels."
            )
    _refuse_unreadable(unreadable, len(paths))
    root = Path(dataset_dir).expanduser()
    _refuse_mixed_label_maps(label_maps, [path for path in paths if path not in label_maps], root)
    return images


def _refuse_unreadable(unreadable: list[tuple[Path, BadInputError]], total: int) -> None:
    """One sentence naming every file of a folder that could not be read (the first :data:`MAX_NAMED`)."""
    if len(unreadable) == 1:
        raise unreadable[0][1]
    if unreadable:
        named = ", ".join(str(path) for path, _ in unreadable[:MAX_NAMED])
        more = f" and {len(unreadable) - MAX_NAMED} more" if len(unreadable) > MAX_NAMED else ""
        first = unreadable[0][1]
        reason = (str(first.__cause__).strip().splitlines() or [""])[0] if first.__cause__ else str(first)
        raise BadInputError(
            f"{len(unreadable)} of {total} images could not be read: {named}{more} (the first: {reason}); "
            "replace or remove them."
        )


def refuse_upscaling(images: Sequence[torch.Tensor], shape: Sequence[int], where: str) -> None:
    """Refuse a training set with images that ``shape`` would magnify more than :data:`MAX_UPSCALING` times along
    their longest side (a 1x2 px image trained as 64x64), naming how many and the smallest.

    Args:
        images: (C, *spatial) tensors as read.
        shape: the training shape per axis.
        where: the folder, for the sentence.
    """
    too_small = [image for image in images if MAX_UPSCALING * max(image.shape[1:]) < max(shape)]
    if too_small:
        smallest = min(too_small, key=lambda image: max(image.shape[1:]))
        size = "x".join(str(side) for side in smallest.shape[1:])
        raise BadInputError(
            f"{len(too_small)} of the {len(images)} images of {where} (the smallest {size} px) would be magnified "
            f"more than {MAX_UPSCALING}x to {'x'.join(map(str, shape))}; remove them or lower --image_size."
        )


def padded_sizes(sizes: Sequence[int], shape: Sequence[int]) -> list[int]:
    """The smallest sizes, each at least the image's own, with the proportions of ``shape``."""
    scale = max(size / target for size, target in zip(sizes, shape))
    return [max(size, math.ceil(scale * target - 1e-6)) for size, target in zip(sizes, shape)]


def fit_to_shape(image: torch.Tensor, shape: Sequence[int]) -> torch.Tensor:
    """Pad (C, *spatial) around its centre with its minimum to the proportions of ``shape`` (keeping the image's
    aspect ratio), then resize with antialiasing (:func:`medgan.layers.resize.resize_antialiased`) to
    (C, *shape); returns a plain float32 tensor."""
    padded = SpatialPad(padded_sizes(image.shape[1:], shape), value=float(image.min()))(image)
    return resize_antialiased(convert_to_tensor(padded, track_meta=False)[None].float(), [int(s) for s in shape])[0]


def fit_to_size(image: torch.Tensor, image_size: int) -> torch.Tensor:
    """:func:`fit_to_shape` to a square or cube of side ``image_size``."""
    return fit_to_shape(image, [image_size] * (image.ndim - 1))


def load_training_images(
    dataset_dir: str | Path | None,
    spatial_dims: int,
    image_size: int,
    channels: int = 1,
    allowed_sizes: tuple[int, ...] | None = ALLOWED_SIZES,
    include: str | Sequence[str] | None = None,
    exclude: str | Sequence[str] | None = None,
) -> torch.Tensor:
    """All training images in memory, checked, normalised, padded to a square/cube and resized.

    Args:
        dataset_dir: a folder of images (see the module docstring for the formats) or one image file;
            None or "" for the embedded sample data (the MNI152 T1, cut into axial slices for a 2D model).
        spatial_dims: 2 or 3.
        image_size: side of the output in pixels/voxels, one of ``allowed_sizes``.
        channels: channel count of the model; every image must have it (RGB needs ``channels=3``).
        allowed_sizes: the sizes the model supports, or None to accept any positive size.
        include, exclude: glob patterns choosing a folder's images (:func:`medgan.data.find_image_paths`).

    Returns:
        (N, channels, *[image_size] * spatial_dims) float32 in [-1, 1].

    Raises:
        BadInputError: on anything a user can fix, naming the file or folder.
    """
    validate_image_size(image_size, allowed_sizes)
    images = read_images(dataset_dir, spatial_dims, channels, include, exclude)
    refuse_upscaling(images, [image_size] * spatial_dims, str(dataset_dir) if dataset_dir else "the sample data")
    return torch.stack([fit_to_size(image, image_size) for image in images])


def _suffix(path: Path) -> str:
    name = path.name.lower()
    return ".nii.gz" if name.endswith(".nii.gz") else path.suffix.lower()


def load_image(path: Path) -> MetaTensor:
    """(C, *spatial) float32 as read; a folder is a DICOM series."""
    if path.is_dir() and not any(child.suffix.lower() == DICOM_SUFFIX for child in path.iterdir()):
        raise BadInputError(f"{path} is a folder without DICOM (.dcm) files; give an image file or a DICOM series.")
    if path.is_file() and _suffix(path) not in _READERS:
        raise BadInputError(f"{path} is not an image medgan reads ({FORMATS}); give an image file.")
    reader = SimpleITKReader() if path.is_dir() else _READERS[_suffix(path)]()
    try:
        return LoadImage(image_only=True, ensure_channel_first=True, dtype=np.float32)(str(path), reader=reader)
    except BadInputError:
        raise
    except Exception as error:
        reason = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise BadInputError(f"{path} could not be read ({reason}); replace or remove it.") from error


def _check_channels(image: torch.Tensor, name: str | Path, channels: int) -> None:
    found = image.shape[0]
    if found == channels:
        return
    if image.ndim == 4 and found > 1:  # (volumes, X, Y, Z): a 4D image, such as a time series
        raise BadInputError(
            f"{name} is a 4D image ({found} volumes of {'x'.join(map(str, image.shape[1:]))}); give one 3D volume "
            "per file."
        )
    if found == 3 and channels == 1:
        raise BadInputError(
            f"{name} is an RGB image but the model has channels=1; convert the images to grayscale or set channels=3."
        )
    raise BadInputError(f"{name} has {found} channel(s) but the model has channels={channels}; set channels={found}.")


def _prepare(image: MetaTensor, name: str | Path, spatial_dims: int) -> list[torch.Tensor]:
    """Check one image (C, *spatial) and return it normalised, or its foreground axial slices for a 2D model."""
    if image.ndim == 4 and image.shape[-1] == 1:  # a single-slice volume is a 2D image
        image = image[..., 0]
    if image.ndim - 1 not in INTERPOLATION:
        raise BadInputError(
            f"{name} has {image.ndim - 1} spatial dimensions (shape {tuple(image.shape[1:])}); "
            "give 2D images or 3D volumes."
        )
    if not torch.isfinite(image).all():
        raise BadInputError(f"{name} holds NaN or infinite values; fix or remove it.")
    if image.min() == image.max():
        raise BadInputError(f"{name} is blank (every value is {float(image.min())}); remove it.")
    if image.ndim - 1 < spatial_dims:
        raise BadInputError(
            f"{name} is a 2D image but the model is 3D (spatial_dims=3); give volumes "
            "(NIfTI, NRRD, MHA/MHD, DICOM series or 3D .npy) or train a 2D model."
        )
    if image.ndim - 1 == 2:
        return [normalize(image.as_tensor())[0]]
    image = Orientation(axcodes="RAS", labels=RAS_LABELS)(image)
    volume = normalize(image)[0]
    if spatial_dims == 3:
        return [volume]
    indices = foreground_slice_indices(image, MIN_SLICE_AREA_FRACTION)
    if indices.numel() == 0:
        raise BadInputError(f"{name} has no axial slice that stands out from its background; remove it.")
    return [axial_to_picture(volume.as_tensor()[..., index]) for index in indices.tolist()]
