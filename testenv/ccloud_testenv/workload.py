"""Many objects of every kind: the workload fault tests and benchmarks apply to the operator.

`mix(total)` says how many of each kind, `manifests(counts, namespace, place)` makes the objects (full
manifests, dependencies first, every dependent naming an object of the same list),
`create_all(api, objects)` creates them quickly, and `expected(objects)` says how many Confluent
objects of each sort they should produce once Ready, keyed by the emulator's state tables.

It knows the operator's public API only (the CRDs' group, kinds and fields, as README.md documents
them), nothing of its code, and nothing of the emulator but the names of its state tables.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import kubernetes

__all__ = [
    "ALL_KINDS",
    "API_VERSION",
    "CONNECTOR_CLASS",
    "PLUGIN_VERSION",
    "PLURALS",
    "Place",
    "create_all",
    "expected",
    "manifests",
    "mix",
]

GROUP, VERSION = "ccloud.operators.dev", "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"

# Dependency order: every kind comes after the kinds its objects name, so a prefix of the tuple is
# closed under dependencies (mix() relies on it when the total is not a multiple of ten).
ALL_KINDS: tuple[str, ...] = (
    "ServiceAccount",
    "ApiKey",
    "ConnectorPlugin",
    "CustomConnector",
    "RoleBinding",
    "IpGroup",
    "IpFilter",
    "Invitation",
    "IdentityProvider",
    "IdentityPool",
)
PLURALS: Mapping[str, str] = {kind: f"{kind.lower()}s" for kind in ALL_KINDS}
# What each kind's objects name: an object of each of these kinds must be in the same list.
NEEDS: Mapping[str, tuple[str, ...]] = {
    "ApiKey": ("ServiceAccount",),
    "CustomConnector": ("ConnectorPlugin", "ServiceAccount"),
    "RoleBinding": ("ServiceAccount",),
    "IpFilter": ("IpGroup",),
    "IdentityPool": ("IdentityProvider",),
}
CONNECTOR_CLASS = "io.confluent.kafka.connect.datagen.DatagenConnector"
PLUGIN_VERSION = "1.0.0"
_SHORT = {
    "ServiceAccount": "sa",
    "ApiKey": "key",
    "ConnectorPlugin": "plugin",
    "CustomConnector": "conn",
    "RoleBinding": "rb",
    "IpGroup": "ipg",
    "IpFilter": "ipf",
    "Invitation": "inv",
    "IdentityProvider": "idp",
    "IdentityPool": "pool",
}
# The longest Confluent-side name made here is the prefix and "-plugin-00000": within the 60 characters
# of a plugin's display name while the prefix stays within 40.
_PREFIX_MAX = 40


@dataclass(frozen=True)
class Place:
    """Where in Confluent the objects live, and how they authenticate.

    `archive_url` serves a plugin archive (`ccloud_testenv.files.serve_bytes(plugin_archive())`) whose
    sha256 is `archive_sha256`; `credentials` is merged into every spec, e.g.
    `{"credentialsSecretRef": {"name": "ccloud-credentials"}}` (empty: the operator's default).
    """

    environment: str
    kafka_cluster: str
    archive_url: str
    archive_sha256: str
    credentials: dict[str, Any] = field(default_factory=dict)


def mix(total: int) -> dict[str, int]:
    """How many of each kind make `total` objects: an equal share each, the rest one more for the first
    kinds of ALL_KINDS (a prefix of it, so every dependent still has what it names). Deterministic."""
    if total < 0:
        raise ValueError("total must be 0 or more")
    share, rest = divmod(total, len(ALL_KINDS))
    return {kind: share + (1 if i < rest else 0) for i, kind in enumerate(ALL_KINDS)}


def _prefix(namespace: str, tag: str) -> str:
    """The start of every Confluent-side name: unique per (namespace, tag), at most 40 characters."""
    plain = f"{namespace}-{tag}"
    if len(plain) <= _PREFIX_MAX:
        return plain
    digest = hashlib.sha256(f"{namespace}\0{tag}".encode()).hexdigest()[:10]
    return f"{plain[: _PREFIX_MAX - 11]}-{digest}"


def manifests(counts: Mapping[str, int], namespace: str, place: Place, *, tag: str = "w") -> list[dict[str, Any]]:
    """`counts[kind]` objects of each kind (a missing kind: none), as full manifests in namespace, in
    dependency order.

    Object i of a dependent kind names object i mod n of what it needs (an ApiKey, a RoleBinding and a
    CustomConnector their ServiceAccount, a CustomConnector its ConnectorPlugin, an IpFilter its IpGroup,
    an IdentityPool its IdentityProvider), so applying the list in order works. Metadata names are
    `<tag>-<kind>-<i>`; every Confluent-side name (display names, group and filter names, connector
    names, e-mails, issuers, binding patterns) starts with the namespace and the tag, so two lists
    differing in either never collide in one organisation. ValueError if a kind is asked for without
    what it needs, or a kind is unknown.
    """
    unknown = set(counts) - set(ALL_KINDS)
    if unknown:
        raise ValueError(f"unknown kinds: {', '.join(sorted(unknown))}")
    n = {kind: int(counts.get(kind, 0)) for kind in ALL_KINDS}
    for kind, needs in NEEDS.items():
        missing = [need for need in needs if n[kind] and not n[need]]
        if missing:
            raise ValueError(f"{n[kind]} {kind} need at least one {' and one '.join(missing)}")
    prefix = _prefix(namespace, tag)

    def name(kind: str, i: int) -> str:
        return f"{tag}-{_SHORT[kind]}-{i:05d}"

    def ref(kind: str, i: int) -> dict[str, str]:
        return {"name": name(kind, i % n[kind])}

    def remote(kind: str, i: int) -> str:
        return f"{prefix}-{_SHORT[kind]}-{i:05d}"

    cluster = {"environment": place.environment, "kafkaCluster": place.kafka_cluster}
    specs: dict[str, Any] = {
        "ServiceAccount": lambda i: {"displayName": remote("ServiceAccount", i)},
        "ApiKey": lambda i: {
            "serviceAccount": ref("ServiceAccount", i),
            "resource": {"kind": "KafkaCluster", "id": place.kafka_cluster, "environment": place.environment},
            "secret": {"name": name("ApiKey", i)},
        },
        "ConnectorPlugin": lambda i: {
            "environment": place.environment,
            "cloud": "AWS",
            "displayName": remote("ConnectorPlugin", i),
            "versions": [
                {
                    "version": PLUGIN_VERSION,
                    "connectorClasses": [{"className": CONNECTOR_CLASS, "type": "SOURCE"}],
                    "archive": {"url": place.archive_url, "sha256": place.archive_sha256},
                }
            ],
        },
        "CustomConnector": lambda i: {
            **cluster,
            "connectorName": remote("CustomConnector", i),
            "plugin": {**ref("ConnectorPlugin", i), "version": PLUGIN_VERSION},
            "connectorClass": CONNECTOR_CLASS,
            "kafkaAuth": {"serviceAccount": ref("ServiceAccount", i)},
            "config": {"kafka.topic": f"pageviews-{i}", "quickstart": "pageviews"},
        },
        "RoleBinding": lambda i: {
            "principal": {"serviceAccount": ref("ServiceAccount", i)},
            "roleName": "DeveloperWrite",
            # The topic prefix makes (principal, role, pattern) unique even where accounts are shared.
            "scope": {**cluster, "topic": f"{remote('RoleBinding', i)}-", "prefix": True},
        },
        "IpGroup": lambda i: {
            "groupName": remote("IpGroup", i),
            "cidrBlocks": [f"10.{i // 256 % 256}.{i % 256}.0/24"],
        },
        "IpFilter": lambda i: {"filterName": remote("IpFilter", i), "ipGroups": [ref("IpGroup", i)]},
        "Invitation": lambda i: {"email": f"{remote('Invitation', i)}@example.com"},
        "IdentityProvider": lambda i: {
            "displayName": remote("IdentityProvider", i),
            "issuer": f"https://oidc.example.com/{remote('IdentityProvider', i)}",
            "jwksUri": f"https://oidc.example.com/{remote('IdentityProvider', i)}/openid/v1/jwks",
        },
        "IdentityPool": lambda i: {
            "identityProvider": ref("IdentityProvider", i),
            "displayName": remote("IdentityPool", i),
            "identityClaim": "claims.sub",
            "filter": f'claims.sub == "system:serviceaccount:{namespace}:{name("IdentityPool", i)}"',
        },
    }
    return [
        {
            "apiVersion": API_VERSION,
            "kind": kind,
            "metadata": {"name": name(kind, i), "namespace": namespace},
            "spec": {**specs[kind](i), **place.credentials},
        }
        for kind in ALL_KINDS
        for i in range(n[kind])
    ]


def create_all(api: kubernetes.client.ApiClient, objects: Sequence[dict[str, Any]], threads: int = 8) -> None:
    """Create `objects` (manifests() output, or any of our kinds' manifests with metadata.namespace) on
    `threads` threads: first every object of a kind that names none, then the rest, so no object is
    created before what it names. Raises the first ApiException (an object that exists already is one)."""
    custom = kubernetes.client.CustomObjectsApi(api)

    def create(obj: dict[str, Any]) -> None:
        namespace = obj["metadata"]["namespace"]
        custom.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURALS[obj["kind"]], obj)

    independent = [obj for obj in objects if obj["kind"] not in NEEDS]
    dependent = [obj for obj in objects if obj["kind"] in NEEDS]
    with ThreadPoolExecutor(max_workers=max(1, threads), thread_name_prefix="create") as pool:
        for batch in (independent, dependent):
            for _ in pool.map(create, batch):  # map raises the first failure
                pass


def expected(objects: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    """How many Confluent objects of each sort `objects` make once every one is Ready, keyed by the
    emulator's state tables: service_accounts, api_keys, ccpm_plugins, ccpm_versions, connectors,
    role_bindings, ip_groups, ip_filters, invitations, identity_providers, identity_pools (every key
    present, 0 for none). Legacy plugins count as legacy_plugins and have no versions."""
    tables = {
        "ServiceAccount": "service_accounts",
        "ApiKey": "api_keys",
        "CustomConnector": "connectors",
        "RoleBinding": "role_bindings",
        "IpGroup": "ip_groups",
        "IpFilter": "ip_filters",
        "Invitation": "invitations",
        "IdentityProvider": "identity_providers",
        "IdentityPool": "identity_pools",
    }
    found: Counter[str] = Counter({t: 0 for t in (*tables.values(), "ccpm_plugins", "ccpm_versions", "legacy_plugins")})
    for obj in objects:
        kind = obj["kind"]
        if kind == "ConnectorPlugin":
            spec = obj.get("spec") or {}
            if spec.get("legacy"):
                found["legacy_plugins"] += 1
            else:
                found["ccpm_plugins"] += 1
                found["ccpm_versions"] += len(spec.get("versions") or [])
        elif kind in tables:
            found[tables[kind]] += 1
        else:
            raise ValueError(f"unknown kind {kind}")
    return dict(found)
