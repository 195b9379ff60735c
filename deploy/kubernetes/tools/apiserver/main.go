// Command kube-apiserver is the upstream API server (k8s.io/kubernetes
// cmd/kube-apiserver at the version pinned in go.mod), built here only so the
// test suite can send every rendered manifest to a real API server with
// server-side dry run. It is never deployed.
package main

import (
	"os"
	_ "time/tzdata"

	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/logs/json/register"
	_ "k8s.io/component-base/metrics/prometheus/clientgo"
	_ "k8s.io/component-base/metrics/prometheus/version"
	"k8s.io/kubernetes/cmd/kube-apiserver/app"
)

func main() {
	os.Exit(cli.Run(app.NewAPIServerCommand()))
}
