#!/usr/bin/env python3
"""Generates the x86-64 syscall table {nr, "name", args} from the kernel's own headers, so the names
ix-run prints and accepts in policies, and the argument counts the VMM's pointer checks rely on
(vmm/arg_check.cc), are exactly the kernel's.

  names:       the uapi header asm/unistd_64.h (linux-libc-dev)
  entry point: arch/x86/include/generated/asm/syscalls_64.h, the kernel's build of
               arch/x86/entry/syscalls/syscall_64.tbl (linux-headers-amd64): number -> sys_NAME,
               which resolves aliases such as stat -> sys_newstat, umount2 -> sys_umount
  arguments:   the `asmlinkage long sys_NAME(...)` prototypes of include/linux/syscalls.h
               (linux-headers-*-common), read through a small preprocessor that evaluates #if with
               the amd64 kernel's own configuration (include/generated/autoconf.h) and the
               __ARCH_WANT_* defines of arch/x86/include/asm/unistd.h, so the x86-64 variant of
               e.g. clone (not CONFIG_CLONE_BACKWARDS*) is the one counted.

A syscall with no count from any of these gets 6 (the safe over-count: every register is checked)
and is listed on stderr.

Usage: gen_syscall_table.py --locate
         prints the header files to read (one per line, in the order below) from the newest
         /usr/src/linux-headers-*-amd64; exits 1 with a message naming the package if missing.
       gen_syscall_table.py UNISTD_64_H SYSCALLS_64_H AUTOCONF_H ASM_UNISTD_H PROTOTYPES_H...
                            -o OUTPUT_INC
"""
import glob
import os
import re
import sys

PACKAGE = "linux-headers-amd64"

# x86-only entry points defined with SYSCALL_DEFINEn in arch/x86/*.c, which the headers package
# does not ship and for which Linux 6.1 has no prototype in any header. A prototype, if a later
# kernel adds one, wins: one that agrees draws a warning to drop the entry, one that disagrees
# fails the generation.
ARCH_ONLY = {
    "sys_rt_sigreturn": 0,  # arch/x86/kernel/signal.c: SYSCALL_DEFINE0(rt_sigreturn)
    "sys_mmap": 6,          # arch/x86/kernel/sys_x86_64.c: SYSCALL_DEFINE6(mmap, addr, len, ...)
    "sys_iopl": 1,          # arch/x86/kernel/ioport.c: SYSCALL_DEFINE1(iopl, unsigned int, level)
    "sys_modify_ldt": 3,    # arch/x86/kernel/ldt.c: SYSCALL_DEFINE3(modify_ldt, func, ptr, count)
    "sys_arch_prctl": 2,    # arch/x86/kernel/process_64.c: SYSCALL_DEFINE2(arch_prctl, option, arg2)
}

# Macros the prototypes are read without. CONFIG_ARCH_HAS_SYSCALL_WRAPPER (set on x86) hides the
# prototypes because x86's real entry points take a struct pt_regs; the C signatures they unpack
# the registers into are still the ABI, and the prototypes state them.
UNDEFINED = {"CONFIG_ARCH_HAS_SYSCALL_WRAPPER"}
# Macros that come from headers the preprocessor does not follow.
PREDEFINED = {"BITS_PER_LONG": "64", "__x86_64__": "1"}


def locate() -> int:
    def version(path):
        m = re.search(r"linux-headers-([\d.]+)-(\d+)-amd64$", path)
        return [int(x) for x in m.group(1).split(".")] + [int(m.group(2))] if m else [-1]

    dirs = sorted(glob.glob("/usr/src/linux-headers-*-amd64"), key=version)
    arch = dirs[-1] if dirs else None
    common = arch[: -len("amd64")] + "common" if arch else None
    files = [
        "/usr/include/x86_64-linux-gnu/asm/unistd_64.h",
        f"{arch}/arch/x86/include/generated/asm/syscalls_64.h",
        f"{arch}/include/generated/autoconf.h",
        f"{common}/arch/x86/include/asm/unistd.h",
        f"{common}/include/linux/syscalls.h",
        f"{common}/arch/x86/include/asm/syscalls.h",
    ]
    missing = [f for f in files if arch is None or not os.path.isfile(f)]
    if missing:
        print(f"kernel headers not found ({missing[0] if arch else '/usr/src/linux-headers-*-amd64'});"
              f" install Debian's {PACKAGE} (apt-get install {PACKAGE})", file=sys.stderr)
        return 1
    print("\n".join(files))
    return 0


