"""Streaming prediction over dataset files of any size, and the catalogue writer."""

from .catalogue import read_catalogue_table, write_catalogue
from .stream import predict_file

__all__ = ["predict_file", "read_catalogue_table", "write_catalogue"]
