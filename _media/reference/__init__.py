"""Pure-Python/NumPy reference implementations of the _media kernels (used by the tests)."""
