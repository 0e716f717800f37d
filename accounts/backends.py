from axes.backends import AxesStandaloneBackend


class SignInThrottle(AxesStandaloneBackend):
    """Axes' lock check, for sign-ins that come with a request (the login page, single
    sign-on). Code that authenticates without one (a management command, the shell) has
    no address to count: it goes on to the next backend instead of failing."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None:
            return None
        return super().authenticate(request, username, password, **kwargs)
