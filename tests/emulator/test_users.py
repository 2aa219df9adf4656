"""iam/v2 users and invitations, the admin API that accepts them, and org/v2 organizations."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path

import httpx
import pytest

from ccloud_emulator import Emulator, Timing

from .conftest import ClientFactory, Clock

INVITATIONS = "/iam/v2/invitations"
USERS = "/iam/v2/users"
DAY = 24 * 3600.0


@pytest.fixture
async def admin(emu: Emulator) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=emu.app), base_url="http://emu/_emulator") as c:
        yield c


def seconds(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


async def invite(client: httpx.AsyncClient, email: str = "alice@example.com", **extra: str) -> httpx.Response:
    return await client.post(INVITATIONS, json={"email": email, **extra})


async def test_an_invitation_makes_a_pending_user(client: httpx.AsyncClient, emu: Emulator) -> None:
    created = await invite(client, auth_type="AUTH_TYPE_SSO")
    assert created.status_code == 201, created.text
    body = created.json()
    assert re.fullmatch(r"i-[a-z0-9]{5}", body["id"])
    assert created.headers["location"].endswith(f"{INVITATIONS}/{body['id']}")
    org = f"crn://confluent.cloud/organization={emu.organization_id}"
    assert body["metadata"]["resource_name"] == f"{org}/invitation={body['id']}"
    assert (body["email"], body["auth_type"], body["status"], body["accepted_at"]) == (
        "alice@example.com",
        "AUTH_TYPE_SSO",
        "INVITE_STATUS_SENT",
        None,
    )
    assert seconds(body["expires_at"]) - seconds(body["metadata"]["created_at"]) == pytest.approx(30 * DAY)
    admin_user = emu.core.state.defaults["user_id"]
    assert body["creator"] == {
        "id": admin_user,
        "related": f"https://api.confluent.cloud{USERS}/{admin_user}",
        "resource_name": f"{org}/user={admin_user}",
    }
    user_id = body["user"]["id"]
    assert re.fullmatch(r"u-[a-z0-9]{6}", user_id)
    assert body["user"]["related"].endswith(f"{USERS}/{user_id}")

    user = (await client.get(f"{USERS}/{user_id}")).json()
    assert (user["email"], user["auth_type"], user["metadata"]["resource_name"]) == (
        "alice@example.com",
        "AUTH_TYPE_SSO",
        f"{org}/user={user_id}",
    )
    assert {u["id"] for u in (await client.get(USERS)).json()["data"]} == {admin_user, user_id}
    # a pending user can be granted roles before accepting
    rb = await client.post(
        "/iam/v2/role-bindings",
        json={"principal": f"User:{user_id}", "role_name": "MetricsViewer", "crn_pattern": org},
    )
    assert rb.status_code == 201


@pytest.mark.parametrize(
    "email",
    [
        "alice",
        "alice@",
        "@example.com",
        "alice@example",
        "alice@@example.com",
        "alice smith@example.com",
        "alice@-example.com",
        "alice@example..com",
        "",
    ],
    ids=[
        "no at",
        "no domain",
        "no local part",
        "no dot in domain",
        "two ats",
        "a space",
        "label starts with -",
        "empty label",
        "empty",
    ],
)
async def test_an_invalid_email_is_refused(client: httpx.AsyncClient, email: str) -> None:
    response = await invite(client, email)
    assert response.status_code == 400, response.text
    error = response.json()["errors"][0]
    assert (error["code"], error["source"]) == ("invalid_input", {"pointer": "/email"})
    assert len((await client.get(USERS)).json()["data"]) == 1  # the seeded admin only


async def test_an_invitation_needs_an_email_and_a_known_auth_type(client: httpx.AsyncClient) -> None:
    missing = await client.post(INVITATIONS, json={"auth_type": "AUTH_TYPE_LOCAL"})
    assert (missing.status_code, missing.json()["errors"][0]["source"]) == (400, {"pointer": "/email"})
    bad = await invite(client, auth_type="AUTH_TYPE_PASSWORD")
    assert (bad.status_code, bad.json()["errors"][0]["source"]) == (400, {"pointer": "/auth_type"})
    assert (await invite(client)).json()["auth_type"] == "AUTH_TYPE_LOCAL"


async def test_an_address_taken_is_a_conflict_pointing_at_what_holds_it(
    client: httpx.AsyncClient, emu: Emulator
) -> None:
    first = (await invite(client, "alice@example.com")).json()
    again = await invite(client, "Alice@Example.COM")
    assert (again.status_code, again.json()["errors"][0]["code"]) == (409, "resource_already_exists")
    assert again.headers["location"].endswith(f"{INVITATIONS}/{first['id']}")
    admin_user = emu.core.state.users[emu.core.state.defaults["user_id"]]
    member = await invite(client, admin_user.email)
    assert member.status_code == 409
    assert member.headers["location"].endswith(f"{USERS}/{admin_user.id}")


async def test_accepting_activates_the_user(client: httpx.AsyncClient, admin: httpx.AsyncClient) -> None:
    invitation = (await invite(client)).json()
    accepted = await admin.post(f"/invitations/{invitation['id']}/accept", json={"full_name": "Alice Liddell"})
    assert accepted.json() == {
        "id": invitation["id"],
        "status": "INVITE_STATUS_ACCEPTED",
        "user_id": invitation["user"]["id"],
    }
    read = (await client.get(f"{INVITATIONS}/{invitation['id']}")).json()
    assert read["status"] == "INVITE_STATUS_ACCEPTED"
    assert read["accepted_at"] is not None
    assert (await client.get(f"{USERS}/{invitation['user']['id']}")).json()["full_name"] == "Alice Liddell"

    twice = await admin.post(f"/invitations/{invitation['id']}/accept")
    assert (twice.status_code, "INVITE_STATUS_ACCEPTED" in twice.json()["error"]) == (400, True)
    assert (await admin.post("/invitations/i-nope0/accept")).status_code == 400
    # a member now: another invitation for the address is a conflict naming the user
    again = await invite(client)
    assert again.headers["location"].endswith(f"{USERS}/{invitation['user']['id']}")

    # deleting an accepted invitation leaves the user be
    assert (await client.delete(f"{INVITATIONS}/{invitation['id']}")).status_code == 204
    assert (await client.get(f"{INVITATIONS}/{invitation['id']}")).status_code == 404
    assert (await client.get(f"{USERS}/{invitation['user']['id']}")).status_code == 200


async def test_deleting_an_unaccepted_invitation_deactivates_its_user(client: httpx.AsyncClient, emu: Emulator) -> None:
    invitation = (await invite(client)).json()
    user_id = invitation["user"]["id"]
    org = f"crn://confluent.cloud/organization={emu.organization_id}"
    rb = (
        await client.post(
            "/iam/v2/role-bindings",
            json={"principal": f"User:{user_id}", "role_name": "MetricsViewer", "crn_pattern": org},
        )
    ).json()["id"]

    assert (await client.delete(f"{INVITATIONS}/{invitation['id']}")).status_code == 204
    gone = await client.get(f"{USERS}/{user_id}")
    assert (gone.status_code, gone.json()["errors"][0]["code"]) == (404, "user_not_found")
    assert user_id not in {u["id"] for u in (await client.get(USERS)).json()["data"]}
    assert (await client.get(f"{INVITATIONS}/{invitation['id']}")).status_code == 404
    assert (await client.get(f"/iam/v2/role-bindings/{rb}")).status_code == 404
    assert (await client.delete(f"{INVITATIONS}/{invitation['id']}")).status_code == 404
    # the address is free again: a new invitation, a new user
    fresh = await invite(client)
    assert fresh.status_code == 201
    assert fresh.json()["user"]["id"] != user_id


async def test_an_invitation_expires_and_may_be_sent_again(clock: Clock, make_client: ClientFactory) -> None:
    emu = Emulator(timing=Timing(invitation_expiry=7 * DAY), clock=clock)
    async with make_client(emu) as client:
        first = (await invite(client)).json()
        assert seconds(first["expires_at"]) == pytest.approx(clock.now + 7 * DAY)
        clock.advance(7 * DAY - 1)
        assert (await client.get(f"{INVITATIONS}/{first['id']}")).json()["status"] == "INVITE_STATUS_SENT"
        clock.advance(1)
        assert (await client.get(f"{INVITATIONS}/{first['id']}")).json()["status"] == "INVITE_STATUS_EXPIRED"
        with pytest.raises(ValueError, match="EXPIRED"):
            emu.accept_invitation(first["id"])

        second = await invite(client)
        assert second.status_code == 201, second.text
        assert second.json()["user"]["id"] == first["user"]["id"]  # the same pending user
        expired = await client.get(INVITATIONS, params={"status": "INVITE_STATUS_EXPIRED"})
        assert [i["id"] for i in expired.json()["data"]] == [first["id"]]
        # the expired one goes, the user stays pending behind the open one
        assert (await client.delete(f"{INVITATIONS}/{first['id']}")).status_code == 204
        assert (await client.get(f"{USERS}/{first['user']['id']}")).status_code == 200
        emu.accept_invitation(second.json()["id"])
        assert (await client.get(f"{INVITATIONS}/{second.json()['id']}")).json()["status"] == "INVITE_STATUS_ACCEPTED"


async def test_the_admin_api_expires_an_invitation(client: httpx.AsyncClient, admin: httpx.AsyncClient) -> None:
    invitation = (await invite(client)).json()
    assert (await admin.post(f"/invitations/{invitation['id']}/expire")).status_code == 204
    assert (await client.get(f"{INVITATIONS}/{invitation['id']}")).json()["status"] == "INVITE_STATUS_EXPIRED"
    assert (await admin.post(f"/invitations/{invitation['id']}/accept")).status_code == 400
    assert (await admin.post(f"/invitations/{invitation['id']}/expire")).status_code == 400
    assert (await admin.post("/invitations/i-nope0/expire")).status_code == 400


async def test_invitations_are_listed_by_exact_filters(client: httpx.AsyncClient, emu: Emulator) -> None:
    alice = (await invite(client, "alice@example.com")).json()
    bob = (await invite(client, "bob@example.com")).json()
    emu.accept_invitation(bob["id"])
    sa = (await client.post("/iam/v2/service-accounts", json={"display_name": "inviter"})).json()["id"]
    emu.add_api_key("INVITERKEY000001", "i" * 64, owner=sa)

    async def listed(**params: str) -> list[str]:
        response = await client.get(INVITATIONS, params=params)
        assert response.status_code == 200
        return [i["id"] for i in response.json()["data"]]

    assert await listed() == [alice["id"], bob["id"]]
    assert await listed(email="alice@example.com") == [alice["id"]]
    assert await listed(email="ALICE@example.com") == []
    assert await listed(status="INVITE_STATUS_SENT") == [alice["id"]]
    assert await listed(status="INVITE_STATUS_ACCEPTED") == [bob["id"]]
    assert await listed(user=bob["user"]["id"]) == [bob["id"]]
    assert await listed(creator=emu.core.state.defaults["user_id"]) == [alice["id"], bob["id"]]
    transport = httpx.ASGITransport(app=emu.app)
    async with httpx.AsyncClient(
        transport=transport, base_url="https://api.confluent.cloud", auth=("INVITERKEY000001", "i" * 64)
    ) as by_sa:
        carol = (await invite(by_sa, "carol@example.com")).json()
    assert carol["creator"]["related"].endswith(f"/iam/v2/service-accounts/{sa}")
    assert await listed(creator=sa) == [carol["id"]]


async def test_users_page(client: httpx.AsyncClient) -> None:
    invited = [(await invite(client, f"user{n}@example.com")).json()["user"]["id"] for n in range(4)]
    first = (await client.get(USERS, params={"page_size": 3})).json()
    rest = (await client.get(first["metadata"]["next"])).json()
    assert [u["id"] for u in first["data"] + rest["data"]][1:] == invited
    assert first["metadata"]["total_size"] == 5


async def test_the_organisation_is_discoverable(client: httpx.AsyncClient, emu: Emulator) -> None:
    listed = (await client.get("/org/v2/organizations")).json()
    assert [o["id"] for o in listed["data"]] == [emu.organization_id]
    org = listed["data"][0]
    assert org["metadata"]["resource_name"] == f"crn://confluent.cloud/organization={emu.organization_id}"
    assert org["display_name"] == "Emulated organization"
    assert (await client.get(f"/org/v2/organizations/{emu.organization_id}")).json() == org
    # an environment's CRN names it too
    env = (await client.get(f"/org/v2/environments/{emu.environment_id}")).json()
    assert env["metadata"]["resource_name"].startswith(f"crn://confluent.cloud/organization={emu.organization_id}/")


async def test_an_organisation_sees_only_itself(emu: Emulator, make_client: ClientFactory) -> None:
    other = emu.add_organization("other")
    emu.add_api_key("OTHERKEY00000001", "o" * 64, organization_id=other)
    async with make_client(emu, auth=("OTHERKEY00000001", "o" * 64)) as theirs:
        assert [o["id"] for o in (await theirs.get("/org/v2/organizations")).json()["data"]] == [other]
        assert (await theirs.get(f"/org/v2/organizations/{emu.organization_id}")).status_code == 404
        invitation = (await invite(theirs)).json()
    async with make_client(emu) as ours:
        assert (await ours.get(f"{INVITATIONS}/{invitation['id']}")).status_code == 404
        assert (await ours.get(f"{USERS}/{invitation['user']['id']}")).status_code == 404
        # the same address may be invited in each organisation
        assert (await invite(ours)).status_code == 201


async def test_access_objects_survive_a_restart(tmp_path: Path, make_client: ClientFactory) -> None:
    path = tmp_path / "emulator.json"
    first = Emulator(state_file=path)
    org = f"crn://confluent.cloud/organization={first.organization_id}"
    async with make_client(first) as client:
        invitation = (await invite(client)).json()
        first.accept_invitation(invitation["id"])
        pending = (await invite(client, "bob@example.com")).json()
        rb = (
            await client.post(
                "/iam/v2/role-bindings",
                json={
                    "principal": f"User:{invitation['user']['id']}",
                    "role_name": "MetricsViewer",
                    "crn_pattern": org,
                },
            )
        ).json()
        group = (await client.post("/iam/v2/ip-groups", json={"group_name": "g", "cidr_blocks": ["10.0.0.0/8"]})).json()
        ip_filter = (
            await client.post(
                "/iam/v2/ip-filters",
                json={"filter_name": "f", "resource_group": "management", "ip_groups": [{"id": group["id"]}]},
            )
        ).json()
    second = Emulator(state_file=path)
    async with make_client(second) as client:
        assert (await client.get(f"{INVITATIONS}/{invitation['id']}")).json()["status"] == "INVITE_STATUS_ACCEPTED"
        assert (await client.get(f"{INVITATIONS}/{pending['id']}")).json()["status"] == "INVITE_STATUS_SENT"
        assert (await client.get(f"/iam/v2/role-bindings/{rb['id']}")).json() == rb
        assert (await client.get(f"/iam/v2/ip-filters/{ip_filter['id']}")).json() == ip_filter
        assert (await client.delete(f"/iam/v2/ip-groups/{group['id']}")).status_code == 400
        # a pending user stays pending: deleting its invitation still deactivates it
        assert (await client.delete(f"{INVITATIONS}/{pending['id']}")).status_code == 204
        assert (await client.get(f"{USERS}/{pending['user']['id']}")).status_code == 404


def test_a_state_file_from_before_users_had_a_status_still_loads(tmp_path: Path) -> None:
    path = tmp_path / "emulator.json"
    Emulator(state_file=path)
    data = json.loads(path.read_text())
    for user in data["users"].values():
        for newer in ("full_name", "auth_type", "status", "created_at", "updated_at"):
            user.pop(newer)
    for table in ("invitations", "role_bindings", "ip_groups", "ip_filters"):
        data.pop(table)
    path.write_text(json.dumps(data))
    emu = Emulator(state_file=path)
    user = emu.core.state.users[emu.core.state.defaults["user_id"]]
    assert (user.status.value, user.auth_type) == ("ACTIVE", "AUTH_TYPE_LOCAL")
