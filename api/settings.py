"""Settings, read once from the environment and `.env` (prefix ``STEWARD_``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from auth.policy.forms import MASTER_BYTES
from auth.policy.principal import Issuers
from auth.policy.row_rules import ASSIGNMENT_DAYS
from auth.tokens.config import TokenSettings
from auth.tokens.scope_claims import ScopeClaims
from store.database import Timeouts

MIB = 1024 * 1024


class ScopeClaimsSetting(BaseModel):
    """``STEWARD_SCOPE_CLAIMS``: ``{"claim": PATH, "map": {ROLE: [SCOPE, ...]}}`` (JSON).

    ``claim`` is the path of the external provider's roles claim (``groups``,
    ``realm_access.roles``, or a namespaced claim's URI); each role of ``map`` grants its
    scopes, purposes included. Unknown keys, unknown scopes and empty names are refused at
    start.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    claim: str = Field(min_length=1, max_length=255)
    roles: dict[str, list[str]] = Field(alias="map", min_length=1)

    @model_validator(mode="after")
    def _known(self) -> ScopeClaimsSetting:
        self.scope_claims()
        return self

    def scope_claims(self) -> ScopeClaims:
        """The token layer's form of this setting."""
        roles = {role: frozenset(scopes) for role, scopes in self.roles.items()}
        return ScopeClaims(self.claim, roles)


class Settings(BaseSettings):
    """Every configuration knob of Steward, typed, with its default."""

    # No value in an error: secrets (``PSEUDONYM_KEY``, ``REDIS_URL``'s password) are settings.
    model_config = SettingsConfigDict(
        env_prefix="STEWARD_",
        env_file=".env",
        extra="ignore",
        frozen=True,
        hide_input_in_errors=True,
    )

    database_url: str = "sqlite:///steward.db"
    database_pool_size: int = Field(default=10, ge=1, le=1000)
    database_prepared_statements: bool = True
    database_connect_timeout: float = Field(default=5.0, gt=0)
    database_statement_timeout: float = Field(default=10.0, gt=0)
    database_pool_timeout: float = Field(default=5.0, gt=0)
    public_url: str = "http://127.0.0.1:8000"
    audience: str = "steward"
    issuer: str | None = Field(default=None, max_length=255)
    jwks_url: str | None = None
    allow_plain_jwt: bool = False
    builtin_issuer: bool = True
    key_file: Path = Path("steward-keys.json")
    dev_mode: bool = False
    dev_token_secret: SecretStr | None = None
    pseudonym_key: SecretStr | None = None
    graphiql: bool = True
    introspection: bool = True
    cors_origins: Annotated[tuple[str, ...], NoDecode] = ()
    max_depth: int = Field(default=10, ge=1)
    max_aliases: int = Field(default=30, ge=1)
    max_tokens: int = Field(default=5000, ge=1)
    max_body_bytes: int = Field(default=MIB, ge=1024)
    max_page_size: int = Field(default=100, ge=1)
    document_cache_bytes: int = Field(default=32 * MIB, ge=0)
    request_read_timeout: float = Field(default=10.0, gt=0)
    rate_limit: str = "1200/minute"
    compiled_reads: bool = True
    redis_url: SecretStr | None = None
    self_registration: bool = False
    partner_assignment_days: int = Field(default=ASSIGNMENT_DAYS, ge=0, le=3650)
    scope_claims: ScopeClaimsSetting | None = None

    @model_validator(mode="after")
    def _scope_claims_need_an_issuer(self) -> Settings:
        if self.scope_claims is not None and not self.issuer:
            raise ValueError(
                "STEWARD_SCOPE_CLAIMS maps an external provider's roles: set STEWARD_ISSUER"
            )
        return self

    @field_validator("pseudonym_key")
    @classmethod
    def _long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value().encode()) < MASTER_BYTES:
            raise ValueError(
                f"STEWARD_PSEUDONYM_KEY must be at least {MASTER_BYTES} bytes "
                "(e.g. python -c 'import secrets; print(secrets.token_urlsafe(32))')"
            )
        return value

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.replace(",", " ").split() if part.strip())
        return value

    @field_validator("public_url")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @property
    def audience_is_a_resource_uri(self) -> bool:
        """Whether ``audience`` is an absolute URI without a fragment (``https://…``, or a URN),
        as a resource indicator (RFC 8707) must be: an outside provider issues no other."""
        parts = urlsplit(self.audience)
        return bool(parts.scheme and (parts.netloc or parts.path)) and "#" not in self.audience

    @property
    def is_sqlite(self) -> bool:
        """Whether the configured database is SQLite."""
        return self.database_url.startswith("sqlite")

    @property
    def database_timeouts(self) -> Timeouts:
        """What the store needs of these settings: how long to wait for the database."""
        return Timeouts(
            connect=self.database_connect_timeout,
            statement=self.database_statement_timeout,
            pool=self.database_pool_timeout,
        )

    @property
    def attempts_storage(self) -> str:
        """Where counted attempts (wrong link codes) live, as a ``limits`` storage URI: the
        Redis of the rate limits when there is one, so that every replica counts together."""
        return "memory://" if self.redis_url is None else self.redis_url.get_secret_value()

    @property
    def tokens(self) -> TokenSettings:
        """What the token layer needs of these settings."""
        return TokenSettings(
            public_url=self.public_url,
            audience=self.audience,
            issuer=self.issuer,
            jwks_url=self.jwks_url,
            allow_plain_jwt=self.allow_plain_jwt,
            builtin_issuer=self.builtin_issuer,
            scope_claims=self.scope_claims.scope_claims() if self.scope_claims else None,
        )

    @property
    def issuers(self) -> Issuers:
        """Which issuers customers are linked under, for the policy."""
        return Issuers(
            builtin=self.public_url if self.builtin_issuer else None, external=self.issuer or None
        )
