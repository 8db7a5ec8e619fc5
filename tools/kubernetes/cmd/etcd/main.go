// The upstream etcd server command, unchanged, at the etcd version the pinned k8s.io/kubernetes
// requires in its own go.mod (the version that Kubernetes release is built and tested against).
// Built by `make tools` (gitops_check/toolchain.py); the go.mod is generated there, never committed.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
