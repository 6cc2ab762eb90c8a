package docker

import (
	"errors"
	"testing"
)

// What docker says, from its CLI or its daemon, is told apart by kind.
func TestDockersWordsAreClassified(t *testing.T) {
	for text, want := range map[string]error{
		"Error response from daemon: No such container: kube-master":                                                                                           ErrNotFound,
		"Error response from daemon: get kubeadm-dind-x: no such volume":                                                                                       ErrNotFound,
		"Error response from daemon: network kubeadm-dind-net not found":                                                                                       ErrNotFound,
		"Error response from daemon: endpoint dind-registry not found":                                                                                         ErrNotFound,
		"Error: No such object: x":                                                                                                                             ErrNotFound,
		"Error: No public port '6443/tcp' published for kube-master":                                                                                           ErrNotFound,
		"Error response from daemon: Could not find the file /etc/dind/record.json in container kube-master":                                                   ErrNotFound,
		`Error response from daemon: Conflict. The container name "/kube-master" is already in use by container "abc"`:                                         ErrNameInUse,
		"Error response from daemon: network with name kubeadm-dind-net already exists":                                                                        ErrNameInUse,
		"Error response from daemon: driver failed programming external connectivity on endpoint x: Bind for 127.0.0.1:5001 failed: port is already allocated": ErrPortTaken,
		"Error response from daemon: driver failed programming external connectivity on endpoint x: Error starting userland proxy: listen tcp4 127.0.0.1:5001: bind: address already in use": ErrPortTaken,
		"Error response from daemon: Address already in use":                                                ErrAddressTaken,
		"Error response from daemon: remove v: volume is in use - [abc]":                                    ErrInUse,
		"Error response from daemon: error while removing network: network n id x has active endpoints":     ErrInUse,
		"Error response from daemon: Pool overlaps with other one on this address space":                    ErrOverlap,
		"Error response from daemon: cannot remove container: did not receive an exit event":                ErrFrozen,
		"Error response from daemon: removal of container kube-node-2 is already in progress":               errRemovalInProgress,
		"Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?": ErrUnreachable,
	} {
		err := classify("testing", errors.New("exit status 1: "+text))
		if !errors.Is(err, want) {
			t.Errorf("%q classified as %v; want %v", text, err, want)
		}
	}
	if err := classify("testing", errors.New("exit status 1: something else")); errors.Is(err, ErrNotFound) {
		t.Errorf("an unknown failure is classified: %v", err)
	}
	// A command run in a container may say anything: only the engine's own
	// words count.
	if err := classifyExec("running cat", errors.New("exit status 1: cat: /x: No such file or directory; no such container")); errors.Is(err, ErrNotFound) {
		t.Errorf("a command's own stderr was read as docker's: %v", err)
	}
	if err := classifyExec("running cat", errors.New("exit status 1: Error response from daemon: No such container: n")); !errors.Is(err, ErrNotFound) {
		t.Errorf("an exec into a missing container: %v", err)
	}
}
