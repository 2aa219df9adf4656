"""Every operation the emulator implements answers what its OpenAPI spec says, errors included.

The `client` fixture validates each response against the spec; this module drives every implemented
operation through its success path and its main errors, then checks that each was validated.
"""

from __future__ import annotations

import time

import httpx
import pytest

from ccloud_emulator import Emulator, Timing
from ccloud_testenv.idp import ISSUER, JWKS_URI, FakeIdp

from .conftest import ClientFactory, Conformance, archive, connectors_path, ready_ccpm_plugin, upload

IMPLEMENTED = {
    # ccpm-v1
    "listCcpmV1CustomConnectPlugins",
    "createCcpmV1CustomConnectPlugin",
    "deleteCcpmV1CustomConnectPlugin",
    "getCcpmV1CustomConnectPlugin",
    "updateCcpmV1CustomConnectPlugin",
    "createCcpmV1PresignedUrl",
    "listCcpmV1CustomConnectPluginVersions",
    "createCcpmV1CustomConnectPluginVersion",
    "deleteCcpmV1CustomConnectPluginVersion",
    "getCcpmV1CustomConnectPluginVersion",
    # cmk-v2 (read only)
    "listCmkV2Clusters",
    "getCmkV2Cluster",
    # connect-v1 custom plugins
    "listConnectV1CustomConnectorPlugins",
    "createConnectV1CustomConnectorPlugin",
    "deleteConnectV1CustomConnectorPlugin",
    "getConnectV1CustomConnectorPlugin",
    "updateConnectV1CustomConnectorPlugin",
    "presigned-upload-urlConnectV1PresignedUrl",
    "listConnectV1CustomConnectorRuntimes",
    # connect-v1 connectors
    "listConnectv1Connectors",
    "createConnectv1Connector",
    "listConnectv1ConnectorsWithExpansions",
    "getConnectv1ConnectorConfig",
    "createOrUpdateConnectv1ConnectorConfig",
    "deleteConnectv1Connector",
    "readConnectv1Connector",
    "pauseConnectv1Connector",
    "resumeConnectv1Connector",
    "readConnectv1ConnectorStatus",
    "listConnectv1ConnectorTasks",
    # iam-v2 api keys and service accounts
    "listIamV2ApiKeys",
    "createIamV2ApiKey",
    "deleteIamV2ApiKey",
    "getIamV2ApiKey",
    "updateIamV2ApiKey",
    "listIamV2ServiceAccounts",
    "createIamV2ServiceAccount",
    "deleteIamV2ServiceAccount",
    "getIamV2ServiceAccount",
    "updateIamV2ServiceAccount",
    # iam-v2 users (read) and invitations
    "listIamV2Users",
    "getIamV2User",
    "listIamV2Invitations",
    "createIamV2Invitation",
    "getIamV2Invitation",
    "deleteIamV2Invitation",
    # iam-v2 role bindings (immutable: no update)
    "listIamV2RoleBindings",
    "createIamV2RoleBinding",
    "getIamV2RoleBinding",
    "deleteIamV2RoleBinding",
    # iam-v2 IP groups and IP filters
    "listIamV2IpGroups",
    "createIamV2IpGroup",
    "getIamV2IpGroup",
    "updateIamV2IpGroup",
    "deleteIamV2IpGroup",
    "listIamV2IpFilters",
    "createIamV2IpFilter",
    "getIamV2IpFilter",
    "updateIamV2IpFilter",
    "deleteIamV2IpFilter",
    # iam-v2 identity providers, their JWKS and identity pools
    "listIamV2IdentityProviders",
    "createIamV2IdentityProvider",
    "getIamV2IdentityProvider",
    "updateIamV2IdentityProvider",
    "deleteIamV2IdentityProvider",
    "refreshIamV2JsonWebKeySet",
    "listIamV2IdentityPools",
    "createIamV2IdentityPool",
    "getIamV2IdentityPool",
    "updateIamV2IdentityPool",
    "deleteIamV2IdentityPool",
    # sts-v1 token exchange
    "exchangeStsV1OauthToken",
    # org-v2 organizations (read)
    "listOrgV2Organizations",
    "getOrgV2Organization",
    # org-v2 environments
    "listOrgV2Environments",
    "createOrgV2Environment",
    "deleteOrgV2Environment",
    "getOrgV2Environment",
    "updateOrgV2Environment",
}

