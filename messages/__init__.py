"""Message types, one module per domain, and the topic catalogue (`messages.catalog`)."""

from messages.base import Header, Message, ServiceType, service_type

__all__ = ["Header", "Message", "ServiceType", "service_type"]
