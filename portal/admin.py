from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin

from portal.models import User


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    """Accounts are Django's own: its forms are the service (a password is only ever set hashed,
    through set_password). Nothing here is a write the pages make; the feed token and API tokens
    change on the profile page only, so neither is shown here."""

    fieldsets = [*BaseUserAdmin.fieldsets, ("Preferences", {"fields": ["time_zone"]})]
    list_filter = ["is_staff", "is_active", "groups"]


admin.site.site_header = "Flightdeck administration"
admin.site.site_title = "Flightdeck admin"
