# hpcdl.gpu: the two commands a user needs, and the pieces they are made of.
#   make demo   bring up the lab (containers playing the seed's world) and run playbooks/site.yml
#   make test   lint, sanity, unit tests and every Molecule scenario, all counted by pytest
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
LAB ?= demo
GPUS ?= 1
export PATH := $(CURDIR)/$(BIN):$(PATH)
export ANSIBLE_COLLECTIONS_PATH := $(CURDIR)/$(VENV)/collections

.PHONY: help venv demo lab-up lab-down lab-status test lint unit molecule clean

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

# This checkout as the collection hpcdl.gpu, for ansible-playbook run from here.
$(VENV)/collections/ansible_collections/hpcdl/gpu: | $(BIN)/.installed
	mkdir -p $(VENV)/collections/ansible_collections/hpcdl
	ln -sfn ../../../.. $@

venv: $(BIN)/.installed $(VENV)/collections/ansible_collections/hpcdl/gpu

lab-up: venv
	$(BIN)/python lab/lab.py up --name $(LAB) --gpus $(GPUS) --inventory inventories/lab/hosts.yml

lab-down:
	$(PYTHON) lab/lab.py down --name $(LAB)
	rm -f inventories/lab/hosts.yml

lab-status:
	$(PYTHON) lab/lab.py status --name $(LAB)

demo: lab-up
	$(BIN)/ansible-playbook -i inventories/lab playbooks/site.yml

test: venv
	$(BIN)/python -m pytest tests $(PYTEST_ARGS)

clean: lab-down
	rm -rf $(VENV)
