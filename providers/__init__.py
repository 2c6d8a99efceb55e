"""Providers: senders (we render, they deliver) and syncs (we write the profile, they send).

Nothing here imports the rest of the project; no database, settings or web.
"""

from providers.callbacks import CallbackRequest, InboundEvents, StatusCallbacks
from providers.circuit_breaker import BreakerState, CircuitBreaker
from providers.delivery_events import (
    DeliveryEvent,
    EventType,
    parse_bounce_webhook,
    parse_mandrill_events,
    parse_twilio_status_callback,
)
from providers.errors import (
    CallbackFormatError,
    CallbackSignatureError,
    CircuitOpenError,
    PermanentProviderError,
    ProviderConfigError,
    ProviderError,
    TransientProviderError,
)
from providers.identity import Identity
from providers.message import (
    Channel,
    Message,
    ProfileRequest,
    ProfileUpdate,
    RejectReason,
    SendResult,
    SendStatus,
)
from providers.protocol import BatchProvider, BatchSync, EventSource, Provider, Sync
from providers.rate_limit import RateLimiter, TokenBucket
from providers.registry import (
    PROVIDER_KINDS,
    ProviderKind,
    ProviderKinds,
    build_provider,
    build_sender,
    build_sync,
)
from providers.resilient import (
    ResilientBatchSync,
    ResilientProvider,
    ResilientSync,
    resilient_sync,
)
from providers.signatures import (
    verify_bounce_webhook,
    verify_mandrill_signature,
    verify_twilio_signature,
)

__all__ = [
    "PROVIDER_KINDS",
    "BatchProvider",
    "BatchSync",
    "BreakerState",
    "CallbackFormatError",
    "CallbackRequest",
    "CallbackSignatureError",
    "Channel",
    "CircuitBreaker",
    "CircuitOpenError",
    "DeliveryEvent",
    "EventSource",
    "EventType",
    "Identity",
    "InboundEvents",
    "Message",
    "PermanentProviderError",
    "ProfileRequest",
    "ProfileUpdate",
    "Provider",
    "ProviderConfigError",
    "ProviderError",
    "ProviderKind",
    "ProviderKinds",
    "RateLimiter",
    "RejectReason",
    "ResilientBatchSync",
    "ResilientProvider",
    "ResilientSync",
    "SendResult",
    "SendStatus",
    "StatusCallbacks",
    "Sync",
    "TokenBucket",
    "TransientProviderError",
    "build_provider",
    "build_sender",
    "build_sync",
    "parse_bounce_webhook",
    "parse_mandrill_events",
    "parse_twilio_status_callback",
    "resilient_sync",
    "verify_bounce_webhook",
    "verify_mandrill_signature",
    "verify_twilio_signature",
]
