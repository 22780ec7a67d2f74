from releases.views.placeholder import being_built

month = being_built("Release calendar")
