from core.roles import role_of


def role(request):
    """The viewer's role, shown in the navigation."""
    return {"viewer_role": role_of(getattr(request, "user", None))}
