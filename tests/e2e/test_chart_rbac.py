"""The chart's RBAC on the real kube-apiserver: `helm install` (no --wait: nothing schedules pods
here), a token minted for the chart's ServiceAccount, and the apiserver's own answer to "may it?"
for every verb the operator uses, and for things it must never do.

Two releases share the module: one serving every namespace, one serving two watched namespaces.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from ccloud_operator.resources import GROUP, KINDS
from ccloud_testenv import ControlPlane

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "helm" / "ccloud-operator"
PREFIX = "chart-rbac"  # every namespace and release here starts with it: the control plane is shared
TEAM_A, TEAM_B, ELSEWHERE = f"{PREFIX}-team-a", f"{PREFIX}-team-b", f"{PREFIX}-elsewhere"
PEERING = PREFIX  # the namespaced release is peered: kopf's CRDs come from the chart's crds/ folder
# The release names contain the chart name, so each release's full name (and ServiceAccount) is its name.
CLUSTER_WIDE, NAMESPACED = f"{PREFIX}-cw-ccloud-operator", f"{PREFIX}-ns-ccloud-operator"


@dataclass(frozen=True)
class Release:
    name: str
    namespace: str
    install: subprocess.CompletedProcess[str]
    kubeconfig: Path  # authenticates with a token minted for the release's ServiceAccount

    @property
    def service_account(self) -> str:
        return self.name  # the release names contain the chart name, so the full name is the release name


@dataclass(frozen=True)
class Check:
    verb: str
    resource: str
    namespace: str = ""  # empty: every namespace at once, or a cluster-scoped resource
    group: str = ""
    subresource: str = ""
    name: str = ""

    def attributes(self) -> dict[str, str]:
        return {k: v for k, v in vars(self).items() if v}

    def __str__(self) -> str:
        resource = f"{self.resource}/{self.subresource}" if self.subresource else self.resource
        return f"{self.verb} {resource}{' ' + self.name if self.name else ''} in {self.namespace or 'every namespace'}"


def _needs(namespace: str) -> list[Check]:
    """What the operator does where it works: the handlers' and kopf's calls, each verb by its caller.

    kopf lists and watches our kinds, Secrets and ConfigMaps; the reconcile reads (get) them by name;
    it JSON-patches our kinds' finalizers and merge-patches their status; it creates, replaces (update)
    and deletes an ApiKey's output Secret and patches the credentials finalizer on a Secret in use;
    kopf and the operator create Events.
    """
    checks = [
        Check(verb, "secrets", namespace) for verb in ("get", "list", "watch", "create", "update", "patch", "delete")
    ]
    checks += [Check("create", "events", namespace)]
    checks += [Check(verb, "configmaps", namespace) for verb in ("get", "list", "watch")]
    for kind in KINDS:
        checks += [Check(verb, kind.plural, namespace, GROUP) for verb in ("get", "list", "watch", "patch")]
        checks.append(Check("patch", kind.plural, namespace, GROUP, subresource="status"))
    return checks


def _never_here(namespace: str) -> list[Check]:
    """What the operator never does even where it works: the users' verbs on our kinds, and more."""
    checks = []
    for kind in KINDS:
        checks += [
            Check(verb, kind.plural, namespace, GROUP) for verb in ("create", "update", "delete", "deletecollection")
        ]
        checks += [Check(verb, kind.plural, namespace, GROUP, subresource="status") for verb in ("get", "update")]
        # blockOwnerDeletion is never set on the Secrets it owns, so no <kind>/finalizers is needed.
        checks.append(Check("update", kind.plural, namespace, GROUP, subresource="finalizers"))
    checks += [Check(verb, "events", namespace) for verb in ("get", "list", "watch", "update", "patch", "delete")]
    checks += [Check(verb, "configmaps", namespace) for verb in ("create", "update", "patch", "delete")]
    checks += [Check("deletecollection", "secrets", namespace), Check("deletecollection", "configmaps", namespace)]
    checks += [Check(verb, resource, namespace) for verb in ("get", "create") for resource in ("pods", "services")]
    checks += [Check("create", "serviceaccounts", namespace, subresource="token")]
    checks += [Check("create", "leases", namespace, "coordination.k8s.io")]
    checks += [Check("create", "rolebindings", namespace, "rbac.authorization.k8s.io")]
    return checks


