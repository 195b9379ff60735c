# Kubernetes deployment (deploy/kubernetes) and GKE infrastructure (deploy/terraform/gke).
#
#   make k8s-render [OVERLAY=gke|local] [IMAGE_REGISTRY=...] [IMAGE_TAG=...]
#                          the rendered manifests of an overlay on stdout (default gke)
#   make k8s-generate      regenerate deploy/kubernetes/base/generated/* (Prometheus scrape config,
#                          Mosquitto config, settings ConfigMap) after changing their sources
#   make k8s-tools         build/install kustomize, kube-apiserver (Go module proxy) and etcd into
#                          ~/.cache/iot-pipeline/k8s; prints their paths
#   make k8s-check         the deployment's tests: server-side dry run of every overlay on a real
#                          kube-apiserver, policy scan, consistency with compose, Terraform format
#
# `make test` runs the same tests (tests/deploy builds the tools itself when they are missing).

OVERLAY ?= gke
K8S_TOOLS := deploy/kubernetes/tools

.PHONY: k8s-render k8s-generate k8s-tools k8s-check

k8s-render: venv
	@$(PY) $(K8S_TOOLS)/render.py $(OVERLAY)

k8s-generate: venv
	$(PY) $(K8S_TOOLS)/generate.py

k8s-tools:
	@bash $(K8S_TOOLS)/install-tools.sh

k8s-check: venv
	$(PY) -m pytest -q tests/deploy
