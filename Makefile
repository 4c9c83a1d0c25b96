# intelligent_agent.platform: every entry point a developer or CI uses. `make help` lists them.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

VENV ?= .venv
BIN := $(CURDIR)/$(VENV)/bin
export PATH := $(BIN):$(PATH)
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
# The local inventory's demo vault password, for make targets only: ansible.cfg names none, so a vault.yml of
# staging or production is never encrypted with it (inventories/README.md).
export ANSIBLE_VAULT_IDENTITY_LIST ?= local@$(CURDIR)/inventories/local/vault-password.txt
PYTEST_ARGS ?=

.PHONY: help deps venv lint security sanity units functional validate cluster-up cluster-down cluster-status \
	base-images integration molecule bench test demo build clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-15s %s\n", $$1, $$2}'

deps: ## Install the system packages (Docker, containerd, CNI, registry, promtool, mmdebstrap...)
	hack/install-system-deps.sh

$(VENV)/.installed: requirements.txt requirements-dev.txt
	test -x $(BIN)/python || python3 -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements-dev.txt
	touch $@

venv: $(VENV)/.installed ## Create .venv with the pinned toolchain

lint: venv ## ansible-lint (production profile), yamllint, ruff (pyproject.toml), shellcheck, actionlint of the workflows
	$(BIN)/yamllint -s .
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	shellcheck .ci/run $$(git ls-files 'hack/*.sh' 'hack/**/*.sh' 'bench/*.sh' 'examples/app-repo/*.sh')
	$(BIN)/ansible-lint --profile production
	hack/tools/actionlint.sh

security: venv ## Secret scan of the tree (detect-secrets, .secrets.baseline), license check of the runtime packages
	$(BIN)/python hack/tools/secret_scan.py
	$(BIN)/python hack/tools/license_check.py

sanity: venv ## ansible-test sanity in a temporary ansible_collections tree (no containers)
	hack/sanity.sh

units: venv ## Unit tests: pure Python, no subprocess (no cluster)
	$(BIN)/pytest -q -ra tests/unit

functional: venv ## Functional tests: ansible-playbook, ansible-galaxy, ansible-builder... on this machine (no cluster)
	$(BIN)/pytest -q -ra tests/functional

validate: venv ## Schema, checkov and promtool/amtool checks of the rendered configuration
	hack/validate.sh

cluster-up: ## Start the local cluster (builds it on first use), the Docker engine and the registry
	hack/local-cluster/cluster.sh up

cluster-down: ## Stop everything cluster-up started
	hack/local-cluster/cluster.sh down

cluster-status: ## Show what runs
	hack/local-cluster/cluster.sh status

base-images: ## Make the Debian base images and push them to the local registry
	hack/base-images/build.sh

integration: venv cluster-up base-images ## Tests against the real local cluster, Docker and registry
	$(BIN)/pytest -q -ra --durations=15 $(PYTEST_ARGS) tests/integration

molecule: venv cluster-up base-images ## Molecule scenarios against the local cluster
	hack/molecule.sh

bench: venv cluster-up base-images ## The collection side by side with kubectl, Helm 4 and kubernetes.core (not in `test`)
	bench/build-helm.sh >/dev/null
	$(BIN)/python -m bench

test: lint security sanity units functional validate integration molecule ## Everything CI runs, in order

demo: deps venv cluster-up base-images ## Deploy the demo app to the local cluster and print its URL
	hack/demo.sh

build: venv ## Build dist/intelligent_agent-platform-<version>.tar.gz
	mkdir -p dist
	$(BIN)/ansible-galaxy collection build --force --output-path dist .

clean: ## Remove build output (not the cluster: use cluster-down)
	rm -rf dist tests/output .pytest_cache
