package build

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/dind-cluster/dind-cluster/steps/shell"
)

// suite is the Debian release nodes are made of.
const suite = "bookworm"

// rootfs is a Debian root filesystem made with mmdebstrap, as a tar.
type rootfs struct {
	Name     string
	Variant  string
	Packages []string
	Hooks    []string // mmdebstrap --customize-hook commands; "$1" is the root
}

// docs and translations are of no use inside a node.
var slimDpkg = []string{
	"path-exclude=/usr/share/doc/*", "path-include=/usr/share/doc/*/copyright",
	"path-exclude=/usr/share/man/*", "path-exclude=/usr/share/locale/*", "path-exclude=/usr/share/info/*",
}

func (r rootfs) inputs() []string {
	in := []string{"rootfs=" + r.Name, "suite=" + suite, "variant=" + r.Variant,
		"packages=" + strings.Join(r.Packages, ","), "dpkg=" + strings.Join(slimDpkg, ",")}
	return append(in, r.Hooks...)
}

// build writes the root filesystem to dir/rootfs.tar.
func (r rootfs) build(ctx context.Context, dir, arch, mirror string) error {
	args := []string{"--quiet", "--mode=root", "--variant=" + r.Variant, "--architectures=" + arch,
		"--include=" + strings.Join(r.Packages, ","), "--aptopt=Acquire::Languages \"none\"",
		"--skip=output/dev"}
	for _, d := range slimDpkg {
		args = append(args, "--dpkgopt="+d)
	}
	for _, h := range r.Hooks {
		args = append(args, "--customize-hook="+h)
	}
	args = append(args, suite, filepath.Join(dir, "rootfs.tar"), mirror)
	if err := shell.Command("mmdebstrap", args...).Run(ctx); err != nil {
		return fmt.Errorf("making the %s root filesystem from %s: %w", r.Name, mirror, err)
	}
	return nil
}

// nodeRootfs is the userland of a node: systemd and what kubelet, kubeadm,
// containerd and the CNI plugins call.
var nodeRootfs = rootfs{
	Name:    "node",
	Variant: "minbase",
	Packages: []string{"systemd", "systemd-sysv", "dbus", "iptables", "nftables", "conntrack", "ipset",
		"socat", "ethtool", "ebtables", "kmod", "iproute2", "iputils-ping", "procps", "ca-certificates",
		"libseccomp2", "util-linux", "mount", "bash", "less"},
	Hooks: []string{
		// Units that make no sense in a container, or wait for hardware.
		`chroot "$1" systemctl mask systemd-udevd.service systemd-udev-trigger.service systemd-udevd-control.socket systemd-udevd-kernel.socket systemd-modules-load.service systemd-binfmt.service systemd-remount-fs.service systemd-firstboot.service getty@tty1.service console-getty.service serial-getty@.service sys-kernel-config.mount sys-kernel-debug.mount sys-kernel-tracing.mount dev-hugepages.mount systemd-journald-audit.socket apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer fstrim.timer`,
		`rm -f "$1/etc/machine-id" "$1/var/lib/dbus/machine-id" && touch "$1/etc/machine-id"`,
	},
}

// proxyRootfs is the base of the kube-proxy image: the iptables and
// nftables userland kube-proxy calls.
var proxyRootfs = rootfs{
	Name:     "kube-proxy",
	Variant:  "essential",
	Packages: []string{"iptables", "nftables", "conntrack", "ipset", "ebtables", "kmod"},
}

// aptMirror is the configured Debian mirror (DIND_APT_MIRROR), or else the
// one the host's apt uses.
func aptMirror(configured string) (string, error) {
	if configured != "" {
		return configured, nil
	}
	var files []string
	deb822, _ := filepath.Glob("/etc/apt/sources.list.d/*.sources")
	files = append(files, deb822...)
	lists, _ := filepath.Glob("/etc/apt/sources.list.d/*.list")
	files = append(append(files, "/etc/apt/sources.list"), lists...)
	for _, f := range files {
		if m := mirrorIn(f); m != "" {
			return m, nil
		}
	}
	return "", fmt.Errorf("no Debian mirror found in /etc/apt/sources.list or /etc/apt/sources.list.d: " +
		"set DIND_APT_MIRROR to a Debian archive URL that carries " + suite)
}

// mirrorIn reads a one-line-style or deb822 apt source file and returns the
// first URI serving the main archive (not the security one).
func mirrorIn(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	var uris []string
	s := bufio.NewScanner(f)
	for s.Scan() {
		line := strings.TrimSpace(s.Text())
		if strings.HasPrefix(line, "#") {
			continue
		}
		if v, ok := strings.CutPrefix(line, "URIs:"); ok {
			uris = append(uris, strings.Fields(v)...)
		}
		if f := strings.Fields(line); len(f) >= 3 && f[0] == "deb" {
			for _, w := range f[1:] {
				if strings.Contains(w, "://") {
					uris = append(uris, w)
					break
				}
			}
		}
	}
	for _, u := range uris {
		if !strings.Contains(u, "security") {
			return u
		}
	}
	return ""
}
