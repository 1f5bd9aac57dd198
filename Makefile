# make install: .venv with the product (editable) and everything the tests need
# make test:    install what is missing, then run the whole test suite
# make install-plone: .venv-plone, the same product with Plone 6.2 (the
#               `plone` extra) for tests_plone/ and make start-plone

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# OpenSeadragon from the npm package pinned in package-lock.json, shipped
# inside the product (not committed: see .gitignore)
OSD := ZoomifyImage/static/openseadragon
OSD_STAMP := $(OSD)/openseadragon.min.js
# tus-js-client (resumable uploads of the add and edit forms), likewise
TUS := ZoomifyImage/static/tus
TUS_STAMP := $(TUS)/tus.min.js
# Mirador (its prebuilt UMD bundle, React included) and OpenLayers (its
# full build, ol.js and ol.css), likewise: the IIIF viewers of docs/iiif.txt
MIRADOR := ZoomifyImage/static/mirador
MIRADOR_STAMP := $(MIRADOR)/mirador.min.js
OL := ZoomifyImage/static/ol
OL_STAMP := $(OL)/ol.js

# Debian packages: tools/system-packages says which each step needs and
# why, and installs the missing ones with apt-get only as root (CI runs
# `make test` as root on a fresh clone); APT=no never installs, it only
# says what is missing. `make prerequisites` lists them all.
APT ?= auto
PACKAGES := APT=$(APT) PYTHON=$(PYTHON) tools/system-packages

.PHONY: install test clean start prerequisites static

# Plone in a venv of its own: Zope initialises every installed Products.*
# package at start-up, so Plone's in .venv would change the bare Zope
# that the rest of the suite starts (and tests that bare Zope works
# without Plone)
PLONE_VENV := .venv-plone
PLONE_BIN := $(PLONE_VENV)/bin
PLONE_STAMP := $(PLONE_VENV)/.installed

install: $(STAMP) static openjpeg

prerequisites:
	@APT=no PYTHON=$(PYTHON) tools/system-packages build static jp2 test \
	  || true

$(STAMP): setup.py pyproject.toml ZoomifyImage/pyramid/_boxmean.c
	@echo "make install: Debian packages for the C box mean"
	@$(PACKAGES) build
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	# uv, as .venv-plone: one downloader and one cache for both venvs,
	# so make test's Plone stage fetches no wheel the first one did
	$(BIN)/pip install -q uv
	$(BIN)/uv pip install -q --python $(BIN)/python \
	    -e '.[vips,tiff,jp2,slide,heif,s3,test]'
	# the IIIF Presentation 3 models the tests check manifests with: its
	# metadata pins Pillow <= 12.0.0 for an image helper we never call, so
	# it goes in without its dependencies (pydantic and requests are in the
	# test extra), beside our Pillow
	$(BIN)/uv pip install -q --python $(BIN)/python --no-deps \
	    'iiif-prezi3==3.1.1'
	@$(BIN)/python -c "from ZoomifyImage.pyramid import boxmean; print('make install: the box mean is', 'the C (_boxmean.c)' if boxmean.compiled else 'numpy (the C was not compiled)')"
	touch $(STAMP)

install-plone: $(PLONE_STAMP) static

$(PLONE_STAMP): setup.py pyproject.toml ZoomifyImage/pyramid/_boxmean.c
	@$(PACKAGES) build
	test -x $(PLONE_BIN)/python || $(PYTHON) -m venv $(PLONE_VENV)
	# uv, not pip: about 290 packages, which pip fetches one after the
	# other (5-6 min on a clean clone here) and uv at once (30 s)
	$(PLONE_BIN)/pip install -q uv
	# with pyvips, as bare Zope: without it a JPEG over 100 megapixels is
	# refused (docs/plone.txt)
	$(PLONE_BIN)/uv pip install -q --python $(PLONE_BIN)/python \
	    -e '.[plone,plone-test,vips]'
	touch $(PLONE_STAMP)

.PHONY: install-plone test-plone
# the Plone tests, in .venv-plone (tests_plone/conftest.py)
test-plone: install-plone
	$(PLONE_BIN)/python -m pytest -rs -p no:cacheprovider tests_plone

# the viewers' JavaScript, from package-lock.json (no venv needed)
static: $(OSD_STAMP) $(TUS_STAMP) $(MIRADOR_STAMP) $(OL_STAMP)

$(OSD_STAMP): package.json package-lock.json
	@echo "make install: Debian packages for the viewers' JavaScript"
	@$(PACKAGES) static
	npm ci --ignore-scripts --no-audit --no-fund
	rm -rf $(OSD)
	mkdir -p $(OSD)
	cp -r node_modules/openseadragon/build/openseadragon/images $(OSD)/
	cp node_modules/openseadragon/build/openseadragon/openseadragon.min.js \
	   node_modules/openseadragon/LICENSE.txt $(OSD)/

$(TUS_STAMP): package.json package-lock.json $(OSD_STAMP)
	test -f node_modules/tus-js-client/dist/tus.min.js || npm ci --ignore-scripts --no-audit --no-fund
	rm -rf $(TUS)
	mkdir -p $(TUS)
	cp node_modules/tus-js-client/dist/tus.min.js \
	   node_modules/tus-js-client/LICENSE $(TUS)/

