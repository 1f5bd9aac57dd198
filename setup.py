from setuptools import Extension, find_packages, setup

with open("README.txt") as f:
    long_description = f.read()

setup(
    name="ZoomifyImage",
    version="2.0.dev0",
    description="Deep-zoom Zoomify tiles for very large images in Zope",
    long_description=long_description,
    long_description_content_type="text/plain",
    license="ZPL-2.1",
    classifiers=[
        "Framework :: Zope",
        "Framework :: Zope :: 6",
        "License :: OSI Approved :: Zope Public License",
        "Programming Language :: Python :: 3",
    ],
    packages=find_packages(exclude=["tests", "benchmarks"]),
    # the pyramid's 2x2 box mean on its own row buffers (a C compiler and
    # Python's headers are needed to install from source)
    ext_modules=[Extension("ZoomifyImage.pyramid._boxmean",
                           ["ZoomifyImage/pyramid/_boxmean.c"],
                           extra_compile_args=["-O3"])],
    include_package_data=True,
    zip_safe=False,
    python_requires=">=3.10",
    install_requires=[
        "Pillow>=10",
        "numpy>=1.24",
        "tqdm",
        "Zope[wsgi]>=6.0",
        "ZODB",
        "BTrees",
        "transaction",
    ],
    extras_require={
        "vips": ["pyvips[binary]>=2.2"],
        # tiled and compressed TIFF/BigTIFF, each stored tile decoded once
        "tiff": ["tifffile>=2023.7.10", "imagecodecs>=2023.7.10"],
        # JPEG 2000 by regions (glymur needs the OpenJPEG library, e.g.
        # Debian's libopenjp2-7)
        "jp2": ["glymur>=0.12"],
        # whole-slide images (the OpenSlide library comes in openslide-bin)
        "slide": ["openslide-python>=1.4", "openslide-bin>=4.0"],
        "zeo": ["ZEO"],
        "test": [
            "pytest",
            "psutil",
            "zope.testbrowser",
            "WebTest",
            "ZEO",
            "playwright",
            "iiif-validator",
            "tuspy",
            "ruff",
        ],
    },
    entry_points={
        "console_scripts": [
            "zoomify-tile = ZoomifyImage.cli:tile_main",
            "zoomify-import = ZoomifyImage.cli:import_main",
        ],
    },
)
