"""gitops-check: prove that what Argo CD will sync for the webhook-service is valid and safe."""

__version__ = "0.1.0"