$(MIRADOR_STAMP): package.json package-lock.json $(OSD_STAMP)
	test -f node_modules/mirador/dist/mirador.min.js || npm ci --ignore-scripts --no-audit --no-fund
	rm -rf $(MIRADOR)
	mkdir -p $(MIRADOR)
	cp node_modules/mirador/dist/mirador.min.js \
	   node_modules/mirador/LICENSE $(MIRADOR)/

$(OL_STAMP): package.json package-lock.json $(OSD_STAMP)
	test -f node_modules/ol/dist/ol.js || npm ci --ignore-scripts --no-audit --no-fund
	rm -rf $(OL)
	mkdir -p $(OL)
	cp node_modules/ol/dist/ol.js node_modules/ol/ol.css \
	   node_modules/ol/LICENSE.md $(OL)/

# the jp2 engine (glymur) needs the OpenJPEG library: Debian's libopenjp2-7;
# where it is missing the JPEG 2000 tests skip and say why
openjpeg:
	@echo "make install: Debian packages for the jp2 engine"
	@$(PACKAGES) jp2

.PHONY: openjpeg

# Debian packages the tests run as real parts: Chromium for the browser
# tests (never a downloaded browser), nginx (as www-data) and wrk for the
# front-end and load tests, libmagic for iiif-validator; where they are
# missing those tests skip and say why
system:
	@echo "make test: Debian packages for the tests"
	@$(PACKAGES) test

.PHONY: system
# the zopefoundation projects' lint (flake8 and isort with
# force_single_line), as ruff rules: ruff.toml
lint: install
	$(BIN)/ruff check ZoomifyImage tests tests_plone benchmarks
	# no module but content.py reaches into the image (issue 24)
	$(BIN)/python tools/check_image_privates.py ZoomifyImage

.PHONY: lint
test: install system lint
	# two processes, each taking whole test files (module-scoped servers
	# stay in one process); the variants below are small and run in one
	$(BIN)/python -m pytest -rs -n 2 --dist loadfile tests
	# again without pyvips, as installed without the `vips` extra
	PYTHONPATH=tests/without_pyvips $(BIN)/python -m pytest -q -rs \
	    tests/test_layout.py tests/test_pixels.py tests/test_errors.py \
	    tests/test_cli.py tests/test_streaming.py \
	    tests/test_broken_images.py tests/test_formats.py
	# and without pillow-heif, as installed without the `heif` extra (with
	# and without pyvips: a HEIC is refused as unsupported, never damaged)
	PYTHONPATH=tests/without_pillow_heif $(BIN)/python -m pytest -q -rs \
	    -k "heif or heic" tests/test_broken_images.py tests/test_formats.py
	PYTHONPATH=tests/without_pillow_heif:tests/without_pyvips \
	    $(BIN)/python -m pytest -q -rs -k "heif or heic" tests/test_formats.py
	# and without imagecodecs, as installed without the `tiff` extra
	PYTHONPATH=tests/without_imagecodecs $(BIN)/python -m pytest -q -rs \
	    tests/test_pixels.py tests/test_modes.py tests/test_uncompressed.py \
	    tests/test_streaming.py
	# and with numpy's box mean, as installed without a C compiler
	PYTHONPATH=tests/without_boxmean_c $(BIN)/python -c "from ZoomifyImage.pyramid import boxmean; assert not boxmean.compiled"
	PYTHONPATH=tests/without_boxmean_c $(BIN)/python -m pytest -q -rs \
	    tests/test_pixels.py tests/test_modes.py tests/test_cli.py
	# Plone 6.2 with the add-on, in its own venv
	$(MAKE) test-plone

clean:
	rm -rf $(VENV) $(PLONE_VENV) build *.egg-info node_modules $(OSD) $(TUS) $(MIRADOR) $(OL)
	rm -f ZoomifyImage/pyramid/_boxmean*.so

# make start: a Zope instance in var/instance, in the foreground
HOST ?= 127.0.0.1
PORT ?= 8080
INSTANCE ?= var/instance

.PHONY: start
start: install
	$(BIN)/python -m ZoomifyImage.instance $(INSTANCE) --host $(HOST) --port $(PORT)
	exec $(BIN)/runwsgi $(INSTANCE)/etc/zope.ini

# make start-plone: a Plone 6.2 Classic UI site "Plone" with the Zoomify
# Image add-on (made once, tools/plone_site.py) in var/plone-instance, on
# HOST:PORT with ZOPE_ADMIN as make start; docs/plone.txt
PLONE_INSTANCE ?= var/plone-instance

.PHONY: start-plone
start-plone: install-plone
	$(PLONE_BIN)/python -m ZoomifyImage.instance $(PLONE_INSTANCE) --host $(HOST) --port $(PORT)
	$(PLONE_BIN)/zconsole run $(PLONE_INSTANCE)/etc/zope.conf tools/plone_site.py
	exec $(PLONE_BIN)/runwsgi $(PLONE_INSTANCE)/etc/zope.ini

# make start-cluster: PostgreSQL, two Zope clients on it and nginx in
# front (on HOST:PORT), in the foreground under honcho; docs/cluster.txt
CLUSTER ?= var/cluster

.PHONY: start-cluster
start-cluster: install
	test -x $(BIN)/honcho || $(BIN)/pip install -q -e '.[cluster]'
	exec $(BIN)/python tools/start_cluster.py $(CLUSTER) --host $(HOST) --port $(PORT)
