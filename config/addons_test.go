package config

import (
	"reflect"
	"strings"
	"testing"
)

func TestAddonDefaults(t *testing.T) {
	c := mustLoad(t, nil)
	if !c.Addons.Storage || !c.Addons.Metrics {
		t.Errorf("storage and metrics are on by default, got %+v", c.Addons)
	}
	if c.Addons.ExtraPorts != nil || c.Addons.Master != (NodeSize{}) || c.Addons.Worker != (NodeSize{}) {
		t.Errorf("no ports and no limits by default, got %+v", c.Addons)
	}
	c = mustLoad(t, map[string]string{"DIND_STORAGE": "off", "DIND_METRICS": "no"})
	if c.Addons.Storage || c.Addons.Metrics {
		t.Errorf("off turns them off, got %+v", c.Addons)
	}
}

func TestExtraPortsAndSizes(t *testing.T) {
	c := mustLoad(t, map[string]string{
		"EXTRA_PORTS":      "8080:30080, 127.0.0.1:8443:30443,[::1]:5353:53/udp",
		"DIND_MASTER_CPUS": "1.5", "DIND_MASTER_MEMORY": "2g",
		"DIND_NODE_CPUS": "1", "DIND_NODE_MEMORY": "1536m",
	})
	var publish []string
	for _, p := range c.Addons.ExtraPorts {
		publish = append(publish, p.Publish())
	}
	if want := []string{"8080:30080/tcp", "127.0.0.1:8443:30443/tcp", "[::1]:5353:53/udp"}; !reflect.DeepEqual(publish, want) {
		t.Errorf("publish %v, want %v", publish, want)
	}
	if want := (NodeSize{CPUs: 1.5, MemoryBytes: 2 << 30}); c.Addons.Size(0) != want {
		t.Errorf("master %+v, want %+v", c.Addons.Size(0), want)
	}
	if want := (NodeSize{CPUs: 1, MemoryBytes: 1536 << 20}); c.Addons.Size(2) != want {
		t.Errorf("worker %+v, want %+v", c.Addons.Size(2), want)
	}
}

func TestBadAddonKnobs(t *testing.T) {
	cases := []struct {
		vars map[string]string
		want string
	}{
		{map[string]string{"DIND_STORAGE": "maybe"}, "DIND_STORAGE=maybe: must be on or off"},
		{map[string]string{"EXTRA_PORTS": "8080"}, `EXTRA_PORTS=8080: "8080" is not a port mapping: use a comma-separated list of HOST_PORT:NODE_PORT`},
		{map[string]string{"EXTRA_PORTS": "8080:30080/sctp"}, "is not a port mapping"},
		{map[string]string{"EXTRA_PORTS": "70000:80"}, "ports are numbers from 1 to 65535"},
		{map[string]string{"EXTRA_PORTS": "8080:80,8080:81"}, "host port 8080/tcp is given twice"},
		{map[string]string{"EXTRA_PORTS": "6443:80", "APISERVER_PORT": "6443"}, "host port 6443 is APISERVER_PORT's"},
		{map[string]string{"DIND_NODE_CPUS": "two"}, "DIND_NODE_CPUS=two: must be a number of CPUs of at least 0.1"},
		{map[string]string{"DIND_MASTER_CPUS": "0.01"}, "DIND_MASTER_CPUS=0.01: must be a number of CPUs"},
		{map[string]string{"DIND_NODE_MEMORY": "100m"}, "DIND_NODE_MEMORY=100m: must be a memory size of at least 512m"},
		{map[string]string{"DIND_MASTER_MEMORY": "2t"}, "DIND_MASTER_MEMORY=2t: must be a memory size"},
	}
	for _, tc := range cases {
		_, err := load(tc.vars)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Load(%v): %v, want an error with %q", tc.vars, err, tc.want)
		}
	}
}

// A made cluster keeps its ports and sizes: restore makes its containers
// again alike, and a different value is refused, naming the knob.
func TestClusterKeepsPortsAndSizes(t *testing.T) {
	made := mustLoad(t, map[string]string{"EXTRA_PORTS": "8080:30080", "DIND_NODE_MEMORY": "1g"})
	now := mustLoad(t, nil)
	kept, err := now.Keeping("dind", made.Shape())
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(kept.Addons.ExtraPorts, made.Addons.ExtraPorts) || kept.Addons.Worker != made.Addons.Worker {
		t.Errorf("kept %+v, want the cluster's %+v", kept.Addons, made.Addons)
	}
	other := mustLoad(t, map[string]string{"EXTRA_PORTS": "9090:30080"})
	if _, err := other.Keeping("dind", made.Shape()); err == nil || !strings.Contains(err.Error(), "EXTRA_PORTS=9090:30080: cluster dind was made with 8080:30080") {
		t.Errorf("Keeping with other ports: %v", err)
	}
}
