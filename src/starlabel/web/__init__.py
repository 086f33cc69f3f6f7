"""``starlabel serve``: a local web app over a folder of datasets, catalogues and
models (optional extra: ``pip install 'starlabel[web]'``)."""
