from releases.views.placeholder import being_built

train_detail = being_built("Release train")
