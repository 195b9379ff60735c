#!/usr/bin/env bash
# The Kubernetes deployment's TLS material: a local CA and the Kafka brokers' keystore (one
# certificate for every broker pod's DNS name), made with compose's cert-init script into
# DIR (kept there: run it again and the same CA and certificate are reused), then the Secret
# iot-pipeline-tls (ca.pem, kafka-keystore.pem) created from them. Never commit DIR.
#   deploy/kubernetes/tools/make-tls-secret.sh DIR [NAMESPACE]    (NAMESPACE: iot-pipeline)
# PRINT_ONLY=1: make the files and print the kubectl command instead of running it.
set -euo pipefail
dir="${1:?usage: make-tls-secret.sh DIR [NAMESPACE]}"
namespace="${2:-iot-pipeline}"
root="$(cd "$(dirname "$0")/../../.." && pwd)"
CERTS_DIR="$dir" KUBERNETES_NAMESPACE="$namespace" DEVSTACK_PARENT="$root" \
    python3 "$root/docker/init/compose_certs.py"
command=(kubectl -n "$namespace" create secret generic iot-pipeline-tls
    "--from-file=ca.pem=$dir/public/ca.pem"
    "--from-file=kafka-keystore.pem=$dir/kafka/keystore.pem")
if [[ -n "${PRINT_ONLY:-}" ]]; then
    printf '%q ' "${command[@]}"
    echo
else
    "${command[@]}"
fi
