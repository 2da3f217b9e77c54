# hpcdl.gpu: the two commands a user needs, and the pieces they are made of.
#   make demo   bring up the lab (containers playing the seed's world) and run playbooks/site.yml
#   make test   lint, sanity, unit tests and the Molecule scenarios, all counted by pytest (CI runs this)
#   make test-all   the same and what CI leaves out to stay inside its hour (tests marked test_all)
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
LAB ?= demo
GPUS ?= 1
export PATH := $(CURDIR)/$(BIN):$(PATH)
export ANSIBLE_COLLECTIONS_PATH := $(CURDIR)/$(VENV)/collections

.PHONY: help venv mitogen deps demo lab-up lab-down lab-status test test-all bench readmes clean

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
	rm -rf $(VENV) $(VENV)-sanity
