"""One module of routes per resource."""

# set on each router rather than at include time, so a route's template (metrics label) is its full path
API_PREFIX = "/v1"
