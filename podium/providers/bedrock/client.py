"""boto3 for one provider: the session (profile, region, emulator keys) and a client per Bedrock service."""

from __future__ import annotations

import functools
import logging
import os
import threading
from typing import Any

from podium.core.errors import InvalidRequest
from podium.providers._kit.propagation import add_call_headers
from podium.providers.bedrock.config import BedrockConfig
from podium.providers.bedrock.errors import PROVIDER, REGION_FIX

log = logging.getLogger("podium")


def boto3_module() -> Any:
    """boto3, imported on first use; without it, an ImportError naming the extra to install."""
    try:
        import boto3
    except ImportError:  # pragma: no cover - exercised only without the extra
        raise ImportError("the bedrock provider needs boto3: pip install 'podium[bedrock]'") from None
    return boto3


@functools.cache
def shared_loader() -> Any:
    """botocore's loader of the services' JSON models, one for the process.

    Each Session otherwise loads and keeps its own copy of every service model it makes a client
    for, about 8 MB for bedrock-runtime: with a provider instance (and so a Session) per run, 200
    runs at once held 1.8 GB of identical, read-only model data.
    """
    from botocore.loaders import create_loader

    return create_loader(os.environ.get("AWS_DATA_PATH"))


class BedrockClients:
    """The boto3 Session and the botocore clients of one provider instance, made once each (thread-safe)."""

    def __init__(self, config: BedrockConfig) -> None:
        self.config = config
        self._lock = threading.Lock()
        self._session: Any = None
        self._clients: dict[str, Any] = {}

    def session(self) -> Any:
        """The boto3 Session for this provider's profile, region and (emulator) keys."""
        with self._lock:
            if self._session is None:
                cfg = self.config
                boto3 = boto3_module()
                import botocore.session  # boto3's own dependency

                core = botocore.session.Session()
                core.register_component("data_loader", shared_loader())
                self._session = boto3.session.Session(
                    botocore_session=core,
                    profile_name=cfg.profile,
                    # AWS_REGION as the AWS CLI v2 and SDKs read it; botocore itself reads only
                    # AWS_DEFAULT_REGION (and the profile's), which it still does when this is unset
                    region_name=cfg.region or os.environ.get("AWS_REGION") or None,
                    aws_access_key_id=cfg.aws_access_key_id,
                    aws_secret_access_key=cfg.aws_secret_access_key,
                )
            return self._session

    @property
    def region(self) -> str | None:
        return self.config.region or self.session().region_name

    @property
    def endpoint_url(self) -> str | None:
        """Where the calls go when not AWS's own endpoints: the setting, else AWS_ENDPOINT_URL (which
        botocore also reads), so that deploy and run match the same lock-file entry however it is given."""
        return self.config.endpoint_url or os.environ.get("AWS_ENDPOINT_URL") or None

    def client(self, service: str) -> Any:
        """A botocore client for `service` (bedrock-agent-runtime, bedrock-runtime, bedrock-agent)."""
        session = self.session()
        with self._lock:
            if service not in self._clients:
                from botocore.config import Config as BotoConfig

                region = self.config.region or session.region_name  # (self.region would take the lock)
                if not region:
                    raise InvalidRequest(
                        "no AWS region is configured for provider bedrock", fix=REGION_FIX, provider=PROVIDER
                    )
                cfg = self.config
                client = session.client(
                    service,
                    region_name=region,
                    endpoint_url=self.endpoint_url,
                    config=BotoConfig(
                        retries={"total_max_attempts": cfg.max_attempts, "mode": cfg.retry_mode},
                        connect_timeout=cfg.connect_timeout,
                        read_timeout=cfg.read_timeout,
                        max_pool_connections=cfg.max_connections,
                        user_agent_extra="podium",
                    ),
                )
                # boto3 takes no per-request headers: this hook adds the running call's (its
                # traceparent, which AgentCore reads; classic Bedrock ignores it) to every request
                # the call sends, retries and tool-loop rounds included
                client.meta.events.register("before-send", add_call_headers)
                self._clients[service] = client
            return self._clients[service]

    def account_id(self) -> str | None:
        """The AWS account the credentials belong to (STS GetCallerIdentity, which needs no permission);
        None when it cannot be told, and the caller then compares nothing."""
        try:
            return str(self.client("sts").get_caller_identity()["Account"])
        except Exception:  # unknown is not a mismatch: the agent calls themselves will say what is wrong
            log.debug("no AWS account from STS", exc_info=True)
            return None

    def close(self) -> None:
        with self._lock:
            clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            close = getattr(client, "close", None)
            if close is not None:
                close()
