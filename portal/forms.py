from django.contrib.auth.forms import AuthenticationForm


class LoginForm(AuthenticationForm):
    """Django's login form, refusing a username longer than any user's before anyone looks it up.
    Django sets the field's max_length after building it, so no validator comes with it, and a megabyte
    username reached authenticate(), django-axes and the database (PostgreSQL refused it: a 500)."""

    def clean(self):
        if len(self.cleaned_data.get("username") or "") > self.fields["username"].max_length:
            raise self.get_invalid_login_error()
        return super().clean()
