"""NumPy reference physics: translation, forward model, object_big merge, noise."""
