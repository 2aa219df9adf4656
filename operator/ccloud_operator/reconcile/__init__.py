"""Desired state (our CRDs) against observed state (Confluent Cloud): one reconcile per kind.

Calls the Confluent client and the Kubernetes helpers in `kube`; knows nothing of kopf.
"""