DISCOVERY = [Check(verb, "customresourcedefinitions", group="apiextensions.k8s.io") for verb in ("list", "watch")]
NEVER = [
    Check("delete", "namespaces"),
    Check("create", "namespaces"),
    Check("patch", "namespaces"),
    Check("get", "nodes"),
    Check("get", "customresourcedefinitions", group="apiextensions.k8s.io"),
    Check("create", "customresourcedefinitions", group="apiextensions.k8s.io"),
    Check("patch", "customresourcedefinitions", group="apiextensions.k8s.io"),
    Check("delete", "customresourcedefinitions", group="apiextensions.k8s.io"),
    Check("create", "clusterrolebindings", group="rbac.authorization.k8s.io"),
    Check("escalate", "clusterroles", group="rbac.authorization.k8s.io"),
    Check("bind", "clusterroles", group="rbac.authorization.k8s.io"),
    Check("impersonate", "serviceaccounts"),
    Check("impersonate", "users"),
    Check("create", "validatingwebhookconfigurations", group="admissionregistration.k8s.io"),
    *_never_here(TEAM_A),
]
# The namespaced release's default credentials: a Secret in its own namespace, outside the watched ones.
CREDENTIALS = "ccloud-credentials"
CASES: list[tuple[str, Check, bool]] = [
    *[("cluster-wide", check, True) for check in _needs("") + DISCOVERY],
    *[("cluster-wide", check, False) for check in NEVER],
    *[("namespaced", check, True) for check in _needs(TEAM_A) + _needs(TEAM_B) + DISCOVERY],
    *[("namespaced", Check(verb, "namespaces"), True) for verb in ("list", "watch")],
    *[("namespaced", Check(verb, "kopfpeerings", TEAM_A, "kopf.dev"), True) for verb in ("list", "watch")],
    *[("namespaced", Check(verb, "kopfpeerings", TEAM_B, "kopf.dev", name=PEERING), True) for verb in ("get", "patch")],
    ("namespaced", Check("patch", "kopfpeerings", TEAM_A, "kopf.dev", name="someone-elses"), False),
    ("namespaced", Check("create", "kopfpeerings", TEAM_A, "kopf.dev"), False),
    ("namespaced", Check("delete", "kopfpeerings", TEAM_A, "kopf.dev", name=PEERING), False),
    ("cluster-wide", Check("list", "clusterkopfpeerings", group="kopf.dev"), False),
    ("cluster-wide", Check("list", "namespaces"), False),  # kopf lists namespaces only when given a list
    *[("namespaced", check, False) for check in NEVER + _never_here(TEAM_B)],
    # The default credentials outside the watched namespaces: that Secret alone, read and held.
    *[("namespaced", Check(verb, "secrets", NAMESPACED, name=CREDENTIALS), True) for verb in ("get", "patch")],
    *[
        ("namespaced", Check(verb, "secrets", NAMESPACED, name=CREDENTIALS), False)
        for verb in ("update", "delete", "watch")
    ],
    *[
        ("namespaced", check, False)
        for check in (
            Check("list", "secrets"),
            Check("watch", "secrets"),
            Check("get", "secrets"),
            Check("create", "secrets"),
            Check("delete", "secrets"),
            Check("get", "secrets", ELSEWHERE),
            Check("patch", "secrets", ELSEWHERE, name=CREDENTIALS),
            Check("list", "secrets", "kube-system"),
            Check("get", "secrets", "kube-system", name=CREDENTIALS),
            Check("get", "secrets", NAMESPACED, name="someone-elses"),
            Check("list", "secrets", NAMESPACED),
            Check("create", "secrets", NAMESPACED),
            Check("get", "configmaps", ELSEWHERE),
            Check("list", "configmaps"),
            Check("list", "apikeys", group=GROUP),
            Check("watch", "customconnectors", group=GROUP),
            Check("get", "apikeys", ELSEWHERE, GROUP),
            Check("patch", "apikeys", ELSEWHERE, GROUP),
            Check("patch", "serviceaccounts", ELSEWHERE, GROUP, subresource="status"),
            Check("create", "events", ELSEWHERE),
            Check("create", "events", NAMESPACED),
        )
    ],
]


