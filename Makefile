# hpcdl.gpu: the two commands a user needs, and the pieces they are made of.
#   make demo   bring up the lab (containers playing the seed's world) and run playbooks/site.yml
#   make test   lint, sanity, unit tests and the Molecule scenarios, all counted by pytest (CI runs this)
#   make test-all   the same and what CI leaves out to stay inside its hour (tests marked test_all),
#                   and make test-ansible-2.16
#   make test-ansible-2.16   unit, integration, sanity tests and molecule/platforms under ansible-core 2.16
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
LAB ?= demo
GPUS ?= 1
export PATH := $(CURDIR)/$(BIN):$(PATH)
export ANSIBLE_COLLECTIONS_PATH := $(CURDIR)/$(VENV)/collections

.PHONY: help venv venv-2.16 ee mitogen deps demo lab-up lab-down lab-status test test-all test-ansible-2.16 bench readmes clean

help:
	@sed -n 's/^#   //p' Makefile

# The project-local virtual environment, from the pinned requirements; redone when they change.
$(BIN)/.installed: requirements.txt
	@command -v $(PYTHON) >/dev/null || { echo "python3 is needed"; exit 1; }
	@$(PYTHON) -c 'import venv, ensurepip' 2>/dev/null || { \
	  echo "installing python3-venv"; apt-get update -q && apt-get install -y -q python3-venv; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements.txt
	@touch $@

# ansible-test sanity runs with --local from a virtual environment of its own, holding the
# exact requirements ansible-test pins. Each sanity test still gets a virtual environment that
# ansible-test makes without pip and then bootstraps: from the pip wheel below (PyPI, hash
# checked), never from get-pip's download host (tests/sanity/get_pip.py says how).
SANITY_REQS = $(VENV)/lib/python*/site-packages/ansible_test/_data/requirements/sanity.*.txt
$(VENV)-sanity/.installed: $(BIN)/.installed tests/sanity/pip-bootstrap.txt
	$(PYTHON) -m venv $(VENV)-sanity
	$(VENV)-sanity/bin/pip install -q --upgrade pip
	$(VENV)-sanity/bin/pip install -q $$(grep '^ansible-core==' requirements.txt) \
	  $$(for f in $(SANITY_REQS); do echo -r $$f; done)
	rm -rf .cache/ansible-test && mkdir -p .cache/ansible-test
	$(VENV)-sanity/bin/pip download -q --no-deps --only-binary=:all: --require-hashes \
	  -r tests/sanity/pip-bootstrap.txt -d .cache/ansible-test
	@touch $@

# This checkout as the collection hpcdl.gpu, for ansible-playbook run from here.
$(VENV)/collections/ansible_collections/hpcdl/gpu: | $(BIN)/.installed
	mkdir -p $(VENV)/collections/ansible_collections/hpcdl
	ln -sfn ../../../.. $@

venv: $(BIN)/.installed $(VENV)-sanity/.installed $(VENV)/collections/ansible_collections/hpcdl/gpu

lab-up: venv
	$(BIN)/python lab/lab.py up --name $(LAB) --gpus $(GPUS) --inventory inventories/lab/hosts.yml

lab-down:
	$(PYTHON) lab/lab.py down --name $(LAB)
	rm -f inventories/lab/hosts.yml

lab-status:
	$(PYTHON) lab/lab.py status --name $(LAB)

demo: lab-up
	$(BIN)/ansible-playbook -i inventories/lab playbooks/site.yml

# What the tests need beyond Python: the container engine (installed and started if missing,
# privileged containers probed), the lab's base image (built once, cached), shellcheck for
# ansible-test sanity, chromium (headless) for the site scenario's browser check.
deps: venv
	$(BIN)/python lab/lab.py engine
	@command -v shellcheck >/dev/null || { command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ] \
	  && { apt-get update -q >/dev/null; DEBIAN_FRONTEND=noninteractive apt-get install -y -q shellcheck >/dev/null; } \
	  || echo "shellcheck not installed: ansible-test sanity will skip its shell checks"; }
	@command -v chromium >/dev/null || { command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ] \
	  && { apt-get update -q >/dev/null; DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null; } \
	  || echo "chromium not installed: the site scenario's browser check will fail (apt-get install chromium)"; }

