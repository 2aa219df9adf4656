"""Confluent Resource Names: what a role binding's `crn_pattern` and an IP filter's `resource_scope` are.

    crn://confluent.cloud/organization=<uuid>/environment=env-…/cloud-cluster=lkc-…/kafka=lkc-…/topic=orders-*

Pure string work: building the CRN of a scope (the organisation ID comes from
`ConfluentClient.organizations.current_id()`), and reading the organisation back out of one.
"""

from __future__ import annotations

import re

__all__ = ["CRN_ROOT", "KAFKA_RESOURCE_TYPES", "environment_crn", "organization_crn", "organization_of", "scope_crn"]

CRN_ROOT = "crn://confluent.cloud/organization="
# The Kafka resources a role binding can name inside a cluster (`…/kafka=lkc-…/<type>=<name>`).
KAFKA_RESOURCE_TYPES = ("topic", "group", "transactional-id")
_ORGANIZATION = re.compile(r"^crn://confluent\.cloud/organization=([^/]+)(?:/|$)")


def organization_crn(organization_id: str) -> str:
    """`crn://confluent.cloud/organization=<id>`: the whole organisation."""
    if not organization_id or "/" in organization_id:
        raise ValueError(f"not an organization ID: {organization_id!r}")
    return CRN_ROOT + organization_id


def environment_crn(organization_id: str, environment_id: str) -> str:
    return scope_crn(organization_id, environment=environment_id)


def scope_crn(
    organization_id: str,
    *,
    environment: str | None = None,
    kafka_cluster: str | None = None,
    resource_type: str | None = None,
    resource_name: str | None = None,
    prefix: bool = False,
) -> str:
    """The CRN of a scope, as Confluent's role bindings name it.

    The organisation; an environment in it; a Kafka cluster in that (`…/cloud-cluster=lkc-…`, the
    scope of cluster roles); a resource in the cluster (`…/cloud-cluster=lkc-…/kafka=lkc-…/topic=x`,
    `resource_type` one of `KAFKA_RESOURCE_TYPES`), with `prefix` every resource whose name starts
    with `resource_name` (`topic=x*`; an empty name with `prefix` is every one: `topic=*`).
    ValueError for a scope that skips a level or a name that holds `/`, `=` or `*`.
    """
    crn = organization_crn(organization_id)
    if environment is None:
        if kafka_cluster is not None or resource_type is not None:
            raise ValueError("a Kafka cluster or resource scope needs its environment")
        return crn
    crn += f"/environment={_name(environment, 'environment ID')}"
    if kafka_cluster is None:
        if resource_type is not None:
            raise ValueError("a resource scope needs its Kafka cluster")
        return crn
    cluster = _name(kafka_cluster, "Kafka cluster ID")
    crn += f"/cloud-cluster={cluster}"
    if resource_type is None:
        if resource_name is not None or prefix:
            raise ValueError("a resource name or prefix needs a resource_type")
        return crn
    if resource_type not in KAFKA_RESOURCE_TYPES:
        raise ValueError(f"resource_type must be one of {', '.join(KAFKA_RESOURCE_TYPES)}")
    name = resource_name or ""
    if not name and not prefix:
        raise ValueError(f"a {resource_type} scope needs a name (or prefix=True for every {resource_type})")
    if name:
        _name(name, resource_type)
    return f"{crn}/kafka={cluster}/{resource_type}={name}{'*' if prefix else ''}"


def organization_of(crn: str | None) -> str | None:
    """The organisation ID a CRN names, or None when it names none."""
    match = _ORGANIZATION.match(crn or "")
    return match.group(1) if match else None


def _name(value: str, what: str) -> str:
    if not value or any(c in value for c in "/=*"):
        raise ValueError(f"{value!r} cannot go in a CRN as the {what}: it is empty or holds /, = or *")
    return value
