"""Plot functions: data in, ``(fig, axes)`` out; matplotlib imported lazily, Agg backend."""
