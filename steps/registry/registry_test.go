package registry

import (
	"strings"
	"testing"
)

func TestImagesAreKeptUnderTheirFullName(t *testing.T) {
	r := Registry{Port: 5001}
	for image, want := range map[string]string{
		"busybox":                             "localhost:5001/docker.io/library/busybox",
		"busybox:1.37":                        "localhost:5001/docker.io/library/busybox:1.37",
		"user/app:v1":                         "localhost:5001/docker.io/user/app:v1",
		"registry.k8s.io/pause:3.10.2":        "localhost:5001/registry.k8s.io/pause:3.10.2",
		"registry.k8s.io/e2e-test-images/x:1": "localhost:5001/registry.k8s.io/e2e-test-images/x:1",
		"index.docker.io/library/nginx":       "localhost:5001/docker.io/library/nginx",
		"myhost:5000/team/app":                "localhost:5001/myhost:5000/team/app",
	} {
		if got := r.MirrorName(image); got != want {
			t.Errorf("MirrorName(%q) = %q; want %q", image, got, want)
		}
	}
}

// Nodes find the registry as the Docker host names it, and in mirror mode
// ask it first for the mirrored registries, under their names.
func TestNodesAreToldWhereTheRegistryIs(t *testing.T) {
	files, err := Registry{Port: 5002}.NodeFiles(false)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 1 || files[0].Path != "/etc/containerd/certs.d/localhost:5002/hosts.toml" ||
		!strings.Contains(string(files[0].Content), `server = "http://dind-registry:5000"`) {
		t.Fatalf("node files without mirror: %+v", files)
	}
	files, err = Registry{Port: 5002}.NodeFiles(true)
	if err != nil {
		t.Fatal(err)
	}
	byPath := map[string]string{}
	for _, f := range files {
		byPath[f.Path] = string(f.Content)
	}
	k8s := byPath["/etc/containerd/certs.d/registry.k8s.io/hosts.toml"]
	if !strings.Contains(k8s, `server = "https://registry.k8s.io"`) ||
		!strings.Contains(k8s, `[host."http://dind-registry:5000/v2/registry.k8s.io"]`) || !strings.Contains(k8s, "override_path = true") {
		t.Errorf("mirror of registry.k8s.io:\n%s", k8s)
	}
	if !strings.Contains(byPath["/etc/containerd/certs.d/docker.io/hosts.toml"], `/v2/docker.io"]`) {
		t.Errorf("no mirror of docker.io: %v", byPath)
	}
	cm, err := Registry{Port: 5002}.ConfigMap()
	if err != nil || !strings.Contains(string(cm), `host: "localhost:5002"`) || !strings.Contains(string(cm), "namespace: kube-public") {
		t.Errorf("ConfigMap: %v\n%s", err, cm)
	}
}
