"""Pages that compose every app: the systems list with open incidents, a system's page
(mode, catalog, monitors, ground truth, incidents, history) and readiness."""

from django.shortcuts import render

from core.permissions import role_required
from core.selectors import audit_entries_for
from groundtruth.views import ground_truth
from incidents.selectors import incident_list
from monitoring.selectors.signals import system_monitors
from monitoring.views import monitor_card
from response.readiness import readiness_of
from response.selectors import system_list_for_readiness, system_list_with_open_incidents
from systems.forms import ActionTypeForm, TokenForm
from systems.selectors import system_get
from systems.views import mode_context


@role_required("system.view")
def system_index(request):
    return render(request, "systems/list.html", {"systems": system_list_with_open_incidents()})


@role_required("system.view")
def system_detail(request, slug):
    system = system_get(slug)
    context = {
        "system": system,
        "open_incidents": incident_list(status="open", system=slug)[:20],
        "action_form": ActionTypeForm(system=system),
        "token_form": TokenForm(),
        "history": audit_entries_for(system, *system.tokens.all(), limit=30),
        "monitor_cards": [monitor_card(m) for m in system_monitors(system)],
        "ground_truth": ground_truth(system),
        **mode_context(system),
    }
    return render(request, "systems/detail.html", context)


@role_required("system.view")
def readiness(request):
    rows = [(system, readiness_of(system)) for system in system_list_for_readiness()]
    return render(request, "incidents/readiness.html", {"rows": rows})
