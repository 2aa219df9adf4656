"""A plugin's archive, from where its spec says to Confluent's presigned upload: the ConnectorPlugin's own
helper. Fetched (URL or ConfigMap), verified against sha256 before anything is sent, uploaded through
the presigned flow of the plugin's API and cloud; every way this can fail becomes one `ArchiveProblem`
that says which field to fix, and whether waiting can help."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import SecretStr

from ccloud_operator import archives
from ccloud_operator.reconcile.engine import backoff
from ccloud_operator.reconcile.outcome import Retry, Terminal, Waiting
from ccloud_operator.reconcile.session import Session
from ccloud_operator.resources.connector_plugin import Archive, ConnectorPluginSpec, ConnectorPluginStatus

__all__ = ["ArchiveProblem", "Uploaded", "obtain_and_upload"]

PluginSession = Session[ConnectorPluginSpec, ConnectorPluginStatus]


@dataclass(frozen=True)
class Uploaded:
    upload_id: str
    sha256: str
    content_format: str


class ArchiveProblem(Exception):
    """An archive that cannot be had or used.

    `retry_after` is set when trying again can help (the URL did not answer); `missing` when a
    referenced ConfigMap or Secret is not there yet, whose watch wakes the plugin when it appears.
    """

    def __init__(self, reason: str, message: str, retry_after: float | None = None, missing: bool = False) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.retry_after = retry_after
        self.missing = missing

    def outcome(self, s: PluginSession) -> Retry | Terminal | Waiting:
        if self.missing:
            return Waiting(self.reason, self.message, after=s.ctx.settings.resync_seconds, synced=False)
        if self.retry_after is not None:
            # Capped exponential backoff with full jitter, never sooner than the server asked.
            after = max(self.retry_after, backoff(s.ctx, s.attempt))
            return Retry(self.reason, self.message, min(s.ctx.settings.retry_cap_seconds, after))
        return Terminal(self.reason, self.message)


async def obtain_and_upload(s: PluginSession, archive: Archive, where: str, environment: str | None) -> Uploaded:
    """Fetch, verify and upload `archive` (for a CCPM plugin in `environment`, else the legacy API)."""
    with await _obtain(s, archive, where) as got:
        cloud = s.spec.cloud.value
        if environment is not None:
            presigned = await s.client.plugins.presigned_upload_url(got.content_format, cloud, environment)
        else:
            presigned = await s.client.custom_plugins.presigned_upload_url(got.content_format, cloud)
        await s.client.uploads.upload(presigned, got.stream(), filename=got.filename, cloud=cloud)
        return Uploaded(presigned.upload_id, got.sha256, got.content_format)


async def _obtain(s: PluginSession, archive: Archive, where: str) -> archives.Archive:
    ns = s.ref.namespace
    try:
        if archive.config_map_ref is not None:
            ref = archive.config_map_ref
            data = await s.ctx.kube.read_configmap_bytes(ns, ref.name, ref.key)
            if data is None:
                raise ArchiveProblem(
                    "ArchiveMissing",
                    f"{where}.configMapRef: ConfigMap {ns}/{ref.name} has no key {ref.key!r} (binaryData or data).",
                    missing=True,
                )
            return archives.from_bytes(
                data, sha256=archive.sha256, name=ref.key, source=f"ConfigMap {ns}/{ref.name} key {ref.key}"
            )
        authorization = None
        if archive.auth_secret_ref is not None:
            auth = archive.auth_secret_ref
            secret = await s.ctx.kube.read_secret(ns, auth.name)
            if secret is None or not secret.data.get(auth.key):
                raise ArchiveProblem(
                    "ArchiveAuthMissing",
                    f"{where}.authSecretRef: Secret {ns}/{auth.name} has no key {auth.key!r}.",
                    missing=True,
                )
            authorization = SecretStr(secret.data[auth.key].strip())
        return await archives.fetch(
            str(archive.url), sha256=str(archive.sha256), authorization=authorization, transport=s.ctx.archive_transport
        )
    except archives.DigestMismatch as exc:
        raise ArchiveProblem(
            "DigestMismatch",
            f"{where}: the archive's sha256 is {exc.actual}, the spec says {exc.expected}; nothing was uploaded. "
            "Fix the sha256, or the archive.",
        ) from None
    except archives.Unreachable as exc:
        raise ArchiveProblem("ArchiveUnreachable", f"{where}: {exc}", retry_after=exc.retry_after or 0.0) from None
    except archives.ArchiveError as exc:
        raise ArchiveProblem("ArchiveRejected", f"{where}: {exc}") from None
