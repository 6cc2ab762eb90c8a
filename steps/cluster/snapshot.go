package cluster

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"
)

// A snapshot is, per node, a gzipped tar of what kubeadm, kubelet and
// dind-cluster wrote into the node's root file system, etcd's data among it
// (compacted: see etcdwal.go). With the node image and the node's volumes,
// which a restore keeps, it makes the node again. It is streamed out of and
// into the nodes, so it works with a remote engine, and kept in the cache
// folder, per engine and cluster, as generations: each a folder of tars and
// a manifest of their checksums, and a link `current` to the one in force,
// replaced in one rename once a new generation is whole on disk.

// snapshotPaths are the node's own files, relative to its root.
var snapshotPaths = []string{"etc/kubernetes", "etc/kubeadm", "etc/dind", "etc/cni/net.d", "etc/machine-id",
	"var/lib/kubelet", "var/lib/etcd", "var/log/kubeadm-init.log", "var/log/kubeadm-join.log"}

// snapshotScript writes the tar on its standard output. etcd is stopped
// meanwhile, so that its files are as a crash would leave them, which etcd
// recovers from. Should the script be killed half-way, a watchdog resumes
// etcd a minute later. tar's status 1 (a file changed as it was read: kubelet
// rewrites its checkpoints) is no failure; etcd's files cannot change.
var snapshotScript = `set -o errexit -o nounset -o pipefail
paths=""
for p in ` + strings.Join(snapshotPaths, " ") + `; do [ -e "/$p" ] && paths="$paths $p"; done
pid=$(pgrep -x etcd || true)
if [ -n "$pid" ]; then
  kill -STOP $pid
  (sleep 60; kill -CONT $pid) >/dev/null 2>&1 &
  trap 'kill -CONT $pid' EXIT
fi
tar -C / --create --exclude='*.sock' --exclude='var/lib/etcd/member/wal/*.tmp' $paths || [ $? -eq 1 ]`

// manifest describes a snapshot generation.
type manifest struct {
	UID        string         `json:"uid"` // the cluster's, as in its record
	Kubernetes string         `json:"kubernetes"`
	NodeImage  string         `json:"nodeImage"`
	Taken      time.Time      `json:"taken"`
	Nodes      []snapshotNode `json:"nodes"`
}

type snapshotNode struct {
	Name   string `json:"name"`
	File   string `json:"file"`
	SHA256 string `json:"sha256"`
}

const (
	manifestFile = "manifest.json"
	currentLink  = "current"
)

// Snapshot is the snapshot of a cluster found in the cache: verified, or
// the reason it cannot be used.
type Snapshot struct {
	Dir      string // the generation in force
	Manifest manifest
	Problem  string
}

// Verified tells whether the snapshot can be restored.
func (s Snapshot) Verified() bool { return s.Problem == "" && s.Dir != "" }

// File is node name's tar.
func (s Snapshot) File(name string) string {
	for _, n := range s.Manifest.Nodes {
		if n.Name == name {
			return filepath.Join(s.Dir, n.File)
		}
	}
	return ""
}

// snapshotRoot holds the cluster's snapshot generations on an engine.
func (c *Cluster) snapshotRoot(engineID string) string {
	return filepath.Join(c.Cfg.CacheDir, "snapshots", engineID, c.Cfg.ClusterName())
}

