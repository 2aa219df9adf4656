"""ConnectorPlugin: a ccpm/v1 plugin and its versions, or a legacy connect/v1 custom connector plugin.

Observe by ID (or by display name when adopting or recovering), then create, update or nothing; for
CCPM, then each version: a listed version missing in Confluent is created from its archive (fetched,
verified against sha256, uploaded through the presigned flow of the plugin's cloud), a version gone
from the list is deleted, and a version whose archive or classes changed is refused (versions are
immutable: a new one is needed). Each version's create is checkpointed on its own status entry, so a
crash between upload and create leaves neither a duplicate version nor a reused upload.

What a CCPM plugin reads: its versions list, once a reconcile (no other answer carries the versions,
and a 404 from it says the plugin is gone), and its own fields from its environment's plugin list,
shared by every plugin of that environment and read at least once per resync interval; by ID after a
spec change, and before acting on a difference the shared list showed. Reconciles a moment apart (a
connector that changes wakes the plugin whose version it uses) share the versions list too.
Deleting the plugin deletes its versions with it: one DELETE, not one per version.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pydantic.alias_generators import to_camel

from ccloud_operator.confluent import ApiError, Conflict, NotFound, Plugin, PluginVersion, VersionPhase
from ccloud_operator.confluent import ConnectorClass as RemoteClass
from ccloud_operator.confluent.custom_plugins import CustomConnectorPlugin
from ccloud_operator.reconcile.engine import BaseReconciler, delete_resource
from ccloud_operator.reconcile.kinds.plugin_archives import ArchiveProblem, obtain_and_upload
from ccloud_operator.reconcile.outcome import Outcome, Ready, Terminal, Waiting
from ccloud_operator.reconcile.references import CONFIGMAP, SECRET, ObjectKey, Reference, Role, part_of
from ccloud_operator.reconcile.session import Session
from ccloud_operator.resources.base import AdoptionPolicy, ManagementPolicy
from ccloud_operator.resources.connector_plugin import (
    CONNECTOR_PLUGIN,
    Archive,
    ConnectorPluginSpec,
    ConnectorPluginStatus,
    LegacyPlugin,
    VersionStatus,
)
from ccloud_operator.resources.connector_plugin import (
    PluginVersion as VersionSpec,
)
from ccloud_operator.resources.connector_plugin import VersionPhase as Phase

__all__ = ["ConnectorPluginReconciler", "PluginRequest", "create_request", "update_request", "version_drift"]

PluginSession = Session[ConnectorPluginSpec, ConnectorPluginStatus]
VERSIONS_READY = "VersionsReady"
VERSIONS_REMOVED = "VersionsRemoved"


@dataclass(frozen=True)
class PluginRequest:
    display_name: str | None = None
    description: str | None = None
    documentation_link: str | None = None
    sensitive_config_properties: tuple[str, ...] | None = None


def create_request(spec: ConnectorPluginSpec, name: str) -> PluginRequest:
    legacy = spec.legacy
    return PluginRequest(
        display_name=spec.display_name or name,
        description=spec.description,
        documentation_link=legacy.documentation_link if legacy else None,
        sensitive_config_properties=tuple(legacy.sensitive_config_properties) if legacy else None,
    )


def update_request(
    spec: ConnectorPluginSpec, name: str, remote: Plugin | CustomConnectorPlugin
) -> PluginRequest | None:
    """The PATCH that makes `remote` match the spec; None when it already does."""
    want = create_request(spec, name)
    if isinstance(remote, Plugin):
        have = PluginRequest(display_name=remote.spec.display_name, description=remote.spec.description or "")
    else:
        have = PluginRequest(
            display_name=remote.display_name,
            description=remote.description or "",
            documentation_link=remote.documentation_link,
            sensitive_config_properties=tuple(remote.sensitive_config_properties),
        )
    patch = PluginRequest(
        display_name=want.display_name if want.display_name != have.display_name else None,
        description=want.description if want.description != have.description else None,
        documentation_link=want.documentation_link
        if want.documentation_link is not None and want.documentation_link != have.documentation_link
        else None,
        sensitive_config_properties=want.sensitive_config_properties
        if want.sensitive_config_properties is not None
        and sorted(want.sensitive_config_properties) != sorted(have.sensitive_config_properties or ())
        else None,
    )
    return None if patch == PluginRequest() else patch


def version_drift(want: VersionSpec, recorded: VersionStatus | None, remote: PluginVersion) -> str | None:
    """What differs between a listed version and the one Confluent has, if anything (versions never change)."""
    classes = sorted((c.class_name, str(c.type)) for c in want.connector_classes)
    theirs = sorted((c.class_name, c.type.upper()) for c in remote.spec.connector_classes)
    if classes != theirs:
        return "its connectorClasses"
    sha = (want.archive.sha256 or "").lower()
    if recorded is not None and recorded.sha256 and sha and recorded.sha256.lower() != sha:
        return f"its archive (sha256 {recorded.sha256[:12]}… was uploaded, the spec says {sha[:12]}…)"
    return None


class ConnectorPluginReconciler(BaseReconciler[ConnectorPluginSpec, ConnectorPluginStatus]):
    kind = CONNECTOR_PLUGIN
    spec_model = ConnectorPluginSpec
    status_model = ConnectorPluginStatus

    def references(self, spec: ConnectorPluginSpec, namespace: str, name: str) -> list[Reference]:
        archives: list[tuple[str, Archive]] = [
            (f"spec.versions[{v.version}].archive", v.archive) for v in spec.versions
        ]
        if spec.legacy is not None:
            archives.append(("spec.legacy.archive", spec.legacy.archive))
        refs = []
        for where, archive in archives:
            if archive.config_map_ref is not None:
                target = ObjectKey(CONFIGMAP, namespace, archive.config_map_ref.name)
                refs.append(Reference(Role.INPUT, target, f"{where}.configMapRef"))
            if archive.auth_secret_ref is not None:
                target = ObjectKey(SECRET, namespace, archive.auth_secret_ref.name)
                refs.append(Reference(Role.INPUT, target, f"{where}.authSecretRef"))
        return refs

    def may_exist(self, status: ConnectorPluginStatus) -> bool:
        return super().may_exist(status) or any(v.id or v.pending_create for v in status.versions)

    # -- sync ------------------------------------------------------------------------------------

    async def sync(self, s: PluginSession) -> Outcome:
        try:
            return await self._sync(s)
        except ArchiveProblem as problem:
            return problem.outcome(s)

    async def _sync(self, s: PluginSession) -> Outcome:
        name = s.spec.display_name or s.ref.name
        observe_only = s.spec.management_policy == ManagementPolicy.OBSERVE_ONLY
        observed = ""  # what ObserveOnly saw differ, for the Ready message
        made_now = False
        remote = await self._observe(s, name)
        if remote is not None and remote.id != s.status.id and (holder := await s.holder(remote.id)) is not None:
            return Terminal(
                "AlreadyManaged",
                f"Plugin {remote.id} is already managed by ConnectorPlugin {holder.namespace}/{holder.name}: "
                "two objects must not own one plugin. Choose another spec.displayName, or delete one of them.",
            )
        if remote is None:
            if s.spec.adopt_id is not None:
                return Terminal("NotFound", f"spec.adoptId: no plugin {s.spec.adopt_id} in Confluent Cloud.")
            if observe_only or s.spec.adoption_policy == AdoptionPolicy.ADOPT:
                return Waiting(
                    "NotFound",
                    f'No plugin named "{name}" exists in Confluent Cloud to {"observe" if observe_only else "adopt"}.',
                    after=s.ctx.settings.resync_seconds,
                    synced=False,
                )
            created = await self._create(s, name)
            if not isinstance(created, tuple):
                return created
            # made_now: by this very call, not found after a 409, so it has no versions to list yet.
            remote, made_now = created
        else:
            s.status.pending_create = None
            if (patch := update_request(s.spec, s.ref.name, remote)) is not None:
                if observe_only:
                    differs = ", ".join(to_camel(k) for k, v in vars(patch).items() if v is not None)
                    observed = f"Confluent differs from the spec ({differs}); ObserveOnly leaves it."
                else:
                    remote = await self._update(s, remote, patch)
        s.status.id = remote.id
        s.status.display_name = remote.spec.display_name if isinstance(remote, Plugin) else remote.display_name
        s.status.resource_name = remote.metadata.resource_name if remote.metadata else None
        if s.spec.legacy is not None:
            return Ready("Observed", observed) if observe_only else Ready("Ready")
        verdict = await self._sync_versions(s, remote.id, observe_only, known=[] if made_now else None)
        if observed and isinstance(verdict, Ready):
            return Ready(verdict.reason, observed, verdict.recheck)
        return verdict

    async def _observe(self, s: PluginSession, name: str) -> Plugin | CustomConnectorPlugin | None:
        wanted = s.status.id or s.spec.adopt_id
        if wanted is not None:
            if s.spec.legacy is None and (listed := await _listed(s, wanted)) is not None:
                return listed
            try:
                return await self._get(s, wanted)
            except NotFound:
                if s.status.pending_create is None:
                    return None
        by_name = (
            s.status.pending_create is not None
            or s.spec.adoption_policy != AdoptionPolicy.CREATE_ONLY
            or s.spec.management_policy == ManagementPolicy.OBSERVE_ONLY
        )
        if not by_name or s.spec.adopt_id is not None:
            return None
        if s.spec.legacy is not None:
            return await s.client.custom_plugins.find_by_display_name(name)
        return await s.client.plugins.find_by_display_name(str(s.spec.environment), name)

    async def _get(self, s: PluginSession, plugin_id: str) -> Plugin | CustomConnectorPlugin:
        if s.spec.legacy is not None:
            return await s.client.custom_plugins.get(plugin_id)
        return await s.client.plugins.get(plugin_id, str(s.spec.environment))

    async def _create(self, s: PluginSession, name: str) -> tuple[Plugin | CustomConnectorPlugin, bool] | Outcome:
        """The plugin and whether this call made it (False: an earlier lost create's, found after a 409)."""
        earlier = s.status.pending_create is not None
        await s.begin_create(name=name)
        try:
            if s.spec.legacy is not None:
                legacy = await self._create_legacy(s, s.spec.legacy, name)
                await s.created(legacy.id)
                return legacy, True
            plugin = await s.client.plugins.create(
                name, s.spec.cloud, str(s.spec.environment), description=s.spec.description
            )
        except Conflict:
            found = await self._observe_by_name(s, name)
            if earlier and found is not None and await s.holder(found.id) is None:
                await s.created(found.id)  # our earlier create made it; the list had not shown it yet
                return found, False
            s.status.pending_create = None
            holder = await s.holder(found.id) if found else None
            if holder is not None:
                return Terminal(
                    "AlreadyExists",
                    f'A plugin named "{name}" already exists and is managed by ConnectorPlugin '
                    f"{holder.namespace}/{holder.name}: choose another spec.displayName.",
                )
            return Terminal(
                "AlreadyExists",
                f'A plugin named "{name}" already exists in Confluent Cloud{f" ({found.id})" if found else ""}: '
                "set spec.adoptionPolicy: AdoptOrCreate to adopt it, or choose another spec.displayName.",
            )
        await s.created(plugin.id)
        _forget_plugins(s)
        return plugin, True

    async def _observe_by_name(self, s: PluginSession, name: str) -> Plugin | CustomConnectorPlugin | None:
        if s.spec.legacy is not None:
            return await s.client.custom_plugins.find_by_display_name(name)
        return await s.client.plugins.find_by_display_name(str(s.spec.environment), name)

    async def _create_legacy(self, s: PluginSession, legacy: LegacyPlugin, name: str) -> CustomConnectorPlugin:
        uploaded = await obtain_and_upload(s, legacy.archive, "spec.legacy.archive", environment=None)
        s.status.sha256 = uploaded.sha256
        return await s.client.custom_plugins.create(
            name,
            legacy.connector_class,
            legacy.connector_type.value,
            uploaded.upload_id,
            cloud=s.spec.cloud.value,
            description=s.spec.description,
            documentation_link=legacy.documentation_link,
            sensitive_config_properties=legacy.sensitive_config_properties,
        )

    async def _update(
        self, s: PluginSession, remote: Plugin | CustomConnectorPlugin, patch: PluginRequest
    ) -> Plugin | CustomConnectorPlugin:
        if isinstance(remote, Plugin):
            updated = await s.client.plugins.update(
                remote.id, str(s.spec.environment), display_name=patch.display_name, description=patch.description
            )
            _forget_plugins(s)
            return updated
        return await s.client.custom_plugins.update(
            remote.id,
            display_name=patch.display_name,
            description=patch.description,
            documentation_link=patch.documentation_link,
            sensitive_config_properties=patch.sensitive_config_properties,
        )

    # -- versions --------------------------------------------------------------------------------

    async def _sync_versions(
        self, s: PluginSession, plugin_id: str, observe_only: bool, known: list[PluginVersion] | None = None
    ) -> Outcome:
        """`known`: the plugin's versions when the caller knows them (none, for a plugin it just made)."""
        if known is None:
            known = await _versions(s, plugin_id)
        remote = {v.spec.version: v for v in known}
        recorded = {v.version: v for v in s.status.versions}
        entries: list[VersionStatus] = []
        problems: list[str] = []
        waiting: list[str] = []
        for want in s.spec.versions:
            entry = recorded.get(want.version) or VersionStatus(version=want.version)
            entries.append(entry)
            s.status.versions = [
                *entries,
                *[v for v in s.status.versions if v.version not in {e.version for e in entries}],
            ]
            have = remote.get(want.version)
            if have is not None and have.phase == VersionPhase.FAILED and _archive_changed(want, entry):
                # A failed version holds nothing: a new archive for it replaces it under the same string.
                await _delete_version(s, plugin_id, have.id)
                have = None
                entry.id = None
            if have is None:
                if observe_only:
                    problems.append(f"version {want.version} does not exist in Confluent")
                    continue
                have = await self._create_version(s, plugin_id, want, entry)
            entry.id, entry.pending_create, entry.upload_id = have.id, None, None
            if (drift := version_drift(want, entry, have)) is not None:
                problems.append(
                    f"version {want.version} in Confluent differs in {drift}: versions cannot change, "
                    "add a new version to spec.versions instead"
                )
            entry.phase = Phase(have.phase) if have.phase in set(Phase) else None
            entry.message = have.status.error_message or "" if have.phase == VersionPhase.FAILED else ""
            if have.phase == VersionPhase.FAILED:
                problems.append(f"version {want.version} FAILED: {entry.message or 'Confluent gave no reason'}")
            elif have.phase != VersionPhase.READY:
                waiting.append(want.version)
        listed = {v.version for v in s.spec.versions}
        kept: list[str] = []
        in_confluent = False  # in use by a connector Confluent knows and Kubernetes does not (or not yet)
        for version, have in remote.items():
            # Only what this object listed before and no longer does: an adopted plugin's other versions stay.
            if version not in listed and version in recorded and not observe_only:
                if users := await _users(s, plugin_id, version):
                    kept.append(f"version {version} is used by {users}")
                    entries.append(recorded[version])
                    continue
                try:
                    await _delete_version(s, plugin_id, have.id)
                except ApiError as exc:
                    if exc.code != "plugin_in_use":
                        raise
                    kept.append(f"version {version} is in use in Confluent ({exc.detail or exc.code})")
                    entries.append(recorded[version])
                    in_confluent = True
        s.status.versions = entries
        self._report_removals(s, kept)
        verdict = self._verdict(s, problems, waiting, observe_only)
        if in_confluent and isinstance(verdict, Ready):
            # No watch says when a connector outside Kubernetes (or one still moving) lets go: poll.
            return Ready(verdict.reason, verdict.message, recheck=s.ctx.settings.wait_seconds * 10)
        return verdict

    def _report_removals(self, s: PluginSession, kept: Sequence[str]) -> None:
        """Versions gone from the spec that cannot be deleted yet, because connectors run them."""
        if kept:
            s.set_condition(
                VERSIONS_REMOVED,
                False,
                "InUse",
                f"{'; '.join(kept)}: a version is deleted once no connector uses it.",
            )
        elif s.condition(VERSIONS_REMOVED) is not None:
            s.set_condition(VERSIONS_REMOVED, True, "Removed", "Every version removed from the spec is deleted.")

    async def _create_version(
        self, s: PluginSession, plugin_id: str, want: VersionSpec, entry: VersionStatus
    ) -> PluginVersion:
        where = f"spec.versions[{want.version}].archive"
        await s.begin_create(at=entry, name=want.version)
        try:
            uploaded = await obtain_and_upload(s, want.archive, where, environment=str(s.spec.environment))
        except ArchiveProblem:
            entry.pending_create = None  # nothing reached Confluent: no create to look for
            await s.checkpoint()
            raise
        entry.sha256, entry.upload_id = uploaded.sha256, uploaded.upload_id
        await s.checkpoint()
        try:
            made = await s.client.plugin_versions.create(
                plugin_id,
                str(s.spec.environment),
                want.version,
                [RemoteClass(class_name=c.class_name, type=c.type.value) for c in want.connector_classes],
                uploaded.upload_id,
                sensitive_config_properties=want.sensitive_config_properties,
                documentation_link=want.documentation_link,
            )
        except Conflict:
            # The version exists already: an earlier create of ours whose answer was lost. Adopt it.
            for have in await s.client.plugin_versions.list(plugin_id, str(s.spec.environment)):
                if have.spec.version == want.version:
                    await s.created(have.id, at=entry)
                    return have
            raise
        finally:
            _forget_versions(s, plugin_id)
        await s.created(made.id, at=entry)
        return made

    def _verdict(
        self, s: PluginSession, problems: Sequence[str], waiting: Sequence[str], observe_only: bool
    ) -> Outcome:
        if problems:
            message = "; ".join(problems)
            s.set_condition(VERSIONS_READY, False, "VersionProblem", message)
            return Terminal("VersionProblem", message)
        if waiting:
            message = f"Confluent is processing version {', '.join(waiting)}."
            s.set_condition(VERSIONS_READY, False, "Processing", message)
            return Waiting("Processing", message, after=s.ctx.settings.wait_seconds)
        count = len(s.spec.versions)
        s.set_condition(VERSIONS_READY, True, "AllReady", f"{count} version{'s' if count != 1 else ''} READY.")
        return Ready("Observed" if observe_only else "Ready")

    # -- delete ----------------------------------------------------------------------------------

    async def delete(self, s: PluginSession) -> Outcome:
        plugin_id = s.status.id
        name = s.spec.display_name or s.ref.name
        if plugin_id is None and s.status.pending_create is not None:
            found = await self._observe_by_name(s, name)
            plugin_id = found.id if found is not None and await s.holder(found.id) is None else None
        if plugin_id is None:
            return Ready("Deleted", "Nothing to delete.")
        pid = plugin_id
        if s.spec.legacy is not None:
            await delete_resource(lambda: s.client.custom_plugins.delete(pid), lambda: s.client.custom_plugins.get(pid))
        else:
            environment = str(s.spec.environment)
            # Connectors that name the plugin by ID (by name, they hold the delete as dependents).
            known = sorted({v.version for v in s.status.versions} | {v.version for v in s.spec.versions})
            if used := [f"version {v} by {u}" for v in known if (u := await _users(s, pid, v))]:
                return _in_use(s, f"Plugin {pid} is in use ({'; '.join(used)})")
            try:
                # Confluent deletes a plugin's versions with it, and refuses while a connector runs one.
                await delete_resource(
                    lambda: s.client.plugins.delete(pid, environment), lambda: s.client.plugins.get(pid, environment)
                )
            except ApiError as exc:
                if exc.code != "plugin_in_use":
                    raise
                return _in_use(s, f"Plugin {pid} is in use in Confluent ({exc.detail or exc.code})")
            finally:
                _forget_plugins(s)
                _forget_versions(s, pid)
        return Ready("Deleted", f"Plugin {pid} deleted.")


async def _users(s: PluginSession, plugin_id: str, version: str) -> str:
    """The CustomConnectors that run or want `version` (by this object's name or by the plugin's ID)."""
    by_name = part_of(s.target.key, version)
    by_id = part_of(ObjectKey(s.ref.plural, "", plugin_id), version)
    indexed = s.ctx.references.referrers(by_name, (Role.USES,)) | s.ctx.references.referrers(by_id, (Role.USES,))
    if not indexed or not (found := await s.ctx.existing(indexed, enough=6)):
        return ""
    names = sorted(f"{k.namespace}/{k.name}" for k in found)
    shown = ", ".join(names[:5]) + (" and more" if len(names) > 5 else "")
    return f"CustomConnector{'s' if len(names) > 1 else ''} {shown}"


def _archive_changed(want: VersionSpec, entry: VersionStatus) -> bool:
    sha = (want.archive.sha256 or "").lower()
    return bool(sha and entry.sha256 and entry.sha256.lower() != sha)


def _in_use(s: PluginSession, why: str) -> Waiting:
    return Waiting("InUse", f"{why}: it is deleted once no connector uses it.", after=s.ctx.settings.wait_seconds * 5)


async def _delete_version(s: PluginSession, plugin_id: str, version_id: str) -> None:
    environment = str(s.spec.environment)
    try:
        await delete_resource(
            lambda: s.client.plugin_versions.delete(plugin_id, version_id, environment),
            lambda: s.client.plugin_versions.get(plugin_id, version_id, environment),
        )
    finally:
        _forget_versions(s, plugin_id)
    await s.event("Normal", "VersionDeleted", f"Deleted plugin version {version_id} of {plugin_id}.")


# -- what plugins share ----------------------------------------------------------------------------


def _plugins_scope(s: PluginSession) -> tuple[str, str]:
    return ("ccpm-plugins", str(s.spec.environment))


def _versions_scope(s: PluginSession, plugin_id: str) -> tuple[str, str, str]:
    # The scope a CustomConnector naming the plugin by ID reads too: it shares these lists.
    return ("plugin-versions", str(s.spec.environment), plugin_id)


def _forget_plugins(s: PluginSession) -> None:
    s.ctx.shared.invalidate(s.client.credentials.key, _plugins_scope(s))


def _forget_versions(s: PluginSession, plugin_id: str) -> None:
    s.ctx.shared.invalidate(s.client.credentials.key, _versions_scope(s, plugin_id))


async def _listed(s: PluginSession, plugin_id: str) -> Plugin | None:
    """The plugin as its environment's shared list shows it, when that is enough; None: read it by ID.

    The list may be as old as one resync interval (every plugin of the environment shares it), so drift
    is still seen within one. After a spec change, where the list differs from the spec, and where it
    does not show the plugin (it may predate it), the plugin is read by ID: what is written or reported
    is never from an old read, and only a read by ID says a plugin is gone.
    """
    if s.status.observed_generation != s.target.generation:
        return None
    environment = str(s.spec.environment)
    plugins: list[Plugin] = await s.shared_read(
        _plugins_scope(s), lambda: s.client.plugins.list(environment), newer_than=s.began - s.resync_seconds
    )
    found = next((p for p in plugins if p.id == plugin_id), None)
    return found if found is not None and update_request(s.spec, s.ref.name, found) is None else None


async def _versions(s: PluginSession, plugin_id: str) -> list[PluginVersion]:
    """The plugin's versions: a list begun by this reconcile, or a moment before it when nothing waits to
    change (a reconcile woken right after another shares its list); a 404 says the plugin is gone."""
    settled = s.status.observed_generation == s.target.generation and all(
        v.id and v.pending_create is None and v.phase == Phase.READY for v in s.status.versions
    )
    newer_than = s.began - s.ctx.settings.wait_seconds if settled else s.began
    environment = str(s.spec.environment)
    try:
        versions: list[PluginVersion] = await s.shared_read(
            _versions_scope(s, plugin_id),
            lambda: s.client.plugin_versions.list(plugin_id, environment),
            newer_than=newer_than,
        )
    except NotFound:
        _forget_plugins(s)  # the shared list showed a plugin that is gone: the next reconcile reads afresh
        raise
    return versions
