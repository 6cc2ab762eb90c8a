package build

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/dind-cluster/dind-cluster/embed"
	"github.com/dind-cluster/dind-cluster/fixed"
	"github.com/dind-cluster/dind-cluster/steps/cache"
)

func TestStagingModulesAreReplacedByTheirRelease(t *testing.T) {
	goMod := `module k8s.io/kubernetes

require k8s.io/api v0.0.0

replace (
	k8s.io/api => ./staging/src/k8s.io/api
	k8s.io/client-go => ./staging/src/k8s.io/client-go
	github.com/other/thing => github.com/fork/thing v1.0.0
)
replace k8s.io/kubectl => ./staging/src/k8s.io/kubectl
`
	got := stagingReplaces([]byte(goMod), "v0.37.2")
	want := []string{
		"k8s.io/api => k8s.io/api v0.37.2",
		"k8s.io/client-go => k8s.io/client-go v0.37.2",
		"k8s.io/kubectl => k8s.io/kubectl v0.37.2",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("replaces\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestVersionFlagsStampTheRelease(t *testing.T) {
	flags := strings.Join(kubernetesVersionFlags("v1.36.3"), " ")
	for _, want := range []string{
		"k8s.io/component-base/version.gitVersion=v1.36.3",
		"k8s.io/component-base/version.gitMajor=1",
		"k8s.io/component-base/version.gitMinor=36",
		"k8s.io/client-go/pkg/version.gitVersion=v1.36.3",
		"k8s.io/component-base/version.gitTreeState=clean",
	} {
		if !strings.Contains(flags, want) {
			t.Errorf("ldflags lack %s", want)
		}
	}
}

func TestImagesAreNamedAsKubeadmAsks(t *testing.T) {
	set, err := fixed.Lookup("v1.37.2")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"registry.k8s.io/kube-apiserver:v1.37.2", "registry.k8s.io/kube-controller-manager:v1.37.2",
		"registry.k8s.io/kube-scheduler:v1.37.2", "registry.k8s.io/kube-proxy:v1.37.2",
		"registry.k8s.io/etcd:3.7.0-0", "registry.k8s.io/coredns/coredns:v1.14.6", "registry.k8s.io/pause:3.10.2",
	}
	if got := Images(set).All(); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("images %v, want %v", got, want)
	}
}

func TestMirrorIsReadFromAptSources(t *testing.T) {
	dir := t.TempDir()
	deb822 := filepath.Join(dir, "debian.sources")
	os.WriteFile(deb822, []byte(`Types: deb
# URIs: http://commented.example/debian
URIs: http://security.example/debian-security
Suites: bookworm-security

Types: deb
URIs: http://mirror.example/debian
Suites: bookworm bookworm-updates
`), 0o644)
	if got := mirrorIn(deb822); got != "http://mirror.example/debian" {
		t.Errorf("deb822 mirror %q", got)
	}
	list := filepath.Join(dir, "sources.list")
	os.WriteFile(list, []byte("# deb http://old.example/debian bookworm main\ndeb [arch=amd64] http://other.example/debian bookworm main\n"), 0o644)
	if got := mirrorIn(list); got != "http://other.example/debian" {
		t.Errorf("one-line mirror %q", got)
	}
	if got := mirrorIn(filepath.Join(dir, "missing")); got != "" {
		t.Errorf("missing file gave %q", got)
	}
}

func TestOCILayoutNamesEachImage(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "etcd")
	os.WriteFile(bin, []byte("#!/bin/true\n"), 0o755)
	layout, err := newOCILayout(filepath.Join(dir, "oci"), "amd64")
	if err != nil {
		t.Fatal(err)
	}
	if err := layout.add(imageSpec{Name: "registry.k8s.io/etcd:3.7.0-0",
		Files: []layerEntry{{Path: "usr/local/bin/etcd", Mode: 0o755, From: bin}}}); err != nil {
		t.Fatal(err)
	}
	if err := layout.finish(); err != nil {
		t.Fatal(err)
	}
	var index struct {
		Manifests []descriptor
	}
	b, _ := os.ReadFile(filepath.Join(dir, "oci", "index.json"))
	if err := json.Unmarshal(b, &index); err != nil {
		t.Fatal(err)
	}
	if len(index.Manifests) != 1 || index.Manifests[0].Annotations["io.containerd.image.name"] != "registry.k8s.io/etcd:3.7.0-0" ||
		index.Manifests[0].Annotations["org.opencontainers.image.ref.name"] != "3.7.0-0" {
		t.Fatalf("index %s", b)
	}
	for _, d := range index.Manifests {
		if _, err := os.Stat(filepath.Join(dir, "oci", "blobs", "sha256", strings.TrimPrefix(d.Digest, "sha256:"))); err != nil {
			t.Errorf("manifest blob missing: %v", err)
		}
	}
}

func TestNodeImageKeyIsStable(t *testing.T) {
	b := New(fixed.Default, cache.Cache{Dir: t.TempDir()}, nil)
	for _, c := range []string{"kubernetes", "containerd", "runc", "cni-plugins", "cluster-images"} {
		b.keys[c], b.dirs[c] = c+"-key", "/cache/"+c
	}
	b.BaseImage = "dind-cluster/base:k"
	first, err := b.nodeKey()
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 20; i++ {
		if k, _ := b.nodeKey(); k != first {
			t.Fatalf("the node image key changed between calls: %s, then %s", first, k)
		}
	}
	b.keys["runc"] = "other"
	if k, _ := b.nodeKey(); k == first {
		t.Error("a new runc does not change the node image key")
	}
}

func TestAFullDiskIsRefusedWithAdvice(t *testing.T) {
	spaceNeeded["huge"] = 1 << 40 // more GiB than any disk
	defer delete(spaceNeeded, "huge")
	err := checkFree("huge", filepath.Join(t.TempDir(), "not", "yet", "made"))
	if err == nil || !strings.Contains(err.Error(), "DIND_CACHE_DIR") {
		t.Errorf("checkFree: %v; want a refusal saying what to do", err)
	}
	if err := checkFree("pause", t.TempDir()); err != nil {
		t.Errorf("checkFree of a small step: %v", err)
	}
}

// Node files go into a node as one tar: directories first, files with
// their modes, links as links.
func TestNodeFilesAreWrittenAsATar(t *testing.T) {
	var b bytes.Buffer
	err := WriteFiles(&b, []embed.File{
		{Path: "/var/lib/kubelet/pki/pair.pem", Mode: 0o600, Content: []byte("PEM")},
		{Path: "/var/lib/kubelet/pki/current.pem", Mode: 0o777, Link: "/var/lib/kubelet/pki/pair.pem"},
	})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	tr := tar.NewReader(&b)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		content, _ := io.ReadAll(tr)
		got = append(got, fmt.Sprintf("%c %s %o %s%s", h.Typeflag, h.Name, h.Mode, h.Linkname, content))
	}
	want := []string{"5 var/ 755 ", "5 var/lib/ 755 ", "5 var/lib/kubelet/ 755 ", "5 var/lib/kubelet/pki/ 755 ",
		"0 var/lib/kubelet/pki/pair.pem 600 PEM", "2 var/lib/kubelet/pki/current.pem 777 /var/lib/kubelet/pki/pair.pem"}
	if !slices.Equal(got, want) {
		t.Errorf("tar entries:\n%q\nwant\n%q", got, want)
	}
}
