"""Spectral normalisation of every convolution and linear layer of a network (Miyato et al. 2018).

torch's ``torch.nn.utils.parametrizations.spectral_norm`` does the normalisation; these two functions apply it
to a whole network and take it off again. A parametrized network renames its state-dict keys
(``weight`` -> ``parametrizations.weight.original``) and cannot be scripted, so a network is exported to
TorchScript only after :func:`remove_spectral_norm`.
"""

from __future__ import annotations

from torch import nn
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import spectral_norm

NORMALISED_LAYERS = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose2d, nn.ConvTranspose3d, nn.Linear)


def apply_spectral_norm(network: nn.Module, n_power_iterations: int = 1) -> nn.Module:
    """Parametrize the ``weight`` of every convolution and linear layer of ``network`` in place; returns it."""
    for module in network.modules():
        if isinstance(module, NORMALISED_LAYERS) and not parametrize.is_parametrized(module, "weight"):
            spectral_norm(module, n_power_iterations=n_power_iterations)
    return network


def remove_spectral_norm(network: nn.Module) -> nn.Module:
    """Fold the current normalised weights back into plain ``weight`` tensors, in place; returns ``network``."""
    for module in network.modules():
        if parametrize.is_parametrized(module, "weight"):
            parametrize.remove_parametrizations(module, "weight", leave_parametrized=True)
    return network
