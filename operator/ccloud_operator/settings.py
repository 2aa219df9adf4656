"""Operator settings, read once from the environment (prefix CCLOUD_); the chart's values mirror them."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from ccloud_operator.resources.base import POOL_ID, DeletionPolicy

__all__ = ["Settings"]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CCLOUD_", extra="ignore")

    api_url: str = Field(default="https://api.confluent.cloud", description="Confluent Cloud API base URL.")
    namespaces: list[str] = Field(default_factory=list, description="Namespaces to watch; empty means every namespace.")
    default_credentials_secret: str | None = Field(
        default=None,
        description="namespace/name of the Secret with the default Cloud API key (keys apiKey and apiSecret).",
    )
    default_identity_pool: str | None = Field(
        default=None,
        pattern=POOL_ID,
        description=(
            "The identity pool (pool-…) resources naming no credentials use, by workload identity, instead of "
            "a default Secret."
        ),
    )
    workload_identity_audience: str = Field(
        default="confluent",
        min_length=1,
        description="The audience of the ServiceAccount tokens exchanged for Confluent tokens; pool filters check it.",
    )
    workload_identity_token_file: str | None = Field(
        default=None,
        description="A projected ServiceAccount token file to exchange (in a pod); re-read at every exchange.",
    )
    workload_identity_service_account: str | None = Field(
        default=None,
        description=(
            "namespace/name of the ServiceAccount whose tokens (TokenRequest) are exchanged, when there is no "
            "token file: the operator's own when it runs outside a pod."
        ),
    )
    workload_identity_token_seconds: int = Field(
        default=900,
        ge=60,
        le=900,
        description="How long the Confluent access tokens asked for live (the Security Token Service allows 900).",
    )
    default_credentials_namespaces: list[str] = Field(
        default_factory=list,
        description="Namespaces allowed to use the default credentials; empty means every watched namespace.",
    )
    default_deletion_policy: DeletionPolicy = Field(
        default=DeletionPolicy.DELETE, description="deletionPolicy for resources that do not set one."
    )
    resync_seconds: float = Field(default=600.0, gt=0, description="How often each resource is re-read.")
    resync_jitter: float = Field(
        default=0.1, ge=0, le=1, description="Fraction of the resync interval added at random."
    )
    retry_cap_seconds: float = Field(
        default=300.0, gt=0, description="Longest wait before retrying a failed reconcile."
    )
    wait_seconds: float = Field(
        default=2.0, gt=0, description="How soon to look again while waiting for Confluent or a dependency."
    )
    workers: int = Field(
        default=16, ge=1, le=256, description="How many reconciles run at once, across every kind and object."
    )
    shared_read_seconds: float = Field(
        default=30.0,
        ge=0,
        description="How long a read that many objects share (a cluster, a connector list) is reused.",
    )
    throttle_report_seconds: float = Field(
        default=2.0,
        gt=0,
        description="How long a reconcile may wait on the rate limit before its status says it is throttled.",
    )
    failed_grace_seconds: float = Field(
        default=120.0,
        ge=0,
        description=(
            "How long a new or reconfigured connector may report FAILED before it is a failure: Confluent "
            "reports FAILED now and then while it provisions."
        ),
    )
    list_page_size: int = Field(
        default=500,
        ge=1,
        le=10_000,
        description=(
            "How many objects each watch's initial list asks the apiserver for at a time (Secrets, "
            "ConfigMaps, our kinds), so thousands of Secrets never come back as one response."
        ),
    )
    peering: str | None = Field(default=None, description="kopf peering name; set when running more than one replica.")
    priority: int = Field(
        default=0,
        description="kopf peering priority of this replica; 0 with peering set lets the replica started first lead.",
    )
    liveness_port: int = Field(
        default=8080, ge=0, le=65535, description="Port of the /healthz and /readyz probe endpoints; 0 disables."
    )
    liveness_host: str = Field(default="0.0.0.0", description="Address the probe endpoints bind to.")  # noqa: S104
    metrics_port: int = Field(
        default=8081, ge=0, le=65535, description="Port of the Prometheus /metrics endpoint; 0 disables."
    )
    metrics_host: str = Field(default="0.0.0.0", description="Address the metrics endpoint binds to.")  # noqa: S104
    log_format: Literal["plain", "json"] = Field(
        default="plain", description="plain (timestamp, level, logger, object, message) or json (one object a line)."
    )
    log_level: str = Field(default="INFO", description="Python logging level.")

    @field_validator("default_credentials_secret", "workload_identity_service_account")
    @classmethod
    def _namespaced(cls, value: str | None) -> str | None:
        if value is not None and value.count("/") != 1:
            raise ValueError("must be namespace/name")
        return value

    @model_validator(mode="after")
    def _one_default(self) -> Settings:
        if self.default_credentials_secret and self.default_identity_pool:
            raise ValueError("set default_credentials_secret or default_identity_pool, not both")
        return self
