"""multiproc for builds without Bazel: what //:install copies into a prefix.

mproc_dist(name, lib, shared, umbrella, api) lays out, under <name>/:

    include/multiproc.h, include/multiproc/*.h   the public headers
    lib/libmultiproc.a          the library's objects and nanopb's runtime
                                partially linked into one object, where only
                                the API stays global (the mproc_[a-z]*
                                symbols that are not hidden, as in the
                                shared library: nothing internal, no pb_* to
                                clash with a program's own nanopb)
    lib/libmultiproc.so         the shared library (//:libmultiproc.so)
    lib/pkgconfig/multiproc.pc  with "prefix=@PREFIX@", which tools/install.sh
                                replaces; Version from multiproc/version.h,
                                Libs.private from the library's link flags
"""

load("@bazel_tools//tools/cpp:toolchain_utils.bzl", "find_cpp_toolchain")

def _mproc_dist_impl(ctx):
    cc = find_cpp_toolchain(ctx)
    out = ctx.attr.name + "/"

    # The library's static archives, and its link flags: "-l:libX.a" names a
    # static archive to fold in (nanopb's runtime); the rest (-pthread, -lm)
    # are what a static link of multiproc needs besides (Libs.private).
    archives = []
    bundled = []
    private = []
    for li in ctx.attr.lib[CcInfo].linking_context.linker_inputs.to_list():
        for lib in li.libraries:
            a = lib.pic_static_library or lib.static_library
            if a and a not in archives:
                archives.append(a)
        for flag in li.user_link_flags:
            if flag.startswith("-l:") and flag.endswith(".a"):
                if flag not in bundled:
                    bundled.append(flag)
            elif flag not in private:
                private.append(flag)

    static = ctx.actions.declare_file(out + "lib/libmultiproc.a")
    ctx.actions.run_shell(
        outputs = [static],
        inputs = depset(archives, transitive = [cc.all_files]),
        command = """set -e
obj="{a}.o"
"{cc}" -r -nostdlib -o "$obj" -Wl,--whole-archive {archives} \
    -Wl,--no-whole-archive {bundled}
"{objcopy}" --localize-hidden --wildcard \
    --keep-global-symbol='mproc_[a-z]*' "$obj"
rm -f "{a}"
"{ar}" rcsD "{a}" "$obj"
rm -f "$obj"
""".format(
            a = static.path,
            cc = cc.compiler_executable,
            objcopy = cc.objcopy_executable,
            ar = cc.ar_executable,
            archives = " ".join([f.path for f in archives]),
            bundled = " ".join(bundled),
        ),
        # PATH, for the compiler driver to find ld.
        use_default_shell_env = True,
        mnemonic = "MprocStaticLib",
        progress_message = "Folding multiproc into one static library",
    )

    shared = ctx.actions.declare_file(out + "lib/libmultiproc.so")
    ctx.actions.symlink(output = shared, target_file = ctx.file.shared)

    headers = []
    umbrella = ctx.actions.declare_file(out + "include/multiproc.h")
    ctx.actions.symlink(output = umbrella, target_file = ctx.file.umbrella)
    headers.append(umbrella)
    version_h = None
    seen = {}
    for api in ctx.attr.api:
        for h in api[CcInfo].compilation_context.direct_public_headers:
            if h.basename in seen:
                continue
            seen[h.basename] = True
            dst = ctx.actions.declare_file(out + "include/multiproc/" + h.basename)
            ctx.actions.symlink(output = dst, target_file = h)
            headers.append(dst)
            if h.basename == "version.h":
                version_h = h
    if not version_h:
        fail("no multiproc/version.h among the api headers")

    pc = ctx.actions.declare_file(out + "lib/pkgconfig/multiproc.pc")
    ctx.actions.run_shell(
        outputs = [pc],
        inputs = [version_h],
        command = """set -e
version=$(sed -n 's/^#define MPROC_VERSION_STRING "\\(.*\\)"$/\\1/p' "{h}")
test -n "$version"
cat > "{pc}" <<EOF
prefix=@PREFIX@
includedir=\\${{prefix}}/include
libdir=\\${{prefix}}/lib

Name: multiproc
Description: Python's multiprocessing for C: Process and a pool of forked workers
Version: $version
Cflags: -I\\${{includedir}}
Libs: -L\\${{libdir}} -lmultiproc
Libs.private: {private}
EOF
""".format(h = version_h.path, pc = pc.path, private = " ".join(private)),
        mnemonic = "MprocPkgConfig",
    )

    files = [static, shared, pc] + headers
    return [DefaultInfo(
        files = depset(files),
        runfiles = ctx.runfiles(files = files),
    )]

mproc_dist = rule(
    implementation = _mproc_dist_impl,
    attrs = {
        "lib": attr.label(mandatory = True, providers = [CcInfo]),
        "shared": attr.label(mandatory = True, allow_single_file = True),
        "umbrella": attr.label(mandatory = True, allow_single_file = True),
        "api": attr.label_list(providers = [CcInfo]),
        "_cc_toolchain": attr.label(
            default = "@bazel_tools//tools/cpp:current_cc_toolchain",
        ),
    },
    toolchains = ["@bazel_tools//tools/cpp:toolchain_type"],
    fragments = ["cpp"],
)
