"""medgan: MONAI Bundles for medical-image GANs, and the n-D layers, networks and workflows they share."""

__version__ = "0.1.0"
