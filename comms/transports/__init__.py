"""Notification transports: each turns an event's message into the body and headers of
one POST (Slack, Microsoft Teams, Standard Webhooks, the legacy signed webhook). Pure
functions; `registry` names them, `comms.webhook_delivery` posts what they build."""
