"""Repositories multiproc needs, for its own WORKSPACE and for others.

A workspace that depends on multiproc declares it, then calls this:

    local_repository(name = "multiproc", path = "/path/to/multiproc")
    load("@multiproc//tools:deps.bzl", "multiproc_dependencies")
    multiproc_dependencies()

It declares, each only when the workspace has not declared it already:

  - @mproc_system: Debian's nanopb runtime, GoogleTest and libcrypto
    (third_party/system/system.BUILD), installed by tools/setup.sh;
  - @rules_cc, @rules_java, @remote_coverage_tools: the offline stand-ins
    from multiproc's third_party/. Bazel 4.2.3 appends a WORKSPACE suffix
    that declares these three as http_archives (remote_coverage_tools even
    without checking whether it exists); with no network their fetch fails.
    A repository declared in an earlier part of the WORKSPACE (before a
    load() statement) wins over a later one, and the suffix starts with
    loads: declared here, ours are the ones fetched.

The stand-ins are found through this file's own repository (whatever name
the workspace gave multiproc), so a consumer copies nothing.
"""

def _mproc_stand_in_impl(rctx):
    # third_party/<dir> of multiproc's checkout becomes this repository, each
    # entry linked, as local_repository would. (Found from third_party/BUILD:
    # a directory holding a WORKSPACE file is no package of @multiproc.)
    src = rctx.path(rctx.attr.marker).dirname.get_child(rctx.attr.dir)
    for entry in src.readdir():
        rctx.symlink(entry, entry.basename)

_mproc_stand_in = repository_rule(
    implementation = _mproc_stand_in_impl,
    attrs = {
        "marker": attr.label(allow_single_file = True, mandatory = True),
        "dir": attr.string(mandatory = True),
    },
    local = True,
)

def multiproc_dependencies():
    """Declares what multiproc needs and the workspace lacks (see above)."""
    for name in ["rules_cc", "rules_java", "remote_coverage_tools"]:
        if not native.existing_rule(name):
            _mproc_stand_in(
                name = name,
                marker = Label("//third_party:BUILD"),
                dir = name,
            )
    if not native.existing_rule("mproc_system"):
        native.new_local_repository(
            name = "mproc_system",
            path = "/usr",
            build_file = str(Label("//third_party/system:system.BUILD")),
        )
