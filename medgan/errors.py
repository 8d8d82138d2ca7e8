"""The one exception type medgan raises for input a user can fix, and how it reaches the user."""

from __future__ import annotations

import sys


class BadInputError(ValueError):
    """Input that cannot be trained or generated from, explained in one sentence.

    The message says what is wrong and what to change, e.g.
    ``"dataset_dir /data/x holds no images (PNG, JPEG, NIfTI, NRRD, MHA, DICOM or .npy); point --dataset_dir at a
    folder of images."``. It is raised before any training starts, so nothing the user had is touched.
    """


def find_bad_input(error: BaseException | None) -> BadInputError | None:
    """The :class:`BadInputError` behind ``error`` (MONAI's config parser wraps it in ``RuntimeError``s), if any."""
    seen = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, BadInputError):
            return error
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return None


def report_bad_input_briefly() -> None:
    """Make an uncaught :class:`BadInputError` print its one sentence instead of a page of traceback.

    A bundle config calls this first thing in ``initialize``; any other exception keeps the full traceback.
    """
    previous_hook = sys.excepthook

    def hook(kind, error, traceback):
        bad_input = find_bad_input(error)
        if bad_input is None:
            previous_hook(kind, error, traceback)
        else:
            print(f"medgan: {bad_input}", file=sys.stderr)

    sys.excepthook = hook
