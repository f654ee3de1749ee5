# Evergreen: runtime-side "greengrass_common" package.
#
# The genuine Greengrass v1 Core SDK for Python imports this package; it is
# installed by the core (not by the SDK).  Evergreen ships its own version with
# the names the SDK relies on.  See runtime/python/README.md.
