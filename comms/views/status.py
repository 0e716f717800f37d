"""The public status page and its Atom feed: no sign-in."""

from django.contrib.auth.decorators import login_not_required
from django.http import HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.feedgenerator import Atom1Feed
from django.utils.html import linebreaks
from django.views.decorators.http import require_GET

from comms import selectors


@login_not_required
@require_GET
def status_page(request):
    """The public status page: published communications, and nothing else. No incident's
    internal title, reference or unpublished words ever reach it."""
    return render(request, "comms/status.html", {"incidents": selectors.status_incidents()})


@login_not_required
@require_GET
def status_feed(request):
    """Atom: each published communication, newest first. Text only, escaped for readers
    that render the summary as HTML."""
    home = request.build_absolute_uri(reverse("comms:status"))
    feed = Atom1Feed(
        title="Service status",
        link=home,
        description="Published updates about incidents",
        feed_url=request.build_absolute_uri(),
        language="en",
    )
    for communication in selectors.feed_updates():
        version = communication.published_version
        feed.add_item(
            title=version.headline,
            link=f"{home}#update-{communication.code}",
            description=linebreaks(version.as_text(), autoescape=True),
            unique_id=f"urn:uuid:{communication.code}",
            unique_id_is_permalink=False,
            pubdate=communication.published_at,
            updateddate=communication.published_at,
        )
    response = HttpResponse(content_type=feed.content_type)
    feed.write(response, "utf-8")
    return response
