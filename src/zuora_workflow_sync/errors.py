"""The whole exception tree of zuora-workflow-sync, grouped by what the caller does next.

    WorkflowSyncError                    root: the CLI turns any of these into one line + exit 1
    ├── ConfigurationError               bad operator input or settings: fix and rerun
    │   ├── SecretsError                 (store.secrets) missing or wrong encryption key
    │   └── CustomerExistsError, CustomerNotFoundError, CustomerBusyError  (store.customers)
    ├── LeaseLostError                   (store.runs) the attempt no longer holds its run
    ├── QueueUnavailableError            (queue.app) queue storage unreachable: inline or exit
    ├── QueueUnavailableAtDispatchError  (sync.dispatch) ... and the inline fallback is off
    ├── JobTimeoutError                  (sync.job) no Zuora reply for too long, or over the cap
    └── ZuoraError                       a Zuora call failed (status, request id, safe message)
        ├── ZuoraRetriableError          worth retrying with backoff
        │   ├── RateLimitedError         429 (retry_after from Retry-After or RateLimit-Reset)
        │   │   └── PacedTooLongError    our pacing would hold a request too long: defer the run
        │   ├── ServerError              5xx
        │   └── ConnectionFailedError    DNS, refused, reset, truncated body
        │       └── RequestTimeoutError  a read timeout or the overall request deadline
        └── ZuoraFatalError              retrying the same request cannot help
            ├── AuthenticationError      401 after one renewal, or bad credentials
            ├── PermissionDeniedError    403: the Zuora user lacks a permission
            ├── NotFoundError            404
            ├── BadRequestError          400 and other unexpected 4xx
            └── ProtocolError            not what Zuora's API promises
                ├── ResponseTooLargeError    decoded body over the cap (gzip bombs included)
                └── PaginationError          endless or repeating pagination

Messages are safe to show a user: they never contain a secret or a token.
"""

from __future__ import annotations


class WorkflowSyncError(Exception):
    """Root of every error this product raises on purpose."""


class ConfigurationError(WorkflowSyncError):
    """Operator input or settings are invalid; nothing was done."""


class ZuoraError(WorkflowSyncError):
    """A call to Zuora failed.

    `status` is the HTTP status (None when no response arrived) and `request_id` the
    `Zuora-Request-Id` header to quote to Zuora support (None when absent).
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.request_id = request_id

    def __str__(self) -> str:
        parts = [self.message]
        if self.status is not None:
            parts.append(f"HTTP {self.status}")
        if self.request_id:
            parts.append(f"Zuora-Request-Id {self.request_id}")
        return parts[0] if len(parts) == 1 else f"{parts[0]} ({', '.join(parts[1:])})"

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(message={self.message!r}, status={self.status!r}, "
            f"request_id={self.request_id!r})"
        )


class ZuoraRetriableError(ZuoraError):
    """A failure that may pass: retry with full-jitter exponential backoff."""


class RateLimitedError(ZuoraRetriableError):
    """HTTP 429: a rate or concurrency limit of the tenant was hit."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = 429,
        request_id: str | None = None,
        retry_after_seconds: float | None = None,
    ) -> None:
        super().__init__(message, status=status, request_id=request_id)
        self.retry_after_seconds = retry_after_seconds


class PacedTooLongError(RateLimitedError):
    """The tenant's pacing (a pause after a 429, a used-up quota) would hold a request longer
    than a request waits. Nothing failed: the run is deferred, its attempt not counted."""


class ServerError(ZuoraRetriableError):
    """HTTP 5xx from Zuora or its gateway."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        request_id: str | None = None,
        retry_after_seconds: float | None = None,
    ) -> None:
        super().__init__(message, status=status, request_id=request_id)
        self.retry_after_seconds = retry_after_seconds


class ConnectionFailedError(ZuoraRetriableError):
    """No complete response: DNS failure, connection refused or reset, truncated body."""


class RequestTimeoutError(ConnectionFailedError):
    """A read timeout or the overall per-request deadline fired."""


class ZuoraFatalError(ZuoraError):
    """Retrying the same request cannot help."""


class AuthenticationError(ZuoraFatalError):
    """Bad or revoked credentials, or a 401 that survived one token renewal."""


class PermissionDeniedError(ZuoraFatalError):
    """HTTP 403: the Zuora user behind the OAuth client lacks a permission."""


class NotFoundError(ZuoraFatalError):
    """HTTP 404: wrong workflow id, version, tenant or environment."""


class BadRequestError(ZuoraFatalError):
    """HTTP 400 or another 4xx this client does not expect."""


class ProtocolError(ZuoraFatalError):
    """The response is not what Zuora's API promises (not JSON, wrong shape, redirect)."""


class ResponseTooLargeError(ProtocolError):
    """The decoded response body exceeded the configured cap."""


class PaginationError(ProtocolError):
    """The listing never ends or repeats a page."""
