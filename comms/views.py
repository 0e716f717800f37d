from django.contrib.auth.decorators import login_not_required
from django.shortcuts import render
from django.views.decorators.http import require_GET

from systems.models import AISystem


@login_not_required
@require_GET
def status_page(request):
    """The public status page: what the public may know, and nothing else."""
    systems = AISystem.objects.order_by("name").only("name")
    return render(request, "comms/status.html", {"systems": systems})