# Statuses the specs do not list that the emulator answers on purpose (CONTRACT.md §2.3).
ALLOWED_UNDECLARED = {
    ("createConnectv1Connector", 409),  # duplicate name, as Kafka Connect answers
    ("createConnectv1Connector", 404),  # unknown environment or cluster
    ("listCcpmV1CustomConnectPluginVersions", 404),  # the plugin is not in that environment, as its get answers
    ("listIamV2IdentityPools", 404),  # the provider is not there, as the pool's get answers
    ("createIamV2IdentityPool", 404),  # likewise
}


async def _drive_everything(client: httpx.AsyncClient, emu: Emulator, idp: FakeIdp) -> None:
    """One pass over every implemented operation, on its success path."""
    env = emu.environment_id
    ok = [200, 201, 202, 204]

    async def call(method: str, url: str, **kwargs: object) -> httpx.Response:
        response = await client.request(method, url, **kwargs)  # type: ignore[arg-type]
        assert response.status_code in ok, f"{method} {url}: {response.status_code} {response.text}"
        return response

    # org, cmk
    await call("GET", "/org/v2/environments")
    new_env = (await call("POST", "/org/v2/environments", json={"display_name": "staging"})).json()["id"]
    await call("GET", f"/org/v2/environments/{new_env}")
    await call("PATCH", f"/org/v2/environments/{new_env}", json={"display_name": "staging-2"})
    await call("DELETE", f"/org/v2/environments/{new_env}")
    await call("GET", "/cmk/v2/clusters", params={"environment": env})
    await call("GET", f"/cmk/v2/clusters/{emu.kafka_cluster_id}", params={"environment": env})

    # org/v2 organizations: where a client reads the organisation ID its CRNs need
    org = (await call("GET", "/org/v2/organizations")).json()["data"][0]["id"]
    await call("GET", f"/org/v2/organizations/{org}")

    # iam
    sa = (await call("POST", "/iam/v2/service-accounts", json={"display_name": "orders", "description": "d"})).json()
    await call("GET", "/iam/v2/service-accounts")
    await call("GET", f"/iam/v2/service-accounts/{sa['id']}")
    await call("PATCH", f"/iam/v2/service-accounts/{sa['id']}", json={"description": "orders team"})
    for resource in ({"id": emu.kafka_cluster_id, "environment": env}, {"id": "cloud"}):
        key = (
            await call("POST", "/iam/v2/api-keys", json={"spec": {"owner": {"id": sa["id"]}, "resource": resource}})
        ).json()
        await call("GET", f"/iam/v2/api-keys/{key['id']}")
    await call("GET", "/iam/v2/api-keys", params={"spec.owner": sa["id"]})
    await call("PATCH", f"/iam/v2/api-keys/{key['id']}", json={"spec": {"display_name": "renamed"}})
    await call("DELETE", f"/iam/v2/api-keys/{key['id']}")

    # users and invitations
    await call("GET", "/iam/v2/users")
    await call("GET", f"/iam/v2/users/{emu.core.state.defaults['user_id']}")
    invitation = (await call("POST", "/iam/v2/invitations", json={"email": "alice@example.com"})).json()
    await call("GET", f"/iam/v2/invitations/{invitation['id']}")
    await call("GET", "/iam/v2/invitations", params={"email": "alice@example.com"})
    emu.accept_invitation(invitation["id"])
    await call("GET", f"/iam/v2/invitations/{invitation['id']}")  # accepted_at set now
    await call("DELETE", f"/iam/v2/invitations/{invitation['id']}")

    # role bindings
    cluster_crn = f"crn://confluent.cloud/organization={org}/environment={env}/cloud-cluster={emu.kafka_cluster_id}"
    binding = {"principal": f"User:{sa['id']}", "role_name": "DeveloperWrite",
               "crn_pattern": f"{cluster_crn}/kafka={emu.kafka_cluster_id}/topic=orders-*"}  # fmt: skip
    rb = (await call("POST", "/iam/v2/role-bindings", json=binding)).json()
    await call("GET", f"/iam/v2/role-bindings/{rb['id']}")
    await call("GET", "/iam/v2/role-bindings", params={"principal": f"User:{sa['id']}", "crn_pattern": cluster_crn})
    await call("DELETE", f"/iam/v2/role-bindings/{rb['id']}")

    # IP groups and filters
    group = (
        await call("POST", "/iam/v2/ip-groups", json={"group_name": "office", "cidr_blocks": ["203.0.113.0/24"]})
    ).json()
    await call("GET", f"/iam/v2/ip-groups/{group['id']}")
    await call("GET", "/iam/v2/ip-groups")
    await call("PATCH", f"/iam/v2/ip-groups/{group['id']}", json={"cidr_blocks": ["198.51.100.0/24"]})
    body = {"filter_name": "mgmt", "resource_group": "management", "ip_groups": [{"id": group["id"]}]}
    ip_filter = (await call("POST", "/iam/v2/ip-filters", json=body)).json()
    await call("GET", f"/iam/v2/ip-filters/{ip_filter['id']}")
    await call("GET", "/iam/v2/ip-filters")
    await call("PATCH", f"/iam/v2/ip-filters/{ip_filter['id']}",
               json={"resource_group": "multiple", "operation_groups": ["MANAGEMENT", "SCHEMA"]})  # fmt: skip
    await call("DELETE", f"/iam/v2/ip-filters/{ip_filter['id']}")
    await call("DELETE", f"/iam/v2/ip-groups/{group['id']}")

    # identity providers, pools, the STS
    providers = "/iam/v2/identity-providers"
    op = (
        await call("POST", providers, json={"display_name": "k8s", "description": "", "issuer": ISSUER, "jwks_uri": JWKS_URI})
    ).json()["id"]  # fmt: skip
    await call("GET", providers)
    await call("PATCH", f"{providers}/{op}", json={"description": "the cluster"})
    await call("PATCH", f"{providers}/{op}/jwks", json={"spec": {"jwks_status": "REFRESHED"}})
    await call("GET", f"{providers}/{op}")  # with its keys now
    pool_body = {"display_name": "orders", "description": "", "identity_claim": "claims.sub", "filter": "true"}
    pool = (await call("POST", f"{providers}/{op}/identity-pools", json=pool_body)).json()["id"]
    await call("GET", f"{providers}/{op}/identity-pools")
    await call("GET", f"{providers}/{op}/identity-pools/{pool}")
    await call("PATCH", f"{providers}/{op}/identity-pools/{pool}", json={"filter": "'confluent' in claims.aud"})
    form = {
        "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
        "subject_token": idp.token(),
        "identity_pool_id": pool,
        "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
        "requested_token_type": "urn:ietf:params:oauth:token-type:access_token",
    }
    token = (await call("POST", "/sts/v1/oauth2/token", data=form, auth=None)).json()["access_token"]
    await call("GET", "/iam/v2/users", headers={"Authorization": f"Bearer {token}"}, auth=None)
    await call("DELETE", f"{providers}/{op}/identity-pools/{pool}")
    await call("DELETE", f"{providers}/{op}")

    # connect/v1 custom plugins
    presigned = (
        await call("POST", "/connect/v1/presigned-upload-url", json={"content_format": "JAR", "cloud": "AWS"})
    ).json()
    assert (await upload(client, presigned, archive(), "plugin.jar")).status_code == 204
    legacy = (
        await call(
            "POST",
            "/connect/v1/custom-connector-plugins",
            json={
                "display_name": "legacy",
                "connector_class": "io.example.LegacySink",
                "connector_type": "SINK",
                "upload_source": {"location": "PRESIGNED_URL_LOCATION", "upload_id": presigned["upload_id"]},
            },
        )
    ).json()
    await call("GET", f"/connect/v1/custom-connector-plugins/{legacy['id']}")
    await call("GET", "/connect/v1/custom-connector-plugins")
    await call("PATCH", f"/connect/v1/custom-connector-plugins/{legacy['id']}", json={"description": "x"})
    await call("GET", "/connect/v1/custom-connector-runtimes")

    # ccpm
    plugin_id, version_id = await ready_ccpm_plugin(client, emu)
    await call("GET", "/ccpm/v1/plugins", params={"environment": env})
    await call("GET", f"/ccpm/v1/plugins/{plugin_id}", params={"environment": env})
    await call(
        "PATCH", f"/ccpm/v1/plugins/{plugin_id}", json={"spec": {"description": "d", "environment": {"id": env}}}
    )
    await call("GET", f"/ccpm/v1/plugins/{plugin_id}/versions", params={"environment": env})
    await call("GET", f"/ccpm/v1/plugins/{plugin_id}/versions/{version_id}", params={"environment": env})

    # connectors
    config = {
        "confluent.connector.type": "CUSTOM",
        "confluent.custom.plugin.id": plugin_id,
        "connector.class": "io.example.OrdersSource",
        "kafka.auth.mode": "SERVICE_ACCOUNT",
        "kafka.service.account.id": sa["id"],
    }
    await call("POST", connectors_path(emu), json={"name": "orders", "config": config})
    await call("PUT", connectors_path(emu, "/managed/config"),
               json={"connector.class": "DatagenSource", "kafka.api.key": "K", "kafka.api.secret": "S"})  # fmt: skip
    await call("GET", connectors_path(emu))
    await call("GET", connectors_path(emu), params={"expand": "info,status,id"})
    await call("GET", connectors_path(emu, "/orders"))
    await call("GET", connectors_path(emu, "/orders/config"))
    await call("GET", connectors_path(emu, "/orders/status"))
    await call("GET", connectors_path(emu, "/orders/tasks"))
    await call("PUT", connectors_path(emu, "/orders/pause"))
    await call("PUT", connectors_path(emu, "/orders/resume"))
    for name in ("orders", "managed"):
        await call("DELETE", connectors_path(emu, f"/{name}"))

    # deletes
    await call("DELETE", f"/ccpm/v1/plugins/{plugin_id}/versions/{version_id}", params={"environment": env})
    await call("DELETE", f"/ccpm/v1/plugins/{plugin_id}", params={"environment": env})
    await call("DELETE", f"/connect/v1/custom-connector-plugins/{legacy['id']}")
    await call("DELETE", f"/iam/v2/service-accounts/{sa['id']}")


