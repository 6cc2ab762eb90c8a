package fixed

import (
	"strings"
	"testing"
)

func TestLookupAcceptsTheUsualSpellings(t *testing.T) {
	for in, want := range map[string]string{
		"v1.37.2": "v1.37.2", "1.37.2": "v1.37.2", "v1.37": "v1.37.2", "1.36": "v1.36.3", " v1.35.4 ": "v1.35.4",
	} {
		s, err := Lookup(in)
		if err != nil || s.Kubernetes != want {
			t.Errorf("Lookup(%q) = %s, %v; want %s", in, s.Kubernetes, err, want)
		}
	}
	for _, bad := range []string{"v1.20", "1.37.1", "latest", "v2.0"} {
		_, err := Lookup(bad)
		if err == nil || !strings.Contains(err.Error(), "v1.37.2, v1.36.3, v1.35.4") {
			t.Errorf("Lookup(%q): %v; want an error listing the pinned versions", bad, err)
		}
	}
}

// The etcd, CoreDNS and pause versions are those kubeadm of each release
// asks for (cmd/kubeadm/app/constants: DefaultEtcdVersion, CoreDNSVersion,
// PauseVersion).
func TestSetsPinWhatKubeadmAsksFor(t *testing.T) {
	want := map[string]string{
		"v1.37.2": "etcd 3.7.0-0 v3.7.0, coredns v1.14.6, pause 3.10.2",
		"v1.36.3": "etcd 3.6.8-0 v3.6.8, coredns v1.14.2, pause 3.10.2",
		"v1.35.4": "etcd 3.6.6-0 v3.6.6, coredns v1.13.1, pause 3.10.1",
	}
	if len(Sets) != len(want) || Default.Kubernetes != "v1.37.2" {
		t.Fatalf("%d sets with default %s; want the three newest minors with v1.37.2 the default", len(Sets), Default.Kubernetes)
	}
	for _, s := range Sets {
		got := "etcd " + s.EtcdImage + " " + s.Etcd + ", coredns " + s.CoreDNS + ", pause " + s.Pause
		if got != want[s.Kubernetes] {
			t.Errorf("%s: %s, want %s", s.Kubernetes, got, want[s.Kubernetes])
		}
		if !strings.HasPrefix(s.EtcdImage, strings.TrimPrefix(s.Etcd, "v")+"-") {
			t.Errorf("%s: etcd image %s is not built from etcd %s", s.Kubernetes, s.EtcdImage, s.Etcd)
		}
		if s.Containerd == "" || s.Runc == "" || s.CNIPlugins == "" {
			t.Errorf("%s: the node runtime is not pinned", s.Kubernetes)
		}
	}
	if s, _ := Lookup("v1.37.2"); s.StagingVersion() != "v0.37.2" || s.Minor() != "v1.37" {
		t.Errorf("staging %s, minor %s", s.StagingVersion(), s.Minor())
	}
}

func TestEverySetHasE2EPins(t *testing.T) {
	for _, s := range Sets {
		e, err := s.E2E()
		if err != nil {
			t.Error(err)
			continue
		}
		if e.Ginkgo == "" || e.Agnhost == "" || e.BusyBox == "" || e.Nginx == "" {
			t.Errorf("%s: incomplete e2e pins %+v", s.Kubernetes, e)
		}
	}
}
