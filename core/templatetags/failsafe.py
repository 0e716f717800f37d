import markdown as markdown_lib
import nh3
from django import template
from django.utils.safestring import mark_safe

from core.roles import can as role_can

register = template.Library()


@register.simple_tag(takes_context=True)
def can(context, action, obj=None):
    """`{% can "system.edit" system as may_edit %}`: show only controls the viewer may use."""
    return role_can(context["request"].user, action, obj)


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
