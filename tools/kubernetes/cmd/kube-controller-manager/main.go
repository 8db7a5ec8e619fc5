// The upstream kube-controller-manager command, unchanged: ReplicaSets, HPA and PDB controllers for the simulated cluster.
// Built by `make tools` (gitops_check/toolchain.py) against the k8s.io/kubernetes version pinned in
// pyproject.toml; the go.mod is generated there, never committed.
package main

import (
	"os"
	_ "time/tzdata"

	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/logs/json/register"
	_ "k8s.io/component-base/metrics/prometheus/clientgo"
	_ "k8s.io/component-base/metrics/prometheus/version"
	"k8s.io/kubernetes/cmd/kube-controller-manager/app"
)

func main() {
	os.Exit(cli.Run(app.NewControllerManagerCommand()))
}
