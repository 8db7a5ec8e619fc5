"""End-to-end tests of the deployment: the real Argo Rollouts controller, kube-controller-manager,
kube-scheduler and kwok on a local control plane, Prometheus fed synthetic Istio traffic (see run.py)."""
