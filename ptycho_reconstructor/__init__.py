"""Ptychodus adapter: PtychoPINN as an in-process Ptychodus reconstructor library.

Importing this package loads nothing heavy (no Ptychodus, no backend). The pieces:

- :mod:`ptycho_reconstructor.library`: the ``PtychoPINNx`` ``ReconstructorLibrary``;
- :mod:`ptycho_reconstructor.reconstructors`: ``PINN``, ``Supervised`` and ``PINN-Fit``;
- :mod:`ptycho_reconstructor.settings`: the Ptychodus settings groups and settings -> configs;
- :mod:`ptycho_reconstructor.convert`: pure Ptychodus <-> ``ptycho`` data conversions;
- :mod:`ptycho_reconstructor.training_data`: training-data export and discovery;
- :mod:`ptycho_reconstructor.execution`: in-process backend runs with per-epoch progress;
- :mod:`ptycho_reconstructor.model_slot`: the loaded model;
- :mod:`ptycho_reconstructor.gui`: the settings panel (PyQt5);
- :mod:`ptycho_reconstructor.registration`: ``install()``, which registers all of the above
  with Ptychodus (called by the ``ptychodus.plugins.ptychopinn_hook`` hook and by the
  ``ptychodus-ptychopinn`` launcher, :mod:`ptycho_reconstructor.launcher`).

See ``specs/ptychodus_api_spec.md`` section 5.
"""

__all__: list[str] = []
