"""Streaming prediction over dataset files of any size, the per-star emulator fit
(refine), and the catalogue writer."""

from .catalogue import read_catalogue_table, write_catalogue
from .refine import refine_file
from .stream import predict_file

__all__ = ["predict_file", "read_catalogue_table", "refine_file", "write_catalogue"]
