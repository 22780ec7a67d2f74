"""Reads that pages need, one module per page or panel: a fixed number of queries whatever the data
size. Views call these; the rules they use (status sets, ancestry, freeze scope, who may sign) live
on the querysets (releases.querysets) and in releases.freezes."""
