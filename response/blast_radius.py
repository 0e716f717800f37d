"""The blast radius of an incident as the pages show it: monitoring's count of what the
model produced and what fired, with what the action gate stopped in the same window (the
harm that did not happen); and its page, the affected subjects and actions with a CSV."""

from django.http import StreamingHttpResponse
from django.shortcuts import get_object_or_404, render

from core.permissions import role_required
from gate.selectors import stopped
from incidents.models import Incident
from monitoring.selectors import incident as evidence
from monitoring.spreadsheet import csv_lines

CSV_COLUMNS = ["ts", "system", "event", "subject", "label", "action", "action_subject"]
PAGE_ROWS = 500


def blast_radius(incident, now=None) -> dict:
    """`monitoring.selectors.incident.blast_radius`, plus "stopped": what the gate held or
    denied between the onset and containment."""
    radius = evidence.blast_radius(incident, now)
    radius["stopped"] = stopped(list(incident.systems.all()), radius["since"], radius["until"])
    return radius


@role_required("incident.view")
def blast_radius_page(request, number):
    incident = get_object_or_404(Incident, number=number)
    action_type = request.GET.get("action", "")[:64]
    label = request.GET.get("label", "")[:100]
    rows = evidence.affected(incident, action_type=action_type, label=label)
    if request.GET.get("format") == "csv":
        response = StreamingHttpResponse(csv_lines(CSV_COLUMNS, rows), content_type="text/csv")
        response["Content-Disposition"] = (
            f'attachment; filename="INC-{incident.number}-blast-radius.csv"'
        )
        return response
    page = []
    for row in rows:
        page.append(row)
        if len(page) == PAGE_ROWS:
            break
    context = {
        "incident": incident,
        "radius": blast_radius(incident),
        "rows": page,
        "action": action_type,
        "label": label,
    }
    return render(request, "response/blast_radius.html", context)
