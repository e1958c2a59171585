"""vm_image: the pieces of a small Linux guest image, shared by the test VM and ix-deploy.

A guest image here is a Debian kernel (the package linux-image-amd64 depends on, unpacked with
dpkg-deb, never installed) and a busybox-static initramfs holding the kernel modules the guest
needs (in dependency order, listed in /modules/order) and an /init. tests/vm/ixvm builds the test
VM's image from these; tools/deploy/ix-deploy-image builds self-contained deploy images.

Every function raises ImageError with the failing command and its stderr; none exits.

  pkg = kernel_package()
  root, version = unpack_kernel(deb_dir, pkg, work)
  make_busybox_tree(initrd)
  install_modules(initrd, module_paths(root, version, ["virtio_pci", "virtio_net"]))
  write_cpio(initrd, "initrd.img")
"""

import os
import shutil
import subprocess

BUSYBOX = "/bin/busybox"


class ImageError(Exception):
    pass


def run_checked(cmd, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if r.returncode != 0:
        raise ImageError(f"{' '.join(cmd)} failed ({r.returncode}): {r.stderr.strip()[-2000:]}")
    return r.stdout


def kernel_package():
    """The versioned package linux-image-amd64 depends on, e.g. linux-image-6.1.0-57-amd64."""
    out = run_checked(["apt-cache", "depends", "linux-image-amd64"])
    for line in out.splitlines():
        line = line.strip()
        if line.startswith("Depends: linux-image-"):
            return line.split()[1]
    raise ImageError("apt-cache knows no linux-image-amd64 (run apt-get update)")


def check_busybox_static(busybox=BUSYBOX):
    """Raises unless busybox is a static binary (the initramfs has no dynamic loader for it)."""
    with open(busybox, "rb") if os.path.exists(busybox) else open(os.devnull, "rb") as f:
        head = f.read(4096)
    if not head.startswith(b"\x7fELF") or b"ld-linux" in head:
        raise ImageError(f"{busybox} must be busybox-static (apt-get install busybox-static)")


def find_deb(deb_dir, pkg):
    debs = [f for f in os.listdir(deb_dir) if f.startswith(pkg + "_") and f.endswith(".deb")]
    return os.path.join(deb_dir, sorted(debs)[-1]) if debs else None


def unpack_kernel(deb_dir, pkg, work):
    """Unpacks pkg's .deb (from deb_dir, downloaded there with apt-get if missing) into work/kernel
    and runs depmod there. Returns (root, kernel version)."""
    deb = find_deb(deb_dir, pkg)
    if deb is None:
        run_checked(["apt-get", "download", pkg], cwd=deb_dir)
        deb = find_deb(deb_dir, pkg)
    if deb is None:
        raise ImageError(f"apt-get download {pkg} left no .deb in {deb_dir}")
    root = os.path.join(work, "kernel")
    run_checked(["dpkg-deb", "-x", deb, root])
    version = os.listdir(os.path.join(root, "lib", "modules"))[0]
    run_checked(["depmod", "-b", root, version])
    return root, version


def kernel_image(root, version):
    return os.path.join(root, "boot", f"vmlinuz-{version}")


def module_paths(root, version, modules):
    """The .ko files that load modules (and what they depend on), in loading order."""
    order = []
    for m in modules:
        deps = run_checked(["modprobe", "-d", root, "-S", version, "--show-depends", m])
        for line in deps.splitlines():
            parts = line.split()
            if parts and parts[0] == "insmod" and parts[1] not in order:
                order.append(parts[1])
    return order


def make_busybox_tree(initrd, dirs=("bin", "sbin", "proc", "sys", "dev", "modules"), busybox=BUSYBOX):
    """Creates dirs under initrd, busybox in bin/ and one relative link per applet."""
    for d in dirs:
        os.makedirs(os.path.join(initrd, d), exist_ok=True)
    shutil.copy(busybox, os.path.join(initrd, "bin", "busybox"))
    # One relative link per applet (busybox --install would link into this machine's root).
    for a in run_checked([busybox, "--list"]).split():
        link = os.path.join(initrd, "bin", a)
        if not os.path.exists(link):
            os.symlink("busybox", link)


def install_modules(initrd, paths):
    """Copies the modules to initrd/modules and lists them in initrd/modules/order. Returns names."""
    os.makedirs(os.path.join(initrd, "modules"), exist_ok=True)
    names = []
    for path in paths:
        name = os.path.basename(path)
        shutil.copy(path, os.path.join(initrd, "modules", name))
        names.append(name)
    with open(os.path.join(initrd, "modules", "order"), "w") as f:
        f.write("\n".join(names) + "\n")
    return names


def write_cpio(initrd, out_path):
    """Packs the tree under initrd as a newc cpio archive (an initramfs) at out_path."""
    files = subprocess.run(["find", "."], cwd=initrd, capture_output=True, text=True, check=True).stdout
    with open(out_path, "wb") as f:
        subprocess.run(["cpio", "-o", "-H", "newc", "--quiet"], cwd=initrd, input=files.encode(),
                       stdout=f, check=True)
