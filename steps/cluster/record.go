package cluster

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"

	"github.com/dind-cluster/dind-cluster/embed"
	"github.com/dind-cluster/dind-cluster/steps/build"
	"github.com/dind-cluster/dind-cluster/steps/docker"
	"github.com/dind-cluster/dind-cluster/steps/shell"
)

// Record is what a completed first up leaves behind: the cluster is the
// user's from then on, and no up removes it on its own. It is kept as the
// labels of an empty volume, which every engine lists without running
// anything, and which clean removes with the rest; and, since a volume no
// container uses is what `docker volume prune` removes, as a file in the
// master too.
type Record struct {
	UID        string `json:"uid"` // tells this cluster from an earlier one of the same name
	Kubernetes string `json:"kubernetes"`
	NodeImage  string `json:"nodeImage"`
	Workers    int    `json:"workers"` // NUM_NODES it was made with
	CA         string `json:"ca"`      // fingerprint of its CA certificate
	// Shape are the settings its networks were made with (config.Shape).
	Shape map[string]string `json:"shape"`
	// NetworkID is the number in its management network, which a network
	// made again must have.
	NetworkID int `json:"networkID"`
}

// recordFile is the record's copy in the master.
const recordFile = "/etc/dind/record.json"

const (
	labelRecord     = "dind-cluster.record"
	labelUID        = "dind-cluster.uid"
	labelKubernetes = "dind-cluster.kubernetes"
	labelWorkers    = "dind-cluster.workers"
	labelCA         = "dind-cluster.ca"
	labelShape      = "dind-cluster.shape"
)

// recordVolume names the cluster's record.
func (c *Cluster) recordVolume() string { return "kubeadm-dind-record" + c.Cfg.Suffix() }

// writeRecord marks the cluster complete.
func (c *Cluster) writeRecord(ctx context.Context, r Record) error {
	return c.Docker.CreateVolume(ctx, c.recordVolume(), c.labels(docker.Labels{
		labelRecord: "1", labelUID: r.UID, labelKubernetes: r.Kubernetes, build.NodeImageLabel: r.NodeImage,
		labelWorkers: strconv.Itoa(r.Workers), labelCA: r.CA, labelShape: encodeShape(r.Shape),
		labelNetworkID: strconv.Itoa(r.NetworkID),
	}))
}

// writeRecordInMaster places the record's copy in the master.
func (c *Cluster) writeRecordInMaster(ctx context.Context, r Record) error {
	data, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return copyFiles(ctx, c.Docker, c.Cfg.MasterName(), []embed.File{{Path: recordFile, Mode: 0o644, Content: data}})
}

// recordInMaster reads the record's copy from master, a container running
// or not; nil when it holds none (its first up did not complete).
func (c *Cluster) recordInMaster(ctx context.Context, master string) (*Record, error) {
	var b bytes.Buffer
	err := c.Docker.CopyOut(ctx, master, recordFile, &b)
	if errors.Is(err, docker.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	tr := tar.NewReader(&b)
	if _, err := tr.Next(); err != nil {
		return nil, fmt.Errorf("reading %s of %s: %w", recordFile, master, err)
	}
	r := &Record{}
	if err := json.NewDecoder(tr).Decode(r); err != nil || r.UID == "" || r.NodeImage == "" {
		return nil, fmt.Errorf("%s of %s does not hold a dind-cluster record (%v): run clean", recordFile, master, err)
	}
	return r, nil
}

// recordFrom reads a record from its volume's labels.
func recordFrom(v docker.Volume) (*Record, error) {
	workers, err := strconv.Atoi(v.Labels[labelWorkers])
	if err != nil || v.Labels[labelUID] == "" || v.Labels[build.NodeImageLabel] == "" {
		return nil, fmt.Errorf("volume %s does not hold a dind-cluster record (labels %v): remove it, or run clean", v.Name, v.Labels)
	}
	shape, err := url.ParseQuery(v.Labels[labelShape])
	if err != nil {
		return nil, fmt.Errorf("volume %s holds a damaged record (%s=%q): run clean", v.Name, labelShape, v.Labels[labelShape])
	}
	networkID, _ := strconv.Atoi(v.Labels[labelNetworkID]) // 0 in records made before it
	r := &Record{UID: v.Labels[labelUID], Kubernetes: v.Labels[labelKubernetes], NodeImage: v.Labels[build.NodeImageLabel],
		Workers: workers, CA: v.Labels[labelCA], Shape: map[string]string{}, NetworkID: networkID}
	for k := range shape {
		r.Shape[k] = shape.Get(k)
	}
	return r, nil
}

// encodeShape spells settings as one label value: query-escaped, so that no
// comma of a CIDR pair splits Docker's label listing.
func encodeShape(shape map[string]string) string {
	v := url.Values{}
	for k, s := range shape {
		v.Set(k, s)
	}
	return v.Encode()
}

// fingerprint identifies a PEM certificate.
func fingerprint(certPEM []byte) string {
	block, _ := pem.Decode(certPEM)
	if block == nil {
		return ""
	}
	sum := sha256.Sum256(block.Bytes)
	return hex.EncodeToString(sum[:16])
}

// creator identifies this process among all processes that ever ran on this
// host: host name, PID and the PID's start time, which a reused PID does
// not share.
func creator() string {
	host, _ := os.Hostname()
	pid := os.Getpid()
	return fmt.Sprintf("%s/%d/%s", host, pid, shell.ProcessStart(pid))
}

// creatorAlive tells whether the process an object's creator label names
// still runs; unknown when it ran on another host, which cannot be asked.
func creatorAlive(label string) (alive, known bool) {
	f := strings.Split(label, "/")
	if len(f) != 3 {
		return false, false
	}
	host, _ := os.Hostname()
	if f[0] != host {
		return false, false
	}
	pid, err := strconv.Atoi(f[1])
	if err != nil {
		return false, false
	}
	start := shell.ProcessStart(pid)
	return start != "" && start == f[2], true
}
