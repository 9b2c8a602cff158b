"""Connection settings for the Haier APIs, free of Dagster.

The Dagster resources (``haier_pipeline.dagster_defs.resources``) build these from
``EnvVar``s; tests and benchmarks build them directly (``SandboxServer.jsh_settings()``).
Secrets are kept in fields marked ``repr=False`` so a settings object never prints them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from haier_pipeline.haier.masking import url_secrets

DEFAULT_TIMEOUT_S = 30.0
DEFAULT_RATE_LIMIT = 100.0


@dataclass(frozen=True)
class JshSettings:
    """The JSH open platform (catalog, prices, stock, logistics, balance)."""

    base_url: str
    client_id: str
    client_secret: str = field(repr=False)
    customer_code: str
    password: str = field(repr=False)
    token_url: str | None = None  # default: {base_url}/oauth2/auth
    send_to_code: str | None = None  # default: customer_code
    supplier_code: str = "1001"
    seller_password: str | None = field(default=None, repr=False)  # default: password
    customer_password: str | None = field(default=None, repr=False)  # default: password
    rate_limit: float = DEFAULT_RATE_LIMIT  # calls per second, all endpoints together
    timeout_s: float = DEFAULT_TIMEOUT_S

    @property
    def effective_token_url(self) -> str:
        return self.token_url or f"{self.base_url.rstrip('/')}/oauth2/auth"

    @property
    def effective_send_to_code(self) -> str:
        return self.send_to_code or self.customer_code

    @property
    def effective_seller_password(self) -> str:
        return self.seller_password or self.password

    @property
    def effective_customer_password(self) -> str:
        return self.customer_password or self.password

    def secrets(self) -> list[str]:
        """Every secret value, for log masking (credentials pasted into a URL included)."""
        values = [self.client_secret, self.password, self.seller_password, self.customer_password]
        values += [*url_secrets(self.base_url), *url_secrets(self.token_url)]
        return [v for v in values if v]


@dataclass(frozen=True)
class YlhSettings:
    """The YLH order system (push, cancel, reschedule, photos, logistics numbers)."""

    base_url: str
    auth_url: str  # full token URL, e.g. {ylh}/ylh-cloud-mgt-auth/oauth/token
    client_id: str
    client_secret: str = field(repr=False)
    username: str
    password: str = field(repr=False)
    rate_limit: float = DEFAULT_RATE_LIMIT
    timeout_s: float = DEFAULT_TIMEOUT_S

    def secrets(self) -> list[str]:
        values = [self.client_secret, self.password]
        values += [*url_secrets(self.base_url), *url_secrets(self.auth_url)]
        return [v for v in values if v]
