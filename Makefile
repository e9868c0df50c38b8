# ContrastDM for QGIS: set-up, demo, tests, benchmarks, packaging.
SHELL := /bin/bash
SYSTEM_PYTHON := /usr/bin/python3
VENV := .venv
PY := $(VENV)/bin/python
DEMO_DIR := demo_output
PLUGIN := contrastdm_qgis
QGIS_PROFILE ?= $(HOME)/.local/share/QGIS/QGIS3/profiles/default

export PROJ_DATA := /usr/share/proj
export QT_QPA_PLATFORM := offscreen
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: setup demo test test-fast lint bench bench-heldout bench-quick bench-speed gpu-check screenshots translations zip deploy clean

setup: $(VENV)/.installed

# One line per step; the packages' own output goes to $(SETUP_LOG), shown only when a step fails.
SETUP_LOG := build/setup.log
define step
	@printf 'setup: %s\n' $(1)
	@( $(2) ) >>$(SETUP_LOG) 2>&1 || { echo "setup failed at: "$(1)"; last lines of $(SETUP_LOG):"; \
	    tail -n 30 $(SETUP_LOG); exit 1; }
endef

$(VENV)/.installed: requirements.txt requirements-dev.txt pyproject.toml scripts/install_system_packages.sh
	@mkdir -p build && : > $(SETUP_LOG)
	$(call step,"Debian packages (QGIS, GDAL, rasterio, geopandas)",scripts/install_system_packages.sh)
	$(call step,"virtual environment $(VENV) (system site packages)",test -x $(PY) || $(SYSTEM_PYTHON) -m venv --system-site-packages $(VENV))
	$(call step,"Python packages (torch==2.13.0 CPU build and the tools)",$(PY) -m pip install -r requirements.txt -r requirements-dev.txt)
	$(call step,"the engine (editable install)",$(PY) -m pip install --no-deps --no-build-isolation -e .)
	@$(PY) -c "import contrastdm, torch, rasterio, geopandas, qgis.core; print('setup: done: engine', contrastdm.__version__, '| torch', torch.__version__, '| rasterio', rasterio.__version__)"
	@touch $@

# The main job on the real Indian Pines scene: data -> training polygons -> train -> map -> report.
demo: setup
	$(PY) -m contrastdm dataset indian-pines --output-dir $(DEMO_DIR)/data
	$(PY) -m contrastdm run \
	    --raster $(DEMO_DIR)/data/indian_pines.tif \
	    --vector $(DEMO_DIR)/data/training.gpkg --class-field class_name \
	    --test-vector $(DEMO_DIR)/data/validation.gpkg \
	    --model $(DEMO_DIR)/indian_pines_model.safetensors \
	    --output $(DEMO_DIR)/indian_pines_classes.tif \
	    --confidence $(DEMO_DIR)/indian_pines_confidence.tif \
	    --report $(DEMO_DIR)/indian_pines_report.html

test: setup
	$(PY) -m pytest -q -p no:cacheprovider --timeout=600 tests

test-fast: setup
	$(PY) -m pytest -q -p no:cacheprovider -m "not slow" tests

lint: setup
	$(PY) -m ruff check core contrastdm_qgis tests benchmarks scripts

bench: setup
	PYTHONPATH=benchmarks $(PY) -m contrastdm_bench --output-dir benchmarks/results

# The blocks protocol on new rectangle draws (seeds 5-9), none of which shaped the method's defaults.
bench-heldout: setup
	PYTHONPATH=benchmarks $(PY) -m contrastdm_bench --output-dir benchmarks/heldout --protocols blocks --seeds 5,6,7,8,9 \
		--methods svm,rf,mlp1d,cnn,ssftt,contrastdm

# Classification pixels/s and peak memory at two scene sizes (needs the demo's model).
bench-speed: setup
	test -f $(DEMO_DIR)/indian_pines_model.safetensors || $(MAKE) demo
	$(PY) benchmarks/classify_speed.py --model $(DEMO_DIR)/indian_pines_model.safetensors --sizes 512 1024

# On a machine with CUDA: the demo on the GPU, a 1-process torchrun run and classification speed, each
# timed, with the GPU model, into benchmarks/gpu/gpu_check.{json,md}.
gpu-check: setup
	$(PY) benchmarks/gpu_check.py --output-dir benchmarks/gpu

bench-quick: setup
	PYTHONPATH=benchmarks $(PY) -m contrastdm_bench --quick --output-dir benchmarks/results-quick

# Screenshots of the real QGIS desktop (under Xvfb) for docs/screenshots/.
screenshots: setup
	test -f $(DEMO_DIR)/indian_pines_classes.tif || $(MAKE) demo
	test -f $(DEMO_DIR)/indian_pines_sites.gpkg || $(PY) -m contrastdm suggest --progress none \
	    --raster $(DEMO_DIR)/data/indian_pines.tif --model $(DEMO_DIR)/indian_pines_model.safetensors \
	    --output $(DEMO_DIR)/indian_pines_sites.gpkg --count 20
	QT_QPA_PLATFORM= xvfb-run -a -s "-screen 0 1600x1000x24" qgis --nologo --noversioncheck \
	    --profiles-path $(CURDIR)/build/qgis-shots --code scripts/screenshots.py

# Regenerate the translation source and compile the .qm files.
translations: setup
	$(PY) -m contrastdm_qgis.i18n --release

# Installable plugin zip: plugin package + engine source + resources + metadata, no tests.
# The engine lands in contrastdm_qgis/engine/contrastdm, where the plugin finds it.
zip:
	rm -rf build/zip dist/$(PLUGIN).zip && mkdir -p build/zip/$(PLUGIN)/engine dist
	cp -r $(PLUGIN)/. build/zip/$(PLUGIN)/
	cp -r core/contrastdm build/zip/$(PLUGIN)/engine/
	cp requirements.txt build/zip/$(PLUGIN)/engine/
	cp -r resources metadata.txt build/zip/$(PLUGIN)/
	find build/zip -name __pycache__ -prune -exec rm -rf {} +
	cd build/zip && zip -qr ../../dist/$(PLUGIN).zip $(PLUGIN)
	@echo "dist/$(PLUGIN).zip"

# Into the local QGIS profile: a plugin folder of links to the checkout (QGIS needs metadata.txt and
# resources/ inside the plugin folder); the engine then runs from this checkout's .venv.
deploy:
	rm -rf $(QGIS_PROFILE)/python/plugins/$(PLUGIN)
	mkdir -p $(QGIS_PROFILE)/python/plugins/$(PLUGIN)
	for f in $(CURDIR)/$(PLUGIN)/*.py $(CURDIR)/metadata.txt $(CURDIR)/resources; do \
	    ln -s $$f $(QGIS_PROFILE)/python/plugins/$(PLUGIN)/; done
	@echo "deployed $(PLUGIN) into $(QGIS_PROFILE)/python/plugins (enable it in Plugins > Manage)"

clean:
	rm -rf build dist $(DEMO_DIR) .pytest_cache .ruff_cache
