"""Comms' pages, one module per urls module: `communications` (an incident's external
communication, comms.incident_urls), `templates` (a system's communication templates,
comms.template_urls), `status` (the public status page and feed, comms.urls), `webhooks`
(the webhooks admin, comms.webhook_urls)."""
