from releases.views.placeholder import being_built

release_detail = being_built("Release")
