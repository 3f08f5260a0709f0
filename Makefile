# The two commands of the README's quick start. Each creates/reuses .venv (scripts/bootstrap.sh) first.
.PHONY: serve test test-fast venv clean

venv:
	@bash scripts/bootstrap.sh

serve: venv
	@bash scripts/serve.sh

test: venv
	@.venv/bin/python -m pytest $(PYTEST_ARGS)

# everything but the slow end-to-end tests
test-fast: venv
	@.venv/bin/python -m pytest -m "not slow" $(PYTEST_ARGS)

clean:
	rm -rf .venv .pytest_cache .hypothesis
