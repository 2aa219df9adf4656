"""ccloud-operator: Confluent Cloud resources as Kubernetes custom resources."""

__all__ = ["__version__"]

__version__ = "0.1.0"
