"""Workflow functions of the PyTorch backend (see :mod:`ptycho_torch.workflows.components`)."""
