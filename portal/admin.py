from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin

from portal.models import User


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    fieldsets = [*BaseUserAdmin.fieldsets, ("Preferences", {"fields": ["time_zone"]})]
    list_filter = ["is_staff", "is_active", "groups"]


admin.site.site_header = "Flightdeck administration"
admin.site.site_title = "Flightdeck admin"
