# On PYTHONPATH, this hides the real pillow_heif: `make test` runs the
# HEIF tests again as on an installation without the `heif` extra.
raise ImportError("pillow_heif is hidden for this test run")
