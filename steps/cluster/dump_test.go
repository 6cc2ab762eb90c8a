package cluster

import (
	"github.com/dind-cluster/dind-cluster/steps/docker"
	"reflect"
	"testing"
)

func TestPodContainersAreReadFromTheListing(t *testing.T) {
	listing := "kube-system coredns-1 coredns:0\nkube-system etcd-m etcd:3\ndefault two a:0 b:1\nkube-system pending\n"
	want := []podContainer{
		{"kube-system", "coredns-1", "coredns", 0},
		{"kube-system", "etcd-m", "etcd", 3},
		{"default", "two", "a", 0},
		{"default", "two", "b", 1},
	}
	if got := podContainers(listing); !reflect.DeepEqual(got, want) {
		t.Errorf("podContainers:\n%+v\nwant\n%+v", got, want)
	}
}

func TestStoppedNodeIsReportedNotEntered(t *testing.T) {
	sections := New(nil, nil).nodeSections(docker.Container{Name: "kube-node-1", State: "exited"})
	if len(sections) != 2 || sections[0].name != "kube-node-1/state.txt" || sections[1].name != "kube-node-1/docker-logs.txt" {
		t.Errorf("sections of a stopped node: %+v", sections)
	}
	text, err := sections[0].run(nil)
	if err != nil || text != "node kube-node-1 is exited: nothing could be collected inside it\n" {
		t.Errorf("state section %q, %v", text, err)
	}
}
