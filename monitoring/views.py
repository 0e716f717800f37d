from django.shortcuts import render

from core.permissions import role_required


@role_required("review.view")
def review_queue(request):
    return render(request, "monitoring/review.html")