async def test_every_implemented_operation_answers_its_schema(
    make_client: ClientFactory, conformance: Conformance
) -> None:
    idp = FakeIdp(time.time)
    emu = Emulator(timing=Timing(), jwks_transport=idp.transport)
    conformance.validated.clear()
    async with make_client(emu) as client:
        await _drive_everything(client, emu, idp)
    assert conformance.validated == IMPLEMENTED


def _unauthenticated_calls(emu: Emulator) -> list[tuple[str, str]]:
    conn = connectors_path(emu)
    return [
        ("GET", "/org/v2/environments"),
        ("GET", f"/cmk/v2/clusters/{emu.kafka_cluster_id}?environment={emu.environment_id}"),
        ("POST", "/iam/v2/service-accounts"),
        ("GET", "/iam/v2/api-keys"),
        ("GET", "/iam/v2/users"),
        ("POST", "/iam/v2/invitations"),
        ("GET", "/iam/v2/role-bindings?crn_pattern=crn://confluent.cloud/organization=x"),
        ("POST", "/iam/v2/ip-groups"),
        ("GET", "/iam/v2/ip-filters"),
        ("GET", "/iam/v2/identity-providers"),
        ("POST", "/iam/v2/identity-providers/op-x/identity-pools"),
        ("GET", "/org/v2/organizations"),
        ("POST", "/ccpm/v1/plugins"),
        ("POST", "/ccpm/v1/presigned-upload-url"),
        ("GET", "/connect/v1/custom-connector-plugins"),
        ("POST", "/connect/v1/presigned-upload-url"),
        ("GET", conn),
        ("POST", conn),
        ("GET", conn + "?expand=info,status,id"),
        ("PUT", conn + "/x/config"),
        ("PUT", conn + "/x/pause"),
        ("DELETE", conn + "/x"),
    ]


