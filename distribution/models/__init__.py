"""SQLModel tables, one module per area; importing this package registers them all.

Times are stored as naive UTC (SQLite keeps no zone); the web layer adds the ``Z``.
"""

from distribution.models.async_actions import AsyncAction
from distribution.models.campaigns import BulkJob, Campaign, Code, CodePool
from distribution.models.core import (
    CUSTOMER_COLUMNS,
    ApiKey,
    Customer,
    CustomerLike,
    CustomerRecord,
    JSONVariant,
    Project,
    Segment,
    given_names,
    utcnow,
)
from distribution.models.customer_refs import CustomerExternalId
from distribution.models.deliveries import (
    OUTGOING_STATUSES,
    PENDING_STATUSES,
    PROFILE_CHANNEL,
    UNSENT_STATUSES,
    Delivery,
    DeliveryStatus,
    DeliveryStatusChange,
    Distribution,
    Event,
    FollowUp,
    Resubscription,
    Suppression,
)
from distribution.models.delivery_counts import DeliveryCount, DeliveryCountDelta
from distribution.models.providers import ProviderConfig, UnsubscribePullCursor
from distribution.models.rate_buckets import ProviderRateBucket
from distribution.models.redemptions import Redemption, RedemptionAttribution
from distribution.models.templates import MessageTemplate, TemplateVariant, TemplateVersion
from distribution.models.users import User, UserSession
from distribution.models.webhooks import (
    EventStream,
    StreamEntry,
    StreamSequence,
    WebhookCall,
    WebhookSubscription,
)

__all__ = [
    "CUSTOMER_COLUMNS",
    "OUTGOING_STATUSES",
    "PENDING_STATUSES",
    "PROFILE_CHANNEL",
    "UNSENT_STATUSES",
    "ApiKey",
    "AsyncAction",
    "BulkJob",
    "Campaign",
    "Code",
    "CodePool",
    "Customer",
    "CustomerExternalId",
    "CustomerLike",
    "CustomerRecord",
    "Delivery",
    "DeliveryCount",
    "DeliveryCountDelta",
    "DeliveryStatus",
    "DeliveryStatusChange",
    "Distribution",
    "Event",
    "EventStream",
    "FollowUp",
    "JSONVariant",
    "MessageTemplate",
    "Project",
    "ProviderConfig",
    "ProviderRateBucket",
    "Redemption",
    "RedemptionAttribution",
    "Resubscription",
    "Segment",
    "StreamEntry",
    "StreamSequence",
    "Suppression",
    "TemplateVariant",
    "TemplateVersion",
    "UnsubscribePullCursor",
    "User",
    "UserSession",
    "WebhookCall",
    "WebhookSubscription",
    "given_names",
    "utcnow",
]
