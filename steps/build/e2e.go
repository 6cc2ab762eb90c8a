package build

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/dind-cluster/dind-cluster/fixed"
	"github.com/dind-cluster/dind-cluster/steps"
	"github.com/dind-cluster/dind-cluster/steps/shell"
)

// Step names of the e2e supply chain.
const (
	StepE2EBinaries = "e2e-binaries"
	StepE2EImages   = "e2e-images"
)

// busyboxSHA256 pins the upstream busybox source tarballs that Debian's
// archive serves as busybox_VERSION.orig.tar.bz2.
var busyboxSHA256 = map[string]string{
	"1.37.0": "3311dff32e746499f4df0d5df04d7eb396382d7e108bb9250e7b519b837043a4",
}

// e2eRootfs is the userland of the test images upstream makes from Alpine
// or Debian: what the specs run inside agnhost (sh, curl, nc, dig, getent,
// ss, socat, ipcs), nginx, and glibc's resolver with dig.
var e2eRootfs = rootfs{
	Name:    "e2e",
	Variant: "minbase",
	Packages: []string{"bash", "bind9-dnsutils", "curl", "netcat-openbsd", "iproute2", "socat", "util-linux",
		"procps", "iputils-ping", "ca-certificates", "nginx-light", "passwd"},
	Hooks: []string{
		// agnhost's user and group that a SupplementalGroups spec expects.
		`chroot "$1" groupadd -g 50000 group-defined-in-image && chroot "$1" useradd -u 1000 -M -G group-defined-in-image user-defined-in-image`,
		// nginx as the e2e image runs it: in the foreground, logging to the container's output.
		`ln -sf /dev/stdout "$1/var/log/nginx/access.log" && ln -sf /dev/stderr "$1/var/log/nginx/error.log"`,
	},
}

// E2EImageNames are the names the set's e2e.test asks for, as
// test/utils/image/manifest.go of the release gives them.
func E2EImageNames(set fixed.Set) ([]string, error) {
	e, err := set.E2E()
	if err != nil {
		return nil, err
	}
	const repo = "registry.k8s.io/e2e-test-images/"
	names := []string{repo + "agnhost:" + e.Agnhost, repo + "agnhost:" + e.AgnhostPrev, repo + "busybox:" + e.BusyBox,
		repo + "nginx:" + e.Nginx, repo + "nautilus:" + e.Nautilus, repo + "nonewprivs:" + e.Nonewprivs,
		repo + "sample-apiserver:" + e.SampleAPIServer}
	if e.GlibcDNSTesting != "" {
		names = append(names, repo+"glibc-dns-testing:"+e.GlibcDNSTesting)
	}
	if e.JessieDNSUtils != "" {
		names = append(names, repo+"jessie-dnsutils:"+e.JessieDNSUtils)
	}
	return names, nil
}

// e2eSteps build e2e.test and ginkgo of the set's release, and the images
// its conformance specs run.
func (b *Builder) e2eSteps() []steps.Step {
	s := b.Set
	e, err := s.E2E()
	if err != nil {
		return []steps.Step{{Name: StepE2EBinaries, Run: func(context.Context) error { return err }}}
	}
	k8s := func() goBuild {
		return goBuild{Module: "k8s.io/kubernetes", Version: s.Kubernetes, Staging: s.StagingVersion(),
			Tags: []string{"selinux", "notest", "grpcnotrace"}}
	}
	binaries := k8s()
	binaries.LDFlags = kubernetesVersionFlags(s.Kubernetes)
	binaries.Tests = []string{"k8s.io/kubernetes/test/e2e"}
	binaries.Packages = []string{"github.com/onsi/ginkgo/v2/ginkgo@" + e.Ginkgo}
	tools := k8s()
	tools.LDFlags = []string{"-X", "main.Version=" + e.Agnhost}
	tools.Packages = []string{"k8s.io/kubernetes/test/images/agnhost", "k8s.io/kubernetes/test/images/nonewprivs",
		"k8s.io/sample-apiserver@" + s.StagingVersion()}
	// After the Kubernetes build: they share its build cache, and two such
	// builds at once would need twice its memory.
	needs := []string{StepEngine, "kubernetes"}
	return []steps.Step{
		b.cached(StepE2EBinaries, needs, binaries.inputs, func(ctx context.Context, dir string) error {
			return binaries.build(ctx, dir, b.Engine.Arch)
		}),
		b.cached("e2e-tools", needs, tools.inputs, func(ctx context.Context, dir string) error {
			return tools.build(ctx, dir, b.Engine.Arch)
		}),
		b.cached("busybox", []string{StepEngine, "host-tools"}, func(arch string) []string {
			return []string{"busybox=" + e.BusyBoxUpstream, "sha256=" + busyboxSHA256[e.BusyBoxUpstream], "arch=" + arch, "static defconfig"}
		}, func(ctx context.Context, dir string) error { return b.buildBusybox(ctx, dir, e.BusyBoxUpstream) }),
		b.rootfsStep(e2eRootfs),
		b.cached(StepE2EImages, []string{"e2e-tools", "busybox", "rootfs-e2e"}, func(arch string) []string {
			names, _ := E2EImageNames(s)
			return append([]string{"e2e-images", "recipe=1", b.key("e2e-tools"), b.key("busybox"), b.key("rootfs-e2e")}, names...)
		}, func(ctx context.Context, dir string) error { return b.buildE2EImages(ctx, dir, e) }),
	}
}

