"""MONAI Deploy App SDK operators for medgan bundles (:mod:`medgan.deploy.operators`; needs
``monai-deploy-app-sdk``, which runs on Holoscan). The work they do is in :mod:`medgan.serving`, usable without it."""
