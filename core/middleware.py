from django.contrib.auth.middleware import LoginRequiredMiddleware as DjangoLoginRequired
from rest_framework.views import APIView


class LoginRequiredMiddleware(DjangoLoginRequired):
    """Every page needs a sign-in, except views marked `login_not_required`.

    API views are left to DRF, which authenticates system tokens as well as sessions and
    answers 401/403 in JSON rather than redirecting a program to the login page.
    """

    def process_view(self, request, view_func, view_args, view_kwargs):
        view_class = getattr(view_func, "cls", None)
        if view_class is not None and issubclass(view_class, APIView):
            return None
        return super().process_view(request, view_func, view_args, view_kwargs)
