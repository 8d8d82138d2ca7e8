"""Make the embedded sample volume ``medgan/data/assets/mni152_t1_1.5mm.nii.gz`` from a nilearn wheel.

Kept in the repository for provenance: the asset is the MNI ICBM152 2009a nonlinear symmetric T1 template
(brain only, 197x233x189 at 1 mm, RAS) as the nilearn wheel ships it, resampled to 1.5 mm isotropic.

Resampling: a Gaussian pre-filter with sigma = (1.5 - 1) / 2 voxels (scikit-image's and MONAI's anti-aliasing
rule for a downscale factor of 1.5), then cubic B-spline interpolation on a 1.5 mm grid that has the same centre
as the source field of view and ``round(n / 1.5)`` voxels per axis. The affine is the source affine composed
with that voxel-to-voxel map, written to both the sform and the qform. Intensities keep the template's units
(0-255) and are stored as uint8 (the source is uint8 too), gzip-compressed.

Usage::

    python tools/make_sample_data.py /path/to/nilearn-0.14.1-py3-none-any.whl
"""

import argparse
import gzip
import zipfile
from pathlib import Path

import nibabel as nib
import numpy as np
from scipy import ndimage

TEMPLATE_MEMBER = "nilearn/datasets/data/mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz"
TARGET_SPACING_MM = 1.5
SPLINE_ORDER = 3
DEFAULT_OUTPUT = Path(__file__).resolve().parents[1] / "medgan" / "data" / "assets" / "mni152_t1_1.5mm.nii.gz"


def read_template(wheel_path: str) -> nib.Nifti1Image:
    """Read the 1 mm T1 template out of a nilearn wheel (a zip) without installing nilearn."""
    with zipfile.ZipFile(wheel_path) as wheel:
        compressed = wheel.read(TEMPLATE_MEMBER)
    return nib.Nifti1Image.from_bytes(gzip.decompress(compressed))


def resample_isotropic(image: nib.Nifti1Image, spacing_mm: float) -> nib.Nifti1Image:
    """Resample a NIfTI image to ``spacing_mm`` isotropic voxels with anti-aliasing.

    Returns a float64 image of shape ``round(n_i * s_i / spacing_mm)`` per axis (``s_i`` the source spacing),
    centred on the source field of view, with the matching affine.
    """
    source = image.get_fdata(dtype=np.float64)
    source_spacing = np.asarray(image.header.get_zooms()[:3], dtype=np.float64)
    step = spacing_mm / source_spacing  # source voxels per target voxel, per axis
    target_shape = tuple(int(round(n / s)) for n, s in zip(source.shape, step))
    offset = (np.asarray(source.shape) - 1) / 2 - (np.asarray(target_shape) - 1) / 2 * step

    sigma = np.maximum((step - 1) / 2, 0)
    smoothed = ndimage.gaussian_filter(source, sigma=sigma)
    resampled = ndimage.affine_transform(
        smoothed, np.diag(step), offset=offset, output_shape=target_shape, order=SPLINE_ORDER, mode="nearest"
    )

    voxel_map = np.eye(4)
    voxel_map[:3, :3] = np.diag(step)
    voxel_map[:3, 3] = offset
    return nib.Nifti1Image(resampled, image.affine @ voxel_map)


def to_uint8_nifti(image: nib.Nifti1Image, description: str) -> nib.Nifti1Image:
    """Round and clip to uint8 (no scaling) and set sform/qform (aligned to MNI space) and mm units."""
    data = np.clip(np.rint(image.get_fdata()), 0, 255).astype(np.uint8)
    out = nib.Nifti1Image(data, image.affine)
    out.header.set_data_dtype(np.uint8)
    out.set_sform(image.affine, code="mni")
    out.set_qform(image.affine, code="mni")
    out.header.set_xyzt_units(xyz="mm")
    out.header["descrip"] = description.encode()[:79]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("wheel", help="path to a nilearn wheel (.whl) that carries the MNI152 2009a template")
    parser.add_argument("--output", default=str(DEFAULT_OUTPUT), help="where to write the .nii.gz asset")
    args = parser.parse_args()

    template = read_template(args.wheel)
    resampled = resample_isotropic(template, TARGET_SPACING_MM)
    asset = to_uint8_nifti(resampled, f"MNI ICBM152 2009a sym T1 (nilearn) {TARGET_SPACING_MM} mm")
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    nib.save(asset, args.output)
    print(
        f"{args.output}: shape {asset.shape}, spacing {asset.header.get_zooms()}, {Path(args.output).stat().st_size} B"
    )


if __name__ == "__main__":
    main()
