from django.apps import AppConfig


class PortalConfig(AppConfig):
    name = "portal"
    verbose_name = "Portal and accounts"

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_in

        from portal.security import session_lifetime_start

        # A sign-in starts the session's lifetime (portal.security), whichever view signed the user in.
        user_logged_in.connect(session_lifetime_start, dispatch_uid="portal.session_lifetime_start")
