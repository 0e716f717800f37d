from django.core.management.base import BaseCommand, CommandError

from systems.models import AISystem, SystemToken
from systems.services import token_issue


class Command(BaseCommand):
    help = "Issue an API token for an AI system. The token is the last line printed."

    def add_arguments(self, parser):
        parser.add_argument("system", help="the system's slug, e.g. refund-classifier")
        parser.add_argument("--name", default="cli", help="where the token is used")
        parser.add_argument(
            "--scope",
            action="append",
            choices=SystemToken.Scope.values,
            help="repeat for several; default: every scope",
        )

    def handle(self, *args, system, name, scope, **options):
        target = AISystem.objects.filter(slug=system).first()
        if target is None:
            known = ", ".join(AISystem.objects.values_list("slug", flat=True)) or "none yet"
            raise CommandError(f"No system '{system}'. Known systems: {known}.")
        token, raw = token_issue(
            actor=None, system=target, name=name, scopes=scope or SystemToken.Scope.values
        )
        self.stderr.write(
            f"Issued token {token.prefix}… for {target.slug}: {', '.join(token.scopes)}"
        )
        self.stdout.write(raw)
