"""medgan's command line: ``python -m medgan pack bundles/<name> --out DIR`` (see :mod:`medgan.pack`) and
``python -m medgan onnx_export bundles/<name>`` (``models/model.onnx``, see :mod:`medgan.onnx_export`).

Input a user can fix ends the command with one ``medgan: ...`` sentence and exit status 1.
"""

from __future__ import annotations

import sys

import fire

from medgan.errors import BadInputError
from medgan.onnx_export import onnx_export
from medgan.pack import pack


def main() -> None:
    try:
        fire.Fire({"pack": pack, "onnx_export": onnx_export}, name="medgan")
    except BadInputError as error:
        print(f"medgan: {error}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
