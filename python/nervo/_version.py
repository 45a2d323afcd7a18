"""The one place nervo's version is written (pyproject.toml and CMake read it from here)."""
__version__ = "0.1.0"