# Debian's real NVIDIA userspace (nvidia-smi, libnvidia-ml1, libcuda1), unpacked, not installed:
# the module's probes are tested against it with no driver loaded.
# `make test` deselects the tests marked test_all (tests/test_molecule.py's TEST_ALL_ONLY says which
# scenarios and why); `make test-all` runs every test. Each prints pytest's one closing line.
# Two pytest workers (pytest-xdist), handed one test at a time, the lab's scenarios first and the
# longest first (tests/conftest.py orders them): on two cores a scenario leaves the CPU idle much of
# the time (ssh round trips, the nodes' own work), so two labs at once cut CI's wall time from 59 to 38
# minutes (README, Tests). TEST_WORKERS=0 runs everything in one process, in the same order.
TEST_WORKERS ?= 2
TEST_SELECT := -m "not test_all"
test: deps
	tests/unit/fixtures/cuda_compat/fetch_userspace.sh $(CURDIR)/.cache/nvroot
	HPCDL_NVIDIA_USERSPACE=$(CURDIR)/.cache/nvroot $(BIN)/python -m pytest tests $(TEST_SELECT) \
	  -n $(TEST_WORKERS) --dist load --maxschedchunk 1 $(PYTEST_ARGS)

test-all: TEST_SELECT :=
test-all: test
test-all: test-ansible-2.16

# ansible-core 2.16, the oldest controller meta/runtime.yml admits (requires_ansible >=2.16), in a
# virtual environment of its own from requirements-ansible-2.16.txt; it needs Python 3.10 to 3.12.
VENV_2_16 := $(VENV)-2.16
$(VENV_2_16)/bin/.installed: requirements-ansible-2.16.txt
	@$(PYTHON) -c 'import sys; sys.exit(not (3, 10) <= sys.version_info[:2] <= (3, 12))' || { \
	  echo "ansible-core 2.16 needs Python 3.10 to 3.12: PYTHON=python3.12 make ..."; exit 1; }
	@$(PYTHON) -c 'import venv, ensurepip' 2>/dev/null || { \
	  echo "installing python3-venv"; apt-get update -q && apt-get install -y -q python3-venv; }
	$(PYTHON) -m venv $(VENV_2_16)
	$(VENV_2_16)/bin/pip install -q --upgrade pip
	$(VENV_2_16)/bin/pip install -q -r requirements-ansible-2.16.txt
	@touch $@

# ansible-test 2.16 pins other sanity requirements (pylint 3.0, mypy 1.5...) and bootstraps pip,
# setuptools and wheel, not pip alone: a sanity venv and wheel cache of its own, as for .venv-sanity.
SANITY_REQS_2_16 = $(VENV_2_16)/lib/python*/site-packages/ansible_test/_data/requirements/sanity.*.txt
$(VENV_2_16)-sanity/.installed: $(VENV_2_16)/bin/.installed tests/sanity/pip-bootstrap-2.16.txt
	$(PYTHON) -m venv $(VENV_2_16)-sanity
	$(VENV_2_16)-sanity/bin/pip install -q --upgrade pip
	$(VENV_2_16)-sanity/bin/pip install -q $$(grep '^ansible-core==' requirements-ansible-2.16.txt) \
	  $$(for f in $(SANITY_REQS_2_16); do echo -r $$f; done)
	rm -rf .cache/ansible-test-2.16 && mkdir -p .cache/ansible-test-2.16
	$(VENV_2_16)-sanity/bin/pip download -q --no-deps --only-binary=:all: --require-hashes \
	  -r tests/sanity/pip-bootstrap-2.16.txt -d .cache/ansible-test-2.16
	@touch $@

