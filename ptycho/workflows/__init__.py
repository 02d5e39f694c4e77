"""Workflow entry points (TensorFlow components and the backend dispatcher)."""