@pytest.fixture(scope="module")
def releases(control_plane: ControlPlane) -> Iterator[dict[str, Release]]:
    cluster_wide, namespaced = CLUSTER_WIDE, NAMESPACED
    for namespace in (cluster_wide, namespaced, TEAM_A, TEAM_B):
        control_plane.kubectl("create", "namespace", namespace, check=False)  # left by an earlier run: reuse it
    # warn, not just enforce: the apiserver checks a Deployment's pod template only in warn and audit modes.
    control_plane.kubectl(
        "label", "namespace", cluster_wide, "pod-security.kubernetes.io/enforce=restricted",
        "pod-security.kubernetes.io/warn=restricted",
    )  # fmt: skip
    values = {
        "cluster-wide": [],
        "namespaced": [
            f"watchNamespaces={{{TEAM_A},{TEAM_B}}}",
            "crds.install=false",
            f"peering={PEERING}",
            f"credentials.existingSecret={CREDENTIALS}",
        ],
    }
    made: dict[str, Release] = {}
    try:
        for mode, sets in values.items():
            name = cluster_wide if mode == "cluster-wide" else namespaced
            # Other tests may have applied crds/ already: adopt them (crds.keep leaves them on uninstall).
            install = control_plane.helm(
                "install", name, str(CHART), f"--namespace={name}", "--take-ownership", *(f"--set={s}" for s in sets)
            )
            kubeconfig = control_plane.kubeconfig_for_service_account(name, name)
            made[mode] = Release(name, name, install, kubeconfig)
        yield made
    finally:
        for name in (cluster_wide, namespaced):
            control_plane.helm("uninstall", name, f"--namespace={name}", check=False)
        for namespace in (cluster_wide, namespaced, TEAM_A, TEAM_B):
            control_plane.kubectl("delete", "namespace", namespace, "--wait=false", check=False)


def _reviews(control_plane: ControlPlane, release: Release, checks: list[Check]) -> list[bool]:
    """Ask the apiserver, as the ServiceAccount itself, all the questions in one request batch."""
    items = [
        {
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SelfSubjectAccessReview",
            "spec": {"resourceAttributes": check.attributes()},
        }
        for check in checks
    ]
    result = control_plane.kubectl(
        "create", "-f", "-", "-o", "json", kubeconfig=release.kubeconfig,
        input=json.dumps({"apiVersion": "v1", "kind": "List", "items": items}),
    )  # fmt: skip
    decoder, text, position, answers = json.JSONDecoder(), result.stdout, 0, []
    while text[position:].strip():
        position += len(text[position:]) - len(text[position:].lstrip())
        review, position = decoder.raw_decode(text, position)
        answers.append(bool(review["status"].get("allowed")))
    assert len(answers) == len(checks)
    return answers


def _settled_reviews(
    control_plane: ControlPlane, release: Release, checks: list[Check], granted: list[bool]
) -> list[bool]:
    """The answers once the authorizer has seen the whole release, or after 30 s if it never grants all.

    A new binding reaches the apiserver's RBAC cache a moment after it is stored (later on a busy
    machine), so a question asked right after the install may be refused for that reason alone.
    """
    deadline = time.monotonic() + 30
    while True:
        answers = _reviews(control_plane, release, checks)
        if all(ok for ok, wanted in zip(answers, granted, strict=True) if wanted) or time.monotonic() > deadline:
            return answers
        time.sleep(0.2)


@pytest.fixture(scope="module")
def answers(control_plane: ControlPlane, releases: dict[str, Release]) -> dict[tuple[str, Check], bool]:
    found: dict[tuple[str, Check], bool] = {}
    for mode, release in releases.items():
        cases = [(check, expected) for case_mode, check, expected in CASES if case_mode == mode]
        checks, granted = [check for check, _ in cases], [expected for _, expected in cases]
        got = _settled_reviews(control_plane, release, checks, granted)
        found |= {(mode, check): ok for check, ok in zip(checks, got, strict=True)}
    return found


@pytest.mark.parametrize(
    ("mode", "check", "expected"),
    CASES,
    ids=[f"{mode}: {'may' if expected else 'may not'} {check}" for mode, check, expected in CASES],
)
def test_service_account_may_do_exactly_what_the_operator_needs(
    answers: dict[tuple[str, Check], bool], mode: str, check: Check, expected: bool
) -> None:
    assert answers[(mode, check)] is expected