# This checkout as hpcdl.gpu for the 2.16 venv's ansible-playbook, as $(VENV)/collections for .venv's.
$(VENV_2_16)/collections/ansible_collections/hpcdl/gpu: | $(VENV_2_16)/bin/.installed
	mkdir -p $(VENV_2_16)/collections/ansible_collections/hpcdl
	ln -sfn ../../../.. $@

venv-2.16: $(VENV_2_16)/bin/.installed $(VENV_2_16)-sanity/.installed $(VENV_2_16)/collections/ansible_collections/hpcdl/gpu

# What runs on the controller, under 2.16: the unit and integration tests, ansible-test sanity
# (tests/test_static.py picks .venv-2.16-sanity when run from .venv-2.16), and one lab scenario,
# molecule/platforms, whose Python 2.7 tests only 2.16 runs. Lint, the build and the other scenarios
# stay on the pinned controller (`make test`). .venv's bin comes off PATH, so a tool missing from
# .venv-2.16 fails instead of running at 2.19.
test-ansible-2.16: deps venv-2.16
	tests/unit/fixtures/cuda_compat/fetch_userspace.sh $(CURDIR)/.cache/nvroot
	PATH=$(CURDIR)/$(VENV_2_16)/bin:$(subst $(CURDIR)/$(BIN):,,$(PATH)) \
	  ANSIBLE_COLLECTIONS_PATH=$(CURDIR)/$(VENV_2_16)/collections \
	  HPCDL_NVIDIA_USERSPACE=$(CURDIR)/.cache/nvroot $(VENV_2_16)/bin/python -m pytest \
	  tests/unit tests/integration tests/test_static.py::test_ansible_test_sanity \
	  "tests/test_molecule.py::test_scenario[platforms]" \
	  -n $(TEST_WORKERS) --dist load --maxschedchunk 1 $(PYTEST_ARGS)

#   make ee     the execution environment's build context (execution-environment.yml) in context/
# The collection built from this checkout into dist/, then `ansible-builder create`; build the image
# from context/ where its base image can be pulled.
ee: venv
	rm -rf dist context
	$(BIN)/ansible-galaxy collection build --output-path dist .
	$(BIN)/ansible-builder create -f execution-environment.yml -c context --output-filename Containerfile

#   make bench  time site.yml on fresh labs of 1, 4 and 8 gpu nodes (BENCH_ARGS="--nodes 1 --mitogen")
# Per play and role cold and rerun, against a no-op floor, the controller's CPU seconds, Tengine
# compiles, 8 nodes against 1, and with --mitogen the rerun under mitogen; figures and logs in
# artifacts/bench/. Labs bench-<count>, taken down first and after. An hour or more: not part of `make test`.
bench: venv
	$(BIN)/python bench/site_bench.py $(BENCH_ARGS)

#   make mitogen  install the optional mitogen strategy (requirements-mitogen.txt) into .venv
# Then: ANSIBLE_STRATEGY_PLUGINS=$$(.venv/bin/python -c 'import ansible_mitogen, os; print(os.path.dirname(ansible_mitogen.__file__))')/plugins/strategy
#       ANSIBLE_STRATEGY=mitogen_linear ansible-playbook ... (site.yml's gpu play follows with mitogen_free).
mitogen: venv
	$(BIN)/pip install -q -r requirements-mitogen.txt
	@$(BIN)/python -c 'import ansible_mitogen, os; print("mitogen strategy plugins:", os.path.join(os.path.dirname(ansible_mitogen.__file__), "plugins", "strategy"))'

# The generated parts of the role READMEs (variables, tags, "Tested by"), from the roles' own files;
# tests/test_static.py fails when they are out of date.
readmes: venv
	$(BIN)/python docs/role_readmes.py

clean: lab-down
	rm -rf $(VENV) $(VENV)-sanity $(VENV)-2.16 $(VENV)-2.16-sanity dist context
