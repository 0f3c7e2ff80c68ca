# The two set-up commands of the README: `make serve` and `make test`.
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
SOURCES := pyproject.toml setup.py ci/install-deps $(wildcard _media/*.pyx _media/*.pxd _media/*.pxi include/*.pxd include/*.h)

.PHONY: install serve test bench wheel clean

$(STAMP): $(SOURCES)
	ci/install-deps

install: $(STAMP)

## start the main job: the TCP API service on 127.0.0.1:18620
serve: $(STAMP)
	$(VENV)/bin/sipctl serve

## the whole test suite (unit, golden, wheel, benchmark smoke runs)
test: $(STAMP)
	$(PY) -m pytest

## benchmark table against peers measured in the same run
bench: $(STAMP)
	$(PY) -m bench

wheel: $(STAMP)
	$(PY) -m build --wheel --no-isolation --outdir dist

clean:
	rm -rf build dist *.egg-info _media/*.so _media/*.c $(VENV)