@pytest.mark.parametrize("mode", ["cluster-wide", "namespaced"])
def test_minted_token_is_the_charts_service_account(
    control_plane: ControlPlane, releases: dict[str, Release], mode: str
) -> None:
    release = releases[mode]
    whoami = control_plane.kubectl("auth", "whoami", "-o", "json", kubeconfig=release.kubeconfig)
    username = json.loads(whoami.stdout)["status"]["userInfo"]["username"]
    assert username == f"system:serviceaccount:{release.namespace}:{release.service_account}"


@pytest.mark.parametrize(
    ("namespace_flag", "allowed"),
    [((f"--namespace={TEAM_A}",), True), (("--all-namespaces",), False), ((f"--namespace={ELSEWHERE}",), False)],
    ids=["a watched namespace", "every namespace", "an unwatched namespace"],
)
def test_namespaced_release_lists_secrets_only_where_it_watches(
    control_plane: ControlPlane,
    releases: dict[str, Release],
    answers: dict[tuple[str, Check], bool],
    namespace_flag: tuple[str, ...],
    allowed: bool,
) -> None:
    # `answers` is asked for only to wait until the authorizer has seen the release's bindings.
    result = control_plane.kubectl(
        "get", "secrets", *namespace_flag, "-o", "name", kubeconfig=releases["namespaced"].kubeconfig, check=False
    )
    assert (result.returncode == 0) is allowed
    assert ("Forbidden" in result.stderr) is not allowed


def test_install_meets_restricted_pod_security_and_tells_what_to_do_next(releases: dict[str, Release]) -> None:
    install = releases["cluster-wide"].install
    assert "PodSecurity" not in install.stderr
    assert "kubectl get ccloud -A" in install.stdout
    # No default credentials: the notes say how to make the Secret, and the example references one.
    assert "create secret generic ccloud-credentials" in install.stdout
    assert "credentialsSecretRef: {name: ccloud-credentials}" in install.stdout
    assert "kind: ServiceAccount" in install.stdout


def test_namespaced_notes_name_the_credentials_and_a_watched_namespace(releases: dict[str, Release]) -> None:
    notes = releases["namespaced"].install.stdout
    assert f"It serves the namespaces {TEAM_A}, {TEAM_B}" in notes
    assert f"Secret {NAMESPACED}/{CREDENTIALS}" in notes
    assert f"namespace: {TEAM_A}" in notes
    assert "credentialsSecretRef" not in notes  # the default credentials serve the example
    assert "kubectl get ccloud -A" in notes


def test_the_example_in_the_notes_is_accepted_by_the_apiserver(
    control_plane: ControlPlane, releases: dict[str, Release]
) -> None:
    notes = releases["namespaced"].install.stdout
    start = notes.index("<<'EOF'\n") + len("<<'EOF'\n")
    block = notes[start : notes.index("\n     EOF", start)]
    manifest = yaml.safe_load("\n".join(line.removeprefix("     ") for line in block.splitlines()))
    assert manifest["kind"] == "ServiceAccount"
    result = control_plane.kubectl("apply", "--dry-run=server", "-f", "-", input=json.dumps(manifest))
    assert "created (server dry run)" in result.stdout


def test_crds_are_installed_served_and_kept(control_plane: ControlPlane, releases: dict[str, Release]) -> None:
    for kind in KINDS:
        crd = yaml.safe_load(control_plane.kubectl("get", "crd", kind.crd_name, "-o", "yaml").stdout)
        assert crd["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
        established = {c["type"]: c["status"] for c in crd["status"]["conditions"]}
        assert established.get("Established") == "True"


def test_peered_release_creates_its_peering_object_in_each_watched_namespace(
    control_plane: ControlPlane, releases: dict[str, Release]
) -> None:
    for namespace in (TEAM_A, TEAM_B):
        found = control_plane.kubectl("get", "kopfpeerings.kopf.dev", PEERING, f"--namespace={namespace}", "-o", "name")
        assert found.stdout.strip() == f"kopfpeering.kopf.dev/{PEERING}"
