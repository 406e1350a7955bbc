# make test  -- set up everything (apt packages when root, .venv, extras), lint (ruff, import-linter), run the tests
# make demo  -- set up, then a scripted run of the shipped models: recordings/ + a piano-roll PNG
# make bench -- the benchmarks (not part of the tests): bench/results/*.json (the 10-minute soak runs by hand: bench/soak.py)
# make bench-visuals -- the visuals bench with its butterchurn peer (bench/setup_butterchurn.sh: npm packages)
PY := .venv/bin/python
PYTEST_ARGS ?=

.PHONY: setup lint test demo bench bench-visuals clean

setup:
	bash scripts/setup.sh

test: setup lint
	$(PY) -m pytest -q -rR $(PYTEST_ARGS)

# the code's shape: ruff (rules in pyproject.toml) and the import-linter layer contracts
lint: setup
	.venv/bin/ruff check bridge plugins export tests bench scripts examples
	.venv/bin/lint-imports

demo: setup
	bash scripts/demo.sh

bench: setup
	$(PY) bench/host_bench.py
	$(PY) bench/flood_bench.py
	$(PY) bench/bench_web.py
	@if [ -f bench/timing.py ]; then $(PY) bench/timing.py; fi

# the visuals bench's peer (npm: butterchurn in Debian's chromium); bench_visuals.py records it as not run without it
bench-visuals: setup
	-bash bench/setup_butterchurn.sh
	$(PY) bench/bench_visuals.py

clean:
	rm -rf .pytest_cache build *.egg-info
