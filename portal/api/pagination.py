"""Pages of rows: ?page=<n> and ?per_page=<n> (bounded, as the pages' lists are: releases.lists)."""

from rest_framework.pagination import PageNumberPagination

from releases.lists import MAX_PER_PAGE, PER_PAGE


class Pages(PageNumberPagination):
    page_size = PER_PAGE
    page_size_query_param = "per_page"
    max_page_size = MAX_PER_PAGE
