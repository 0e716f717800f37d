import json
from datetime import timedelta

import markdown as markdown_lib
import nh3
from django import template
from django.utils.safestring import mark_safe

from core.roles import can as role_can

register = template.Library()


@register.simple_tag(takes_context=True)
def can(context, action, obj=None):
    """`{% can "system.edit" system as may_edit %}`: show only controls the viewer may use."""
    request = context.get("request")  # the bare 500 page renders without one
    return request is not None and role_can(request.user, action, obj)


@register.filter
def markdown(text):
    """Markdown written by people (runbooks), sanitised: no script, no raw HTML kept."""
    html = markdown_lib.markdown(text or "", extensions=["fenced_code", "tables", "sane_lists"])
    return mark_safe(nh3.clean(html))  # noqa: S308 - nh3 has removed anything unsafe


@register.filter
def audit_value(value):
    """An audit entry's before/after value as a person reads it."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(audit_value(v) for v in value) or "none"
    if isinstance(value, dict):
        return "; ".join(f"{k}: {audit_value(v)}" for k, v in value.items())
    return value


@register.inclusion_tag("core/_time.html")
def when(value, style="datetime"):
    """A <time> the browser rewrites into the viewer's own zone (static/js/failsafe.js)."""
    return {"value": value, "style": style}


@register.filter
def duration(value):
    """A timedelta as a responder reads it: "42 s", "35 min", "1 h 04 min", "2 d 3 h"."""
    if value is None:
        return ""
    seconds = int(value.total_seconds())
    if seconds < 0:
        return "—"
    if seconds < 60:
        return f"{seconds} s"
    minutes, hours, days = seconds // 60, seconds // 3600, seconds // 86400
    if minutes < 60:
        return f"{minutes} min"
    if hours < 24:
        return f"{hours} h {minutes % 60:02d} min"
    return f"{days} d {hours % 24} h"


# Which navigation entry a page belongs to, by URL namespace (or URL name).
NAV_SECTIONS = {
    "rollbacks": "systems",
    "monitoring:monitors": "systems",
    "monitoring:monitor": "systems",
    "response:blast-radius": "incidents",
    "groundtruth:review": "review",
    "gate:rules": "systems",
    "gate": "holds",
}


@register.simple_tag(takes_context=True)
def nav_section(context) -> str:
    match = getattr(context.get("request"), "resolver_match", None)
    if match is None:
        return ""
    section = match.namespace or match.url_name or ""
    return NAV_SECTIONS.get(f"{section}:{match.url_name}", NAV_SECTIONS.get(section, section))


@register.filter
def seconds(value):
    """A number of seconds, as `duration` shows a timedelta."""
    if value is None:
        return ""
    return duration(timedelta(seconds=float(value)))


@register.filter
def percent(value):
    """A share as people say it: 2.0%, 9.1%, 0.05%."""
    if value is None:
        return "—"
    value = float(value)
    return f"{value:.2%}" if 0 < abs(value) < 0.01 else f"{value:.1%}"


@register.filter
def get_item(mapping, key):
    """`{{ form.data|get_item:name }}`: a value by a key held in a variable."""
    if mapping is None:
        return ""
    getter = getattr(mapping, "get", None)
    return getter(key, "") if getter else ""


@register.filter
def pretty_json(value):
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False)