// E2EBinary is the path of e2e.test or ginkgo; valid once the plan ran.
func (b *Builder) E2EBinary(name string) string { return b.bin(StepE2EBinaries, name) }

// E2EImagesDir is the OCI layout of the e2e images; valid once the plan ran.
func (b *Builder) E2EImagesDir() string { return filepath.Join(b.dir(StepE2EImages), "oci") }

// buildBusybox builds busybox, static, from the upstream source tarball as
// Debian's archive serves it: Debian's own busybox is older, and its sh
// drops environment variables whose names hold a '-', which specs set.
func (b *Builder) buildBusybox(ctx context.Context, dir, version string) error {
	want, ok := busyboxSHA256[version]
	if !ok {
		return fmt.Errorf("no checksum is pinned for the busybox %s source", version)
	}
	mirror, err := aptMirror(b.AptMirror)
	if err != nil {
		return err
	}
	url := strings.TrimSuffix(mirror, "/") + "/pool/main/b/busybox/busybox_" + version + ".orig.tar.bz2"
	archive := filepath.Join(dir, "busybox.tar.bz2")
	if err := download(ctx, url, archive, want); err != nil {
		return err
	}
	src := filepath.Join(dir, "src")
	if err := os.MkdirAll(src, 0o755); err != nil {
		return err
	}
	if err := shell.Command("tar", "-C", src, "--strip-components=1", "-xjf", archive).Run(ctx); err != nil {
		return err
	}
	if err := shell.Command("make", "-C", src, "-s", "defconfig").Run(ctx); err != nil {
		return fmt.Errorf("busybox defconfig: %w", err)
	}
	jobs := fmt.Sprint(runtime.NumCPU())
	if err := shell.Command("make", "-C", src, "-s", "-j", jobs, "LDFLAGS=--static", "busybox").Run(ctx); err != nil {
		return fmt.Errorf("building busybox %s: %w", version, err)
	}
	bin := filepath.Join(dir, "bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		return err
	}
	if err := os.Rename(filepath.Join(src, "busybox"), filepath.Join(bin, "busybox")); err != nil {
		return err
	}
	list, err := shell.Command(filepath.Join(bin, "busybox"), "--list").Output(ctx)
	if err != nil {
		return fmt.Errorf("listing the applets of the built busybox: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "applets"), []byte(list), 0o644); err != nil {
		return err
	}
	return os.RemoveAll(src)
}

// download fetches url into path and checks its SHA-256.
func download(ctx context.Context, url, path, sha string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("downloading %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("downloading %s: %s (set DIND_APT_MIRROR to a Debian archive that serves it)", url, resp.Status)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(io.MultiWriter(f, h), resp.Body); err != nil {
		return fmt.Errorf("downloading %s: %w", url, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != sha {
		return fmt.Errorf("%s has SHA-256 %s, not the pinned %s", url, got, sha)
	}
	return f.Close()
}

// buildE2EImages writes the test images as an OCI layout, under the names
// e2e.test asks for, so that no KUBE_TEST_REPO_LIST is needed.
func (b *Builder) buildE2EImages(ctx context.Context, dir string, e fixed.E2E) error {
	info, err := downloadModule(ctx, "k8s.io/kubernetes", b.Set.Kubernetes)
	if err != nil {
		return err
	}
	images := filepath.Join(info.Dir, "test", "images")
	layout, err := newOCILayout(filepath.Join(dir, "oci"), b.Engine.Arch)
	if err != nil {
		return err
	}
	const repo = "registry.k8s.io/e2e-test-images/"
	base := filepath.Join(b.dir("rootfs-e2e"), "rootfs.tar")
	tool := func(name string) string { return b.bin("e2e-tools", name) }
	tmp := layerEntry{Path: "tmp", Mode: 0o1777, Dir: true}
	agnhost := []layerEntry{
		tmp,
		{Path: "agnhost", Mode: 0o755, From: tool("agnhost")},
		{Path: "agnhost-2", Link: "agnhost"},
		{Path: "localhost.crt", Mode: 0o644, From: filepath.Join(images, "agnhost", "porter", "localhost.crt")},
		{Path: "localhost.key", Mode: 0o644, From: filepath.Join(images, "agnhost", "porter", "localhost.key")},
		{Path: "uploads", Mode: 0o755, Dir: true},
	}
	busybox, err := busyboxFiles(b.dir("busybox"))
	if err != nil {
		return err
	}
	webContent := func(image, picture string) []layerEntry {
		return []layerEntry{
			{Path: picture, Mode: 0o644, From: filepath.Join(images, image, "html", picture)},
			{Path: "data.json", Mode: 0o644, From: filepath.Join(images, image, "html", "data.json")},
		}
	}
	specs := []imageSpec{
		{Name: repo + "agnhost:" + e.Agnhost, BaseTar: base, Files: agnhost, Entrypoint: []string{"/agnhost"}, Cmd: []string{"pause"}},
		// The previous agnhost must be another image (a rollout spec
		// changes between the two): same files, another label.
		{Name: repo + "agnhost:" + e.AgnhostPrev, BaseTar: base, Files: agnhost, Entrypoint: []string{"/agnhost"}, Cmd: []string{"pause"},
			Labels: map[string]string{"dind-cluster.e2e-tag": e.AgnhostPrev}},
		{Name: repo + "nautilus:" + e.Nautilus, BaseTar: base, Files: agnhost, MoreFiles: webContent("nautilus", "nautilus.jpg"),
			Entrypoint: []string{"/agnhost"}, Cmd: []string{"test-webserver"}},
		{Name: repo + "busybox:" + e.BusyBox, Files: busybox, Cmd: []string{"sh"}},
		{Name: repo + "nonewprivs:" + e.Nonewprivs, Files: busybox,
			MoreFiles: []layerEntry{{Path: "usr/local/bin/nnp", Mode: 0o4755, From: tool("nonewprivs")}}, Cmd: []string{"nnp"}},
		{Name: repo + "nginx:" + e.Nginx, BaseTar: base, Files: []layerEntry{tmp},
			Entrypoint: []string{"nginx", "-g", "daemon off;"}},
		{Name: repo + "sample-apiserver:" + e.SampleAPIServer, Files: []layerEntry{tmp,
			{Path: "kube-sample-apiserver", Mode: 0o755, From: tool("sample-apiserver")}},
			Entrypoint: []string{"/kube-sample-apiserver"}},
	}
	if e.GlibcDNSTesting != "" {
		specs = append(specs, imageSpec{Name: repo + "glibc-dns-testing:" + e.GlibcDNSTesting, BaseTar: base,
			Files: []layerEntry{tmp}, Cmd: []string{"bash"}})
	}
	if e.JessieDNSUtils != "" {
		specs = append(specs, imageSpec{Name: repo + "jessie-dnsutils:" + e.JessieDNSUtils, BaseTar: base,
			Files: []layerEntry{tmp}, Cmd: []string{"bash"}})
	}
	for _, s := range specs {
		if err := layout.add(s); err != nil {
			return err
		}
	}
	return layout.finish()
}

// busyboxFiles are the busybox binary with a link per applet in /bin, as in
// the busybox image, and the users and groups it carries.
func busyboxFiles(dir string) ([]layerEntry, error) {
	f, err := os.Open(filepath.Join(dir, "applets"))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	files := []layerEntry{
		{Path: "bin/busybox", Mode: 0o755, From: filepath.Join(dir, "bin", "busybox")},
		{Path: "tmp", Mode: 0o1777, Dir: true},
		{Path: "root", Mode: 0o700, Dir: true},
		{Path: "home", Mode: 0o755, Dir: true},
		{Path: "var/www", Mode: 0o755, Dir: true},
		{Path: "etc/passwd", Mode: 0o644, Content: []byte("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n")},
		{Path: "etc/group", Mode: 0o644, Content: []byte("root:x:0:\nnogroup:x:65534:\n")},
	}
	s := bufio.NewScanner(f)
	for s.Scan() {
		if applet := strings.TrimSpace(s.Text()); applet != "" && applet != "busybox" {
			files = append(files, layerEntry{Path: "bin/" + applet, Link: "busybox"})
		}
	}
	return files, s.Err()
}

// TarDir streams the folder dir as a tar, paths relative to it (an OCI
// layout as `ctr images import` reads it).
func TarDir(w io.Writer, dir string) error { return tarDir(w, dir) }
