# Docker Compose deployment (docker/): checks that need no Docker engine.
#
#   make compose-install   install a real Compose v2 binary (Debian trixie's docker-compose) into
#                          a cache outside the repository; prints its path
#   make compose-check     `docker compose config` on docker/docker-compose.yml (your docker/.env,
#                          or .env.example with placeholder secrets) + the structural tests
#   make env-example       regenerate docker/.env.example from the settings model (after adding a
#                          setting; also add it to x-settings in docker/docker-compose.yml)
#
# `make test` runs the same tests (tests/docker installs the binary itself when it is missing).

COMPOSE_INSTALL := docker/tools/install-compose.sh

.PHONY: compose-install compose-check env-example

compose-install:
	@bash $(COMPOSE_INSTALL)

compose-check: venv
	@compose="$$(bash $(COMPOSE_INSTALL))" && \
	if [ -f docker/.env ]; then envfile=docker/.env; else \
	  envfile="$$(mktemp)"; trap 'rm -f "$$envfile"' EXIT; \
	  sed -e 's/^CLUSTER_ID=$$/CLUSTER_ID=MkU3OEVBNTcwNTJENDM2Qk/' \
	      -e 's/^POSTGRES_PASSWORD=$$/POSTGRES_PASSWORD=placeholder/' \
	      -e 's/^GRAFANA_ADMIN_PASSWORD=$$/GRAFANA_ADMIN_PASSWORD=placeholder/' \
	      docker/.env.example > "$$envfile"; fi && \
	COMPOSE_PROFILES=simulator,gateway "$$compose" -f docker/docker-compose.yml --env-file "$$envfile" config --quiet && \
	echo "docker compose config: OK ($$envfile)"
	$(PY) -m pytest -q tests/docker

env-example: venv
	$(PY) docker/tools/env_example.py
