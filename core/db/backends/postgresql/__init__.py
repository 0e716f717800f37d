"""PostgreSQL: django-prometheus' backend with its counting cursor class made once."""
