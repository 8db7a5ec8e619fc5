# Every target installs what it needs first (`make tools`): a fresh clone needs no manual step.
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
.DELETE_ON_ERROR:

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: help tools prereqs go-tools render validate diff lint test e2e lab bench docs clean

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z0-9-]+:.*## / {printf "  make %-9s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

prereqs:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null || \
	  { echo "make: Python 3.11 or newer is required as '$(PYTHON)': install it (apt-get install python3) or run make PYTHON=python3.11"; exit 2; }
	@command -v go >/dev/null || { echo "make: Go is required to build kustomize, kubeconform and conftest: install Go 1.24+ (apt-get install golang)"; exit 2; }

# pip runs only when what it installs changed (dependencies, extras, scripts), not for every settings edit,
# so `make validate` needs no network once the tools are installed.
$(STAMP): pyproject.toml | prereqs
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@want=$$($(PYTHON) -c 'import json, tomllib; p = tomllib.load(open("pyproject.toml", "rb"))["project"]; \
	  print(json.dumps([p["dependencies"], p.get("optional-dependencies"), p.get("scripts")], sort_keys=True))' | sha256sum | cut -c1-16); \
	if [ "$$(cat $@ 2>/dev/null)" != "$$want" ]; then \
	  $(BIN)/pip install --quiet --disable-pip-version-check -e '.[test]' && echo "$$want" > $@; \
	else touch $@; fi

go-tools: | prereqs
	@$(PYTHON) -m gitops_check.toolchain install

# The harness's bytecode is compiled here, not on first import: environments that set PYTHONDONTWRITEBYTECODE
# (CI images, this one) would otherwise compile every module on every run, a third of a one-overlay run.
tools: $(STAMP) go-tools ## Install the pinned toolchain (virtualenv, Go tools, control plane, promtool, schemas)
	@$(BIN)/python -m compileall -q gitops_check >/dev/null
	@$(BIN)/gitops-check prepare >/dev/null

render: tools ## Render every overlay into rendered/ (gitignored)
	@rm -rf rendered && mkdir -p rendered
	@for o in $$($(BIN)/python -c 'from gitops_check import pipeline, settings; s = settings.load(); print(" ".join(n for _, n, _ in pipeline.resolve_targets([], s)))'); do \
	  $(BIN)/gitops-check render "$$o" > "rendered/$$(echo $$o | tr / _).yaml"; echo "rendered/$$(echo $$o | tr / _).yaml"; done

validate: tools ## Render and check every overlay, print a summary (the main job)
	@$(BIN)/gitops-check validate

BASE ?= origin/main
diff: tools ## The rendered change since BASE (default origin/main), per target and object: make diff BASE=HEAD~1
	@$(BIN)/gitops-check diff --base '$(BASE)'

lint: tools ## yamllint every YAML file, format-check the Rego policies and the Go wrappers, actionlint the workflows
	@$(BIN)/yamllint --strict .
	@$$($(PYTHON) -m gitops_check.toolchain path conftest) fmt --check policies
	@test -z "$$(gofmt -l tools)" || { gofmt -l tools; echo "make lint: run gofmt -w tools"; exit 1; }
	@$$($(PYTHON) -m gitops_check.toolchain path actionlint) .github/workflows/*.yaml

test: tools ## Run the test suite (pytest, Rego unit tests, promtool rule tests)
	@$(BIN)/pytest

e2e: tools ## End-to-end: the real controllers on a simulated cluster, every scenario (reports/e2e.json)
	@$(BIN)/python -m gitops_check.e2e

lab: tools ## Training lab (docs/training.md): a healthy release, a bad one aborted, a completed one rolled back (at once, later)
	@rc=0; $(BIN)/python -m gitops_check.e2e healthy-release bad-release rollback rollback-after-scale-down --report reports/lab/e2e.json || rc=$$?; \
	if [ -f reports/lab/e2e.json ]; then $(BIN)/python -c 'from pathlib import Path; from gitops_check.e2e import report; \
	  report.docs(Path("reports/lab/e2e.json"), Path("reports/lab/weights.svg"))'; fi; \
	echo "make lab: where to look (docs/training.md explains each):"; \
	echo "  reports/lab/e2e.txt    one line per scenario: time to 100 %, time back on stable (real-time equivalents)"; \
	echo "  reports/lab/e2e.json   each scenario's timeline: step, weights and phase as the controller set them"; \
	echo "  reports/lab/weights.svg  canary weight over time, the healthy and the bad release"; \
	echo "  reports/lab/e2e-logs/  the controllers' logs (kept when a scenario failed)"; \
	exit $$rc

bench: tools ## Benchmark: the usual script, offline, control plane up and cold (medians, budgets)
	@$(BIN)/python -m gitops_check.bench

docs: tools ## Regenerate docs/policies.md, the production plan in docs/architecture.md (+ chart), docs/e2e-weights.svg
	@$(BIN)/gitops-check rules --output docs/policies.md
	@$(BIN)/python -c 'from pathlib import Path; from gitops_check import plan, settings; \
	  plan.write_docs(settings.load(), Path("docs/architecture.md"), Path("docs/plan-production.svg"))'
	@test -f reports/e2e.json || $(BIN)/python -m gitops_check.e2e
	@$(BIN)/python -c 'from pathlib import Path; from gitops_check.e2e import report; \
	  print(report.docs(Path("reports/e2e.json"), Path("docs/e2e-weights.svg")))'

clean: ## Remove the virtualenv, rendered output and caches in the clone (the Go tool cache stays)
	@rm -rf $(VENV) rendered .pytest_cache reports *.egg-info
