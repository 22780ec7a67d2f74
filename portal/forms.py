from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError

from releases import password_guesses


class LoginForm(AuthenticationForm):
    """Django's login form, refusing a username longer than any user's before anyone looks it up.
    Django sets the field's max_length after building it, so no validator comes with it, and a megabyte
    username reached authenticate(), django-axes and the database (PostgreSQL refused it: a 500).

    A wrong password says how many tries are left before sign-in as that user is paused from here."""

    def clean(self):
        username = self.cleaned_data.get("username") or ""
        if len(username) > self.fields["username"].max_length:
            raise self.get_invalid_login_error()
        try:
            return super().clean()
        except ValidationError as error:
            if (
                error.code != "invalid_login"
                or not username
                or getattr(self.request, "axes_locked_out", False)
            ):
                raise
            raise ValidationError(
                [
                    error,
                    ValidationError(password_guesses.tries_left_words(self.request, username), "tries_left"),
                ]
            ) from error