class Preprocessor:
    """Enough of cpp for the kernel's syscall headers: comments, line continuations, #define,
    #undef and #if/#ifdef/#ifndef/#elif/#else/#endif. Does not follow #include or expand
    macros outside directives. An #if it cannot evaluate is an error, never a guess."""

    def __init__(self, defines):
        self.defines = dict(defines)

    def _eval(self, expr, where):
        e = re.sub(r"defined\s*\(\s*(\w+)\s*\)|defined\s+(\w+)",
                   lambda m: "1" if (m.group(1) or m.group(2)) in self.defines else "0", expr)
        e = re.sub(r"\b(\d+)[uUlL]*\b", r"\1", e)

        def ident(m):
            v = self.defines.get(m.group(0), "0").strip() or "1"
            if not re.fullmatch(r"\d+", v):
                raise ValueError(f"{where}: cannot evaluate macro {m.group(0)}={v!r} in #if {expr}")
            return v

        e = re.sub(r"\b[A-Za-z_]\w*\b", ident, e)
        e = e.replace("&&", " and ").replace("||", " or ")
        e = re.sub(r"!(?!=)", " not ", e)
        if not re.fullmatch(r"[\d\s()<>=!+\-*/%andotr]*", e):
            raise ValueError(f"{where}: cannot evaluate #if {expr}")
        try:
            return bool(eval(e, {"__builtins__": {}}, {}))  # only digits and operators remain
        except Exception as err:  # noqa: BLE001 (report any parse failure with its place)
            raise ValueError(f"{where}: cannot evaluate #if {expr}: {err}") from None

    def run(self, path):
        """Returns the text of `path` outside inactive #if branches and directives."""
        with open(path) as f:
            text = f.read()
        text = re.sub(r"/\*.*?\*/", lambda m: " " + "\n" * m.group(0).count("\n"), text, flags=re.S)
        text = re.sub(r"//[^\n]*", "", text)
        text = text.replace("\\\n", " ")
        out = []
        stack = []  # (enclosing branch active, this branch active, some branch already taken)
        active = True
        for n, line in enumerate(text.split("\n"), 1):
            m = re.match(r"\s*#\s*(\w+)\s*(.*?)\s*$", line)
            if not m:
                if active:
                    out.append(line)
                continue
            d, rest, where = m.group(1), m.group(2), f"{path}:{n}"
            if d in ("if", "ifdef", "ifndef"):
                if not active:
                    cond = False
                elif d == "if":
                    cond = self._eval(rest, where)
                else:
                    cond = (rest.split()[0] in self.defines) == (d == "ifdef")
                stack.append((active, cond, cond))
                active = active and cond
            elif d in ("elif", "else"):
                if not stack:
                    raise ValueError(f"{where}: #{d} without #if")
                outer, _, taken = stack.pop()
                cond = not taken and outer and (d == "else" or self._eval(rest, where))
                stack.append((outer, cond, taken or cond))
                active = outer and cond
            elif d == "endif":
                if not stack:
                    raise ValueError(f"{where}: #endif without #if")
                active = stack.pop()[0]
            elif active and d == "define":
                dm = re.match(r"(\w+)(\([^)]*\))?\s*(.*)", rest)
                if dm.group(1) not in UNDEFINED:
                    self.defines[dm.group(1)] = dm.group(3) if not dm.group(2) else "<function>"
            elif active and d == "undef":
                self.defines.pop(rest.split()[0], None)
        if stack:
            raise ValueError(f"{path}: unterminated #if")
        return "\n".join(out)


def count_params(params):
    """Parameter count of a C parameter list: "void" is 0, nested parentheses are respected."""
    params = params.strip()
    if params in ("", "void"):
        return 0
    depth, count = 0, 1
    for c in params:
        depth += c in "(["
        depth -= c in ")]"
        count += c == "," and depth == 0
    return count


def read_prototypes(text, where, protos):
    for m in re.finditer(r"asmlinkage\s+long\s+(sys_\w+)\s*\(((?:[^()]|\([^()]*\))*)\)\s*;", text):
        name, n = m.group(1), count_params(m.group(2))
        if protos.get(name, n) != n:
            raise ValueError(f"{where}: {name} declared with {protos[name]} and {n} parameters")
        protos[name] = n


def main(argv) -> int:
    if argv == ["--locate"]:
        return locate()
    if "-o" not in argv or len(argv) < 7:
        print(__doc__, file=sys.stderr)
        return 2
    i = argv.index("-o")
    out = argv[i + 1]
    unistd, syscalls_64, autoconf, asm_unistd, *proto_files = argv[:i] + argv[i + 2:]

    names = []
    with open(unistd) as f:
        for line in f:
            m = re.match(r"#define __NR_(\w+)\s+(\d+)", line)
            if m:
                names.append((int(m.group(2)), m.group(1)))
    if len(names) < 300:
        print(f"gen_syscall_table: only {len(names)} syscalls in {unistd}", file=sys.stderr)
        return 1

    entry = {}
    with open(syscalls_64) as f:
        for line in f:
            m = re.match(r"__SYSCALL\((\d+),\s*(\w+)\)", line)
            if m:
                entry[int(m.group(1))] = m.group(2)

    try:
        pp = Preprocessor(PREDEFINED)
        pp.run(autoconf)
        pp.run(asm_unistd)
        for u in UNDEFINED:
            pp.defines.pop(u, None)
        protos = {}
        for path in proto_files:
            read_prototypes(pp.run(path), path, protos)
    except ValueError as err:
        print(f"gen_syscall_table: {err}", file=sys.stderr)
        return 1
    if len(protos) < 300:
        print(f"gen_syscall_table: only {len(protos)} prototypes in {proto_files}", file=sys.stderr)
        return 1
    for name, n in ARCH_ONLY.items():
        if name in protos:
            agree = protos[name] == n
            print(f"gen_syscall_table: {'warning: ' if agree else ''}ARCH_ONLY says {name} takes {n}"
                  f" arguments, its prototype {protos[name]}: drop the entry", file=sys.stderr)
            if not agree:
                return 1

    rows, unknown = [], []
    for nr, name in sorted(names):
        sym = entry.get(nr, f"sys_{name}")  # a uapi header newer than the kernel headers
        args = protos.get(sym, ARCH_ONLY.get(sym))
        note = "" if sym == f"sys_{name}" else f"  // {sym}"
        if args is None:
            unknown.append(f"{nr} {name} ({sym})")
            args, note = 6, f"  // {sym}: no prototype, all six checked"
        rows.append(f'{{{nr}, "{name}", {args}}},{note}\n')
    if unknown:
        print("gen_syscall_table: no argument count (using 6) for: " + ", ".join(unknown),
              file=sys.stderr)
    with open(out, "w") as f:
        f.write("// Generated by tools/gen_syscall_table.py from asm/unistd_64.h and the kernel"
                " headers. Do not edit.\n")
        f.writelines(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