// verifySnapshot finds the snapshot in force and checks that it is whole,
// unchanged, and of the cluster of record.
func (c *Cluster) verifySnapshot(engineID string, record *Record) Snapshot {
	root := c.snapshotRoot(engineID)
	target, err := os.Readlink(filepath.Join(root, currentLink))
	if err != nil {
		return Snapshot{Problem: "no snapshot in " + root}
	}
	s := Snapshot{Dir: filepath.Join(root, target)}
	data, err := os.ReadFile(filepath.Join(s.Dir, manifestFile))
	if err == nil {
		err = json.Unmarshal(data, &s.Manifest)
	}
	switch {
	case err != nil:
		s.Problem = fmt.Sprintf("its manifest %s cannot be read: %v", filepath.Join(s.Dir, manifestFile), err)
	case s.Manifest.UID != record.UID:
		s.Problem = "the snapshot in " + root + " is of another cluster of the same name"
	default:
		for _, n := range nodesUpTo(c.Cfg, record.Workers) {
			if s.File(n.Name) == "" {
				s.Problem = fmt.Sprintf("the snapshot in %s lacks node %s", root, n.Name)
				return s
			}
		}
		for _, n := range s.Manifest.Nodes {
			if sum, err := fileSHA256(filepath.Join(s.Dir, n.File)); err != nil || sum != n.SHA256 {
				s.Problem = fmt.Sprintf("%s is damaged or missing", filepath.Join(s.Dir, n.File))
				break
			}
		}
	}
	return s
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// takeSnapshot keeps the state of nodes as a new generation and puts it in
// force once every part of it is on disk.
func (c *Cluster) takeSnapshot(ctx context.Context, engineID string, record Record, nodes []Node) error {
	root := c.snapshotRoot(engineID)
	if err := os.MkdirAll(root, 0o755); err != nil {
		return err
	}
	gen, err := os.MkdirTemp(root, "gen-")
	if err != nil {
		return err
	}
	m := manifest{UID: record.UID, Kubernetes: record.Kubernetes, NodeImage: record.NodeImage, Taken: time.Now().UTC()}
	m.Nodes = make([]snapshotNode, len(nodes))
	g, gctx := errgroup.WithContext(ctx)
	for i, n := range nodes {
		g.Go(func() error {
			sum, err := c.snapshotNode(gctx, n, filepath.Join(gen, n.Name+".tar.gz"))
			m.Nodes[i] = snapshotNode{Name: n.Name, File: n.Name + ".tar.gz", SHA256: sum}
			return err
		})
	}
	err = g.Wait()
	if err == nil {
		err = writeSynced(filepath.Join(gen, manifestFile), func(w io.Writer) error {
			return json.NewEncoder(w).Encode(m)
		})
	}
	if err == nil {
		err = syncDir(gen)
	}
	if err == nil {
		err = replaceLink(root, currentLink, filepath.Base(gen))
	}
	if err != nil {
		os.RemoveAll(gen)
		return err
	}
	removeOldGenerations(root, filepath.Base(gen))
	return nil
}

// snapshotNode streams node n's files into path, synced, and returns their
// checksum.
func (c *Cluster) snapshotNode(ctx context.Context, n Node, path string) (string, error) {
	h := sha256.New()
	err := writeSynced(path, func(w io.Writer) error {
		pr, pw := io.Pipe()
		done := make(chan error, 1)
		go func() {
			err := compactSnapshot(io.MultiWriter(w, h), pr)
			pr.CloseWithError(err)
			done <- err
		}()
		err := c.Docker.Exec(ctx, n.Name, []string{"bash", "-c", snapshotScript}, nil, pw)
		pw.CloseWithError(err)
		return errors.Join(err, <-done)
	})
	if err != nil {
		return "", fmt.Errorf("snapshot of %s: %w", n.Name, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// writeSynced writes a new file with write and syncs it to disk.
func writeSynced(path string, write func(io.Writer) error) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if err := write(f); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// replaceLink points root/name at target in one rename.
func replaceLink(root, name, target string) error {
	tmp := filepath.Join(root, name+".new-"+randomHex(4))
	if err := os.Symlink(target, tmp); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(root, name)); err != nil {
		os.Remove(tmp)
		return err
	}
	return syncDir(root)
}

// removeOldGenerations removes every entry of root but the generation in
// force and its link: older generations, and what a snapshot killed
// half-way or an older dind-cluster left.
func removeOldGenerations(root, keep string) {
	entries, _ := os.ReadDir(root)
	for _, e := range entries {
		if e.Name() != keep && e.Name() != currentLink {
			os.RemoveAll(filepath.Join(root, e.Name()))
		}
	}
}

// removeSnapshot forgets the cluster's snapshot on an engine.
func (c *Cluster) removeSnapshot(engineID string) error {
	return os.RemoveAll(c.snapshotRoot(engineID))
}

// stagedName is the name of node n's container while a restore prepares it.
func stagedName(n Node) string { return n.Name + stagedSuffix }

const stagedSuffix = "-restoring"