async def test_a_bad_key_gets_each_familys_401_schema(
    emu: Emulator, make_client: ClientFactory, conformance: Conformance
) -> None:
    async with make_client(emu, auth=("NOTAKEY000000000", "wrong")) as client:
        for method, url in _unauthenticated_calls(emu):
            response = await client.request(method, url, json={})
            assert response.status_code == 401, (method, url)
    ops = {op for op, status in conformance.statuses if status == 401}
    assert {"listOrgV2Environments", "createConnectv1Connector", "listConnectv1ConnectorsWithExpansions"} <= ops
    assert {"listIamV2Users", "createIamV2Invitation", "listIamV2RoleBindings", "createIamV2IpGroup"} <= ops
    assert {"listIamV2IpFilters", "listOrgV2Organizations"} <= ops
    assert {"listIamV2IdentityProviders", "createIamV2IdentityPool"} <= ops


@pytest.mark.parametrize(
    ("method", "url", "status"),
    [
        ("GET", "/org/v2/environments/env-nope00", 404),
        ("GET", "/cmk/v2/clusters/lkc-nope00?environment={env}", 404),
        ("GET", "/cmk/v2/clusters", 400),
        ("GET", "/iam/v2/service-accounts/sa-nope00", 404),
        ("GET", "/iam/v2/service-accounts?page_size=101", 400),
        ("POST", "/iam/v2/service-accounts", 400),
        ("GET", "/iam/v2/api-keys/NOPE000000000000", 404),
        ("POST", "/iam/v2/api-keys", 400),
        ("GET", "/iam/v2/users/u-nope00", 404),
        ("GET", "/iam/v2/invitations/i-nope0", 404),
        ("DELETE", "/iam/v2/invitations/i-nope0", 404),
        ("POST", "/iam/v2/invitations", 400),
        ("GET", "/iam/v2/role-bindings", 400),
        ("GET", "/iam/v2/role-bindings/rb-nope00", 404),
        ("DELETE", "/iam/v2/role-bindings/rb-nope00", 404),
        ("POST", "/iam/v2/role-bindings", 400),
        ("GET", "/iam/v2/ip-groups/ipg-nope00", 404),
        ("PATCH", "/iam/v2/ip-groups/ipg-nope00", 404),
        ("DELETE", "/iam/v2/ip-groups/ipg-nope00", 404),
        ("POST", "/iam/v2/ip-groups", 400),
        ("GET", "/iam/v2/ip-groups?page_size=0", 400),
        ("GET", "/iam/v2/ip-filters/ipf-nope00", 404),
        ("PATCH", "/iam/v2/ip-filters/ipf-nope00", 404),
        ("DELETE", "/iam/v2/ip-filters/ipf-nope00", 404),
        ("POST", "/iam/v2/ip-filters", 400),
        ("GET", "/iam/v2/ip-filters?include_parent_scopes=true", 400),
        ("GET", "/iam/v2/identity-providers/op-nope", 404),
        ("PATCH", "/iam/v2/identity-providers/op-nope", 404),
        ("DELETE", "/iam/v2/identity-providers/op-nope", 404),
        ("POST", "/iam/v2/identity-providers", 400),
        ("GET", "/iam/v2/identity-providers?page_size=0", 400),
        ("PATCH", "/iam/v2/identity-providers/op-nope/jwks", 404),
        ("GET", "/iam/v2/identity-providers/op-nope/identity-pools/pool-nope", 404),
        ("PATCH", "/iam/v2/identity-providers/op-nope/identity-pools/pool-nope", 404),
        ("DELETE", "/iam/v2/identity-providers/op-nope/identity-pools/pool-nope", 404),
        ("POST", "/sts/v1/oauth2/token", 400),
        ("GET", "/org/v2/organizations/00000000-0000-0000-0000-000000000000", 404),
        ("GET", "/ccpm/v1/plugins/ccp-nope000000?environment={env}", 404),
        ("GET", "/ccpm/v1/plugins", 400),
        ("GET", "/ccpm/v1/plugins?environment={env}&spec.cloud=aws", 400),
        ("GET", "/ccpm/v1/plugins/ccp-nope000000/versions", 400),
        ("GET", "/connect/v1/custom-connector-plugins?cloud=MARS", 400),
        ("POST", "/ccpm/v1/plugins", 400),
        ("GET", "/ccpm/v1/plugins/ccp-nope000000/versions/ccp-ver-nope00?environment={env}", 404),
        ("POST", "/ccpm/v1/presigned-upload-url", 400),
        ("GET", "/connect/v1/custom-connector-plugins/ccp-nope00", 404),
        ("POST", "/connect/v1/custom-connector-plugins", 400),
        ("POST", "/connect/v1/presigned-upload-url", 400),
        ("GET", "{conn}/nope", 404),
        ("GET", "{conn}/nope/status", 404),
        ("PUT", "{conn}/nope/pause", 404),
        ("DELETE", "{conn}/nope", 404),
        ("PUT", "{conn}/nope/config", 400),
        ("GET", "/connect/v1/environments/env-nope00/clusters/lkc-nope00/connectors", 404),
    ],
    ids=lambda v: str(v).replace("/", "_") if isinstance(v, str) else str(v),
)
async def test_errors_answer_their_schema(
    client: httpx.AsyncClient, emu: Emulator, method: str, url: str, status: int
) -> None:
    url = url.format(env=emu.environment_id, conn=connectors_path(emu))
    response = await client.request(method, url, json={})
    assert response.status_code == status, response.text


async def test_only_documented_deviations_are_undeclared(
    emu: Emulator, client: httpx.AsyncClient, conformance: Conformance
) -> None:
    conformance.undeclared.clear()
    body = {
        "name": "dup",
        "config": {"connector.class": "DatagenSource", "kafka.api.key": "K", "kafka.api.secret": "S"},
    }
    assert (await client.post(connectors_path(emu), json=body)).status_code == 201
    assert (await client.post(connectors_path(emu), json=body)).status_code == 409
    missing = "/connect/v1/environments/env-nope00/clusters/lkc-nope00/connectors"
    assert (await client.post(missing, json=body)).status_code == 404
    versions = "/ccpm/v1/plugins/ccp-nope000000/versions"
    assert (await client.get(versions, params={"environment": emu.environment_id})).status_code == 404
    pools = "/iam/v2/identity-providers/op-nope/identity-pools"
    assert (await client.get(pools)).status_code == 404
    assert (await client.post(pools, json={})).status_code == 404
    assert set(conformance.undeclared) <= ALLOWED_UNDECLARED
    assert conformance.undeclared
