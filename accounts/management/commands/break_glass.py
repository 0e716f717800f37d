from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from accounts.break_glass import LINK_MINUTES, break_glass_path


class Command(BaseCommand):
    help = (
        "Print a one-time sign-in link for a superuser: the way in when the identity "
        f"provider is down and password sign-in is off. It works once, for {LINK_MINUTES} "
        "minutes."
    )

    def add_arguments(self, parser):
        parser.add_argument("username", help="An active superuser (manage.py createsuperuser).")

    def handle(self, *args, username, **options):
        person = get_user_model().objects.filter(username=username).first()
        if person is None or not (person.is_superuser and person.is_active):
            raise CommandError(
                f"{username!r} is not an active superuser: make one with manage.py createsuperuser."
            )
        link = f"{settings.FAILSAFE_BASE_URL}{break_glass_path(person)}"
        self.stdout.write(f"{link}\nWorks once, for {LINK_MINUTES} minutes, for {username}.")
