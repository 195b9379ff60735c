# The project's interface. Every target works on a fresh machine: it installs what it needs.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STACK  := $(PY) -m devstack

.PHONY: help venv up down status logs clean run test test-python lint format bench chaos firmware-host \
	add-gateway remove-gateway rotate-kafka-password

help:
	@echo "make run            whole pipeline, live (starts the local stack and every service)"
	@echo "make test           every test: lint, firmware host tests, unit, integration, end-to-end"
	@echo "make up|down|status|logs|clean   the native local stack (Kafka x3, registry, MQTT, TimescaleDB, Prometheus)"
	@echo "make bench          throughput/latency benchmarks, printed as figures and ratios (BENCH=e2e: the whole pipeline)"
	@echo "make chaos          faults injected into a steady stream; what each one cost (build/chaos/)"
	@echo "make firmware-host  build and test the ESP32 firmware's portable core on this machine"
	@echo "make add-gateway NAME=esp32-kitchen [MAC=AA:BB:..] [ROTATE=1]  MQTT user for a gateway; prints its settings"
	@echo "make remove-gateway NAME=...  revoke a gateway (lost or stolen)"
	@echo "make rotate-kafka-password PRINCIPAL=iot-sink  new SCRAM password for a service's Kafka principal"

venv: $(VENV)/.installed
$(VENV)/.installed: requirements.txt requirements-dev.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements-dev.txt
	$(PY) -m pip install -q --disable-pip-version-check --no-deps -e .
	touch $@

up: venv
	$(STACK) up

down:
	@if [ -x $(PY) ]; then $(STACK) down; else $(PYTHON) -m devstack down; fi

status: venv
	$(STACK) status

logs:
	$(PYTHON) -m devstack logs $(SERVICE)

clean:
	@if [ -x $(PY) ]; then $(STACK) clean; else $(PYTHON) -m devstack clean; fi

run: venv
	$(STACK) run

add-gateway: venv
	@test -n "$(NAME)" || { echo "usage: make add-gateway NAME=<gateway id> [MAC=<official gateway MAC>] [ROTATE=1]"; exit 2; }
	$(STACK) add-gateway "$(NAME)" $(if $(MAC),--mac "$(MAC)") $(if $(ROTATE),--rotate)

remove-gateway: venv
	@test -n "$(NAME)" || { echo "usage: make remove-gateway NAME=<gateway id>"; exit 2; }
	$(STACK) remove-gateway "$(NAME)"

rotate-kafka-password: venv
	@test -n "$(PRINCIPAL)" || { echo "usage: make rotate-kafka-password PRINCIPAL=<iot-sink, iot-adapter, ...>"; exit 2; }
	$(STACK) rotate-kafka-password "$(PRINCIPAL)"

lint: venv
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy

format: venv
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

test: venv lint firmware-host up
	$(PY) -m pytest

bench: venv up
	$(PY) -m bench $(BENCH)

# `make bench e2e` = `make bench BENCH=e2e`: benchmark names given as goals next to `bench`.
BENCH_NAMES := producer sink adapter e2e
ifneq ($(filter bench,$(MAKECMDGOALS)),)
BENCH ?= $(filter $(BENCH_NAMES),$(MAKECMDGOALS))
$(filter $(BENCH_NAMES),$(MAKECMDGOALS)): ; @:
endif

chaos: venv up
	$(PY) -m chaos $(FAULTS)

# Fragments owned by their areas (firmware, …) add targets here.
-include mk/*.mk
