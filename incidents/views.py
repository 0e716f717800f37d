from django.shortcuts import render

from core.permissions import role_required
from core.selectors import audit_entries_for
from incidents.forms import IncidentFilterForm
from incidents.readiness import readiness_of
from incidents.selectors import incident_get, incident_list
from systems.selectors import system_list_for_readiness

PAGE_SIZE = 50


@role_required("incident.view")
def incident_index(request):
    # Responders come here for what is burning: open incidents unless they ask otherwise.
    filters = IncidentFilterForm(request.GET or {"status": "open"})
    criteria = filters.cleaned_data if filters.is_valid() else {}
    incidents = incident_list(**{k: v for k, v in criteria.items() if v})[:PAGE_SIZE]
    context = {"filters": filters, "incidents": incidents}
    template = "incidents/_table.html" if request.htmx else "incidents/list.html"
    return render(request, template, context)


@role_required("incident.view")
def incident_detail(request, number):
    incident = incident_get(number)
    return render(
        request,
        "incidents/detail.html",
        {"incident": incident, "history": audit_entries_for(incident)},
    )


@role_required("system.view")
def readiness(request):
    rows = [(system, readiness_of(system)) for system in system_list_for_readiness()]
    return render(request, "incidents/readiness.html", {"rows": rows})
