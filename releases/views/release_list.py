from releases.views.placeholder import being_built

release_list = being_built("Releases")
