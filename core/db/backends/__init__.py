"""Database backends: Django's, as django-prometheus instruments them, with the changes below."""
