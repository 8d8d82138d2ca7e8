"""FID, KID and precision/recall on the features of a user-supplied TorchScript network.

No feature network ships with medgan and nothing is downloaded: the user points ``feature_extractor`` at a
TorchScript file (``torch.jit.save``) that maps a batch of images (B, C, *spatial), values in [-1, 1] exactly as the
generator outputs them, to features (B, F) or feature maps (B, F, *spatial') (averaged over space here). The numbers
depend entirely on that network: they are comparable only between evaluations that used the same extractor file
(the file's name and SHA-256 are recorded with every figure). Inception-based FID values from natural-image papers
are not comparable with any of them.

- FID: Heusel et al. 2017, https://arxiv.org/abs/1706.08500, with MONAI's ``FIDMetric``.
- KID: Binkowski et al. 2018, https://arxiv.org/abs/1801.01401, with piq's ``KID`` (cubic polynomial kernel, mean of
  the unbiased MMD^2 over random subsets).
- Precision and recall: Kynkaanniemi et al. 2019, https://arxiv.org/abs/1904.06991, with piq's ``PR``
  (k-nearest-neighbour manifolds, k = 5).
- SIFID, for single-image GANs: Shaham et al. 2019 (SinGAN), the FID between the feature vectors at every position
  of the feature map of the real image and of one generated image, averaged over the generated images.
"""

from __future__ import annotations

import hashlib
import warnings
from pathlib import Path

import piq
import torch
from monai.metrics import FIDMetric

from medgan.errors import BadInputError
from medgan.metrics.checks import check_comparable, require_count
from medgan.metrics.result import MetricResult
from medgan.utils import seeded

FID_MIN_IMAGES = 2
KID_NUM_SUBSETS = 50
KID_MAX_SUBSET_SIZE = 1000
PR_NEAREST_K = 5
FEATURE_BATCH_SIZE = 16
HASH_CHUNK_BYTES = 1 << 20


