# On PYTHONPATH, this hides the real pyvips: `make test` runs the tiler's
# tests a second time as on an installation without the `vips` extra.
raise ImportError("pyvips is hidden for this test run")
