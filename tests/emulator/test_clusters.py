"""cmk/v2 Kafka clusters read as real ones do: the CRN Terraform cuts, typed references, config per kind."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from ccloud_emulator import Emulator

from .conftest import ClientFactory


async def read_cluster(client: httpx.AsyncClient, emu: Emulator, cluster_id: str, how: str) -> dict[str, Any]:
    env = {"environment": emu.environment_id}
    if how == "get":
        response = await client.get(f"/cmk/v2/clusters/{cluster_id}", params=env)
        assert response.status_code == 200, response.text
        found: dict[str, Any] = response.json()
        return found
    listed = (await client.get("/cmk/v2/clusters", params=env)).json()["data"]
    [match] = [c for c in listed if c["id"] == cluster_id]
    return match


def rbac_crn(resource_name: str) -> str:
    """What Confluent's Terraform provider does (clusterCrnToRbacClusterCrn): cut at the last "/kafka="."""
    cut = resource_name.rfind("/kafka=")
    if cut == -1:
        raise ValueError(f"could not construct rbac_crn from {resource_name}")
    return resource_name[:cut]


@pytest.mark.parametrize("how", ["get", "list"], ids=["a single read", "an item of the list"])
async def test_a_cluster_read_carries_what_real_clients_read(
    client: httpx.AsyncClient, emu: Emulator, how: str
) -> None:
    cluster = await read_cluster(client, emu, emu.kafka_cluster_id, how)
    env_crn = f"crn://confluent.cloud/organization={emu.organization_id}/environment={emu.environment_id}"
    lkc = emu.kafka_cluster_id
    assert cluster["metadata"]["resource_name"] == f"{env_crn}/cloud-cluster={lkc}/kafka={lkc}"
    assert rbac_crn(cluster["metadata"]["resource_name"]) == f"{env_crn}/cloud-cluster={lkc}"
    spec = cluster["spec"]
    assert spec["environment"] == {
        "id": emu.environment_id,
        "related": f"https://api.confluent.cloud/org/v2/environments/{emu.environment_id}",
        "resource_name": env_crn,
        "api_version": "org/v2",
        "kind": "Environment",
    }
    network = spec["network"]
    assert network["id"].startswith("n-")
    assert network == {
        "id": network["id"],
        "environment": emu.environment_id,
        "related": f"https://api.confluent.cloud/networking/v1/networks/{network['id']}",
        "resource_name": f"{env_crn}/network={network['id']}",
        "api_version": "networking/v1",
        "kind": "Network",
    }
    assert spec["deletion_protection"] is False
    assert spec["config"] == {"kind": "Basic", "max_ecku": 50}


@pytest.mark.parametrize(
    ("kind", "config", "status"),
    [
        ("Basic", {"kind": "Basic", "max_ecku": 50}, {"phase": "PROVISIONED"}),
        ("standard", {"kind": "Standard", "max_ecku": 10}, {"phase": "PROVISIONED"}),
        ("Enterprise", {"kind": "Enterprise", "max_ecku": 10}, {"phase": "PROVISIONED"}),
        ("Dedicated", {"kind": "Dedicated", "cku": 1}, {"phase": "PROVISIONED", "cku": 1}),
        ("Freight", {"kind": "Freight", "max_ecku": 50}, {"phase": "PROVISIONED"}),
    ],
    ids=[
        "basic scales up to 50 eCKUs",
        "standard, named in any case, scales up to 10 eCKUs",
        "enterprise scales up to 10 eCKUs",
        "dedicated has CKUs, in its config and its status, instead of eCKUs",
        "freight scales up to 50 eCKUs",
    ],
)
async def test_each_cluster_kind_has_its_own_config(
    client: httpx.AsyncClient, emu: Emulator, kind: str, config: dict[str, Any], status: dict[str, Any]
) -> None:
    cluster_id = emu.add_kafka_cluster(display_name=kind, kind=kind)
    for how in ("get", "list"):
        cluster = await read_cluster(client, emu, cluster_id, how)
        assert (cluster["spec"]["config"], cluster["status"]) == (config, status), how


async def test_an_unknown_cluster_kind_is_refused(emu: Emulator) -> None:
    with pytest.raises(ValueError, match="must be one of Basic, Standard, Enterprise, Dedicated, Freight"):
        emu.add_kafka_cluster(kind="Huge")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=emu.app), base_url="http://emu") as admin:
        refused = await admin.post("/_emulator/kafka-clusters", json={"kind": "Huge"})
        assert refused.status_code == 400
        assert "Huge" in refused.json()["error"]
        seeded = await admin.post("/_emulator/kafka-clusters", json={"kind": "Dedicated", "display_name": "big"})
        assert seeded.status_code == 201
    assert emu.core.state.clusters[seeded.json()["id"]].kind == "Dedicated"


async def test_a_clusters_kind_survives_a_restart_and_old_state_files_read_as_basic(
    tmp_path: Path, make_client: ClientFactory
) -> None:
    path = tmp_path / "emulator.json"
    first = Emulator(state_file=path)
    dedicated = first.add_kafka_cluster(kind="Dedicated")
    raw = json.loads(path.read_text())
    # a state file written before clusters had a kind
    for cluster in raw["clusters"].values():
        if cluster["id"] != dedicated:
            del cluster["kind"], cluster["deletion_protection"]
    path.write_text(json.dumps(raw))
    second = Emulator(state_file=path)
    async with make_client(second) as client:
        assert (await read_cluster(client, second, dedicated, "get"))["spec"]["config"]["kind"] == "Dedicated"
        assert (await read_cluster(client, second, second.kafka_cluster_id, "get"))["spec"]["config"]["kind"] == "Basic"
