# make install: .venv with the product (editable) and everything the tests need
# make test:    install what is missing, then run the whole test suite

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install test clean start

install: $(STAMP)

$(STAMP): setup.py
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[vips,test]'
	touch $(STAMP)

test: install
	$(BIN)/python -m pytest tests

clean:
	rm -rf $(VENV) build *.egg-info

# make start: a Zope instance in var/instance, in the foreground
HOST ?= 127.0.0.1
PORT ?= 8080
INSTANCE ?= var/instance

.PHONY: start
start: install
	$(BIN)/python -m ZoomifyImage.instance $(INSTANCE) --host $(HOST) --port $(PORT)
	exec $(BIN)/runwsgi $(INSTANCE)/etc/zope.ini
