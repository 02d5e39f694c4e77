"""What a ``wts.h5.zip`` model archive holds: its file name, member names and format versions.

An archive is one zip file of three members: ``manifest.json`` (:mod:`ptycho.archive.manifest`),
the weights in a non-executable format (``weights.weights.h5`` for Keras,
``weights.safetensors`` for torch, named by ``manifest["weights_file"]``) and ``probe.npy``
(:mod:`ptycho.archive.probe_member`).
"""

from __future__ import annotations

__all__ = [
    "ARCHIVE_FORMAT_VERSION",
    "ARCHIVE_NAME",
    "MANIFEST_NAME",
    "PROBE_NAME",
    "READABLE_VERSIONS",
]

#: Version of the archive layout; bump when the manifest or members change incompatibly.
#: Version 2 added ``model_config["architecture"]``; version 1 archives are all ``'cnn'``.
ARCHIVE_FORMAT_VERSION = 2
#: Older versions this release still reads (upgraded in memory by :func:`read_archive`).
READABLE_VERSIONS = (1, ARCHIVE_FORMAT_VERSION)
#: The archive's conventional file name (what Ptychodus's built-in client expects).
ARCHIVE_NAME = "wts.h5.zip"
MANIFEST_NAME = "manifest.json"
PROBE_NAME = "probe.npy"
