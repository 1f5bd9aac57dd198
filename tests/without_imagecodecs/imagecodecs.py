# On PYTHONPATH, this hides the real imagecodecs: `make test` runs the
# pixel tests a third time as on an installation without the `tiff` extra
# (tiles then encoded by Pillow, not from numpy views).
raise ImportError("imagecodecs is hidden for this test run")
