"""The speed layer: code that makes training fast without changing its results (docs/performance.md)."""
