"""Streaming prediction over dataset files of any size (chunked, resumable,
incremental, optionally on Dask), the per-star emulator fit (refine), and the
catalogue writer."""

from .catalogue import read_catalogue_table, write_catalogue
from .inputs import expand_inputs
from .refine import refine_file
from .runner import DEFAULT_CHUNK, predict_survey
from .settings import has_unfinished_run, parts_folder
from .stream import predict_file

__all__ = [
    "DEFAULT_CHUNK",
    "expand_inputs",
    "has_unfinished_run",
    "parts_folder",
    "predict_file",
    "predict_survey",
    "read_catalogue_table",
    "refine_file",
    "write_catalogue",
]
