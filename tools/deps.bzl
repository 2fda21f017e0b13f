"""Repositories multiproc needs, for its own WORKSPACE and for others.

A workspace that depends on multiproc declares it, then calls this:

    local_repository(name = "multiproc", path = "...")   # or http_archive
    load("@multiproc//tools:deps.bzl", "multiproc_dependencies")
    multiproc_dependencies()
"""

def multiproc_dependencies():
    """Declares @mproc_system: Debian's nanopb, GoogleTest and libcrypto."""
    if "mproc_system" not in native.existing_rules():
        native.new_local_repository(
            name = "mproc_system",
            path = "/usr",
            build_file = "@multiproc//third_party/system:system.BUILD",
        )
