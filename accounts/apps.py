from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Accounts"

    def ready(self):
        # The sign-in lock's audit entry and the slow-down of repeated failures; the
        # personal token's scheme in the API schema.
        from accounts import receivers, schema  # noqa: F401