def extractor_identity(path: str | Path) -> dict:
    """``{"feature_extractor": file name, "feature_extractor_sha256": digest}`` of an extractor file."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for chunk in iter(lambda: file.read(HASH_CHUNK_BYTES), b""):
            digest.update(chunk)
    return {"feature_extractor": Path(path).name, "feature_extractor_sha256": digest.hexdigest()}


def load_feature_extractor(
    path: str | Path, device: torch.device | str = "cpu", key: str = "feature_extractor"
) -> torch.jit.ScriptModule:
    """Load a TorchScript feature extractor in eval mode; ``key`` is the setting named in the refusals.

    Raises:
        BadInputError: when the file is missing or is not a TorchScript module.
    """
    if not Path(path).is_file():
        raise BadInputError(f"{key} {path} does not exist; set --{key} to a TorchScript file.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # torch >= 2.9 marks TorchScript as deprecated
            extractor = torch.jit.load(str(path), map_location=device)
    except Exception as error:
        raise BadInputError(
            f"{key} {path} is not a TorchScript file ({type(error).__name__}); save the network with "
            "torch.jit.save(torch.jit.script(net), path)."
        ) from error
    return extractor.eval()


@torch.no_grad()
def extract_features(
    extractor: torch.nn.Module, images: torch.Tensor, batch_size: int = FEATURE_BATCH_SIZE, pool: bool = True
) -> torch.Tensor:
    """Run ``extractor`` over ``images`` (N, C, *spatial) in batches.

    Args:
        pool: average feature maps over their spatial axes.

    Returns:
        (N, F) float64 if ``pool`` (or if the extractor returns vectors), else (N, F, *spatial') as returned.

    Raises:
        BadInputError: when the extractor fails on the images or returns something that is not (B, F[, *spatial]).
    """
    device = next(iter(extractor.parameters()), torch.empty(0)).device
    outputs = []
    for start in range(0, len(images), batch_size):
        batch = images[start : start + batch_size].to(device)
        try:
            features = extractor(batch)
        except Exception as error:
            raise BadInputError(
                f"the feature extractor fails on images of shape {tuple(batch.shape)} ({type(error).__name__}); "
                "give an extractor that takes the model's images."
            ) from error
        if not isinstance(features, torch.Tensor) or features.ndim < 2 or len(features) != len(batch):
            raise BadInputError(
                "the feature extractor must return a tensor (B, F) or (B, F, *spatial); give one that does."
            )
        if pool and features.ndim > 2:
            features = features.flatten(2).mean(dim=2)
        outputs.append(features.double().cpu())
    return torch.cat(outputs)


def _fid(real_features: torch.Tensor, generated_features: torch.Tensor) -> float:
    return float(FIDMetric()(generated_features.double(), real_features.double()))


def feature_distribution_metrics(
    real_features: torch.Tensor, generated_features: torch.Tensor, identity: dict, seed: int = 0
) -> list[MetricResult]:
    """FID, KID, precision and recall between two sets of feature vectors (see the module docstring).

    Args:
        real_features: (N, F), N >= 6 (precision/recall need more than k = 5 neighbours).
        generated_features: (M, F), M >= 6.
        identity: the extractor's :func:`extractor_identity`, recorded in every figure's settings.
        seed: seeds KID's random subsets.
    """
    minimum = PR_NEAREST_K + 1
    for features, role in ((real_features, "real"), (generated_features, "generated")):
        require_count(features, minimum, role, f"precision/recall (k = {PR_NEAREST_K} nearest neighbours)")
    samples = {"real": len(real_features), "generated": len(generated_features)}
    settings = {**identity, "feature_dim": real_features.shape[1]}
    note = "on the features of the given extractor: comparable only with figures computed with the same file."
    subset_size = min(len(real_features), len(generated_features), KID_MAX_SUBSET_SIZE)
    with seeded(seed):  # piq draws KID's subsets from torch's global RNG
        kid = piq.KID(average=True, n_subsets=KID_NUM_SUBSETS, subset_size=subset_size)
        kid_value = float(kid(real_features.float(), generated_features.float()))
    precision, recall = piq.PR(nearest_k=PR_NEAREST_K)(real_features.float(), generated_features.float())
    return [
        MetricResult("fid", _fid(real_features, generated_features), samples, settings, False, note=note),
        MetricResult(
            "kid",
            kid_value,
            samples,
            {**settings, "kernel": "cubic polynomial", "subsets": KID_NUM_SUBSETS, "subset_size": subset_size},
            False,
            note=note,
        ),
        MetricResult("precision", float(precision), samples, {**settings, "nearest_k": PR_NEAREST_K}, True, note=note),
        MetricResult("recall", float(recall), samples, {**settings, "nearest_k": PR_NEAREST_K}, True, note=note),
    ]


def single_image_fid(
    extractor: torch.nn.Module, real: torch.Tensor, generated: torch.Tensor, identity: dict
) -> MetricResult | None:
    """SIFID (see the module docstring) between one real image (1, C, *spatial) and generated images (M, C, *spatial).

    Returns:
        the figure, or None when the extractor returns vectors (B, F) (SIFID needs feature maps) or maps with fewer
        than two positions.
    """
    check_comparable(real, generated)
    real_map = extract_features(extractor, real, pool=False)
    if real_map.ndim < 3 or real_map[0].flatten(1).shape[1] < FID_MIN_IMAGES:
        return None
    real_vectors = real_map[0].flatten(1).T
    generated_maps = extract_features(extractor, generated, pool=False)
    values = torch.tensor([_fid(real_vectors, sample.flatten(1).T) for sample in generated_maps])
    return MetricResult(
        "sifid",
        float(values.mean()),
        {"real": 1, "generated": len(generated), "positions": real_vectors.shape[0]},
        {**identity, "feature_dim": real_vectors.shape[1]},
        False,
        details={"std_over_samples": float(values.std()) if len(values) > 1 else 0.0},
        note="single-image FID on the given extractor's feature maps: comparable only with the same file.",
    )
