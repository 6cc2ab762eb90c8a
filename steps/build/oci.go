package build

import (
	"archive/tar"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/dind-cluster/dind-cluster/embed"
)

// An ociLayout is a folder in the OCI image layout holding several images,
// each named by an io.containerd.image.name annotation so that
// `ctr images import` gives them the names kubeadm asks for.
type ociLayout struct {
	dir       string
	arch      string
	manifests []descriptor
}

type descriptor struct {
	MediaType   string            `json:"mediaType"`
	Digest      string            `json:"digest"`
	Size        int64             `json:"size"`
	Annotations map[string]string `json:"annotations,omitempty"`
	Platform    *platform         `json:"platform,omitempty"`
}

type platform struct {
	Architecture string `json:"architecture"`
	OS           string `json:"os"`
}

// layerEntry is a file of a layer.
type layerEntry struct {
	Path    string // inside the image, without leading slash
	Mode    int64
	From    string // a file on disk to copy, or
	Content []byte // the file's content, or
	Link    string // the target of a symbolic link, or
	Dir     bool   // a directory
}

// imageSpec is one image to add.
type imageSpec struct {
	Name    string // full reference, e.g. registry.k8s.io/kube-apiserver:v1.37.2
	BaseTar string // optional: a root filesystem tar as the first layer
	Files   []layerEntry
	// MoreFiles, when set, are a further layer, so that images sharing
	// Files share its blob.
	MoreFiles  []layerEntry
	Entrypoint []string
	Cmd        []string
	Labels     map[string]string
}

const (
	mediaManifest = "application/vnd.oci.image.manifest.v1+json"
	mediaConfig   = "application/vnd.oci.image.config.v1+json"
	mediaLayer    = "application/vnd.oci.image.layer.v1.tar"
	defaultPath   = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
)

// epoch makes layers reproducible: the same inputs give the same digests.
var epoch = time.Unix(0, 0)

func newOCILayout(dir, arch string) (*ociLayout, error) {
	if err := os.MkdirAll(filepath.Join(dir, "blobs", "sha256"), 0o755); err != nil {
		return nil, err
	}
	return &ociLayout{dir: dir, arch: arch}, nil
}

// add writes the image's layers, config and manifest as blobs.
func (o *ociLayout) add(img imageSpec) error {
	var layers []descriptor
	if img.BaseTar != "" {
		d, err := o.blobFrom(func(w io.Writer) error { return copyRootfsTar(w, img.BaseTar) }, mediaLayer)
		if err != nil {
			return fmt.Errorf("image %s: %w", img.Name, err)
		}
		layers = append(layers, d)
	}
	d, err := o.blobFrom(func(w io.Writer) error { return writeLayer(w, img.Files) }, mediaLayer)
	if err != nil {
		return fmt.Errorf("image %s: %w", img.Name, err)
	}
	layers = append(layers, d)
	if len(img.MoreFiles) > 0 {
		d, err := o.blobFrom(func(w io.Writer) error { return writeLayer(w, img.MoreFiles) }, mediaLayer)
		if err != nil {
			return fmt.Errorf("image %s: %w", img.Name, err)
		}
		layers = append(layers, d)
	}
	var diffIDs []string
	for _, l := range layers {
		diffIDs = append(diffIDs, l.Digest) // uncompressed layers: digest == diff ID
	}
	runConfig := map[string]any{"Env": []string{defaultPath}, "Entrypoint": img.Entrypoint}
	if len(img.Cmd) > 0 {
		runConfig["Cmd"] = img.Cmd
	}
	if len(img.Labels) > 0 {
		runConfig["Labels"] = img.Labels
	}
	config := map[string]any{
		"architecture": o.arch,
		"os":           "linux",
		"created":      epoch.Format(time.RFC3339),
		"config":       runConfig,
		"rootfs":       map[string]any{"type": "layers", "diff_ids": diffIDs},
	}
	cfg, err := o.blobJSON(config, mediaConfig)
	if err != nil {
		return err
	}
	manifest, err := o.blobJSON(map[string]any{
		"schemaVersion": 2, "mediaType": mediaManifest, "config": cfg, "layers": layers,
	}, mediaManifest)
	if err != nil {
		return err
	}
	tag := img.Name[strings.LastIndex(img.Name, ":")+1:]
	manifest.Annotations = map[string]string{
		"io.containerd.image.name":          img.Name,
		"org.opencontainers.image.ref.name": tag,
	}
	manifest.Platform = &platform{Architecture: o.arch, OS: "linux"}
	o.manifests = append(o.manifests, manifest)
	return nil
}

// finish writes index.json and oci-layout.
func (o *ociLayout) finish() error {
	index, err := json.Marshal(map[string]any{"schemaVersion": 2, "manifests": o.manifests})
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(o.dir, "index.json"), index, 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(o.dir, "oci-layout"), []byte(`{"imageLayoutVersion":"1.0.0"}`), 0o644)
}

func (o *ociLayout) blobJSON(v any, media string) (descriptor, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return descriptor{}, err
	}
	return o.blobFrom(func(w io.Writer) error { _, err := w.Write(b); return err }, media)
}

// blobFrom stores what write produces under its digest.
func (o *ociLayout) blobFrom(write func(io.Writer) error, media string) (descriptor, error) {
	tmp, err := os.CreateTemp(filepath.Join(o.dir, "blobs"), "blob-")
	if err != nil {
		return descriptor{}, err
	}
	defer os.Remove(tmp.Name())
	h := sha256.New()
	counter := &countingWriter{}
	if err := write(io.MultiWriter(tmp, h, counter)); err != nil {
		tmp.Close()
		return descriptor{}, err
	}
	if err := tmp.Close(); err != nil {
		return descriptor{}, err
	}
	sum := hex.EncodeToString(h.Sum(nil))
	if err := os.Rename(tmp.Name(), filepath.Join(o.dir, "blobs", "sha256", sum)); err != nil {
		return descriptor{}, err
	}
	return descriptor{MediaType: media, Digest: "sha256:" + sum, Size: counter.n}, nil
}

type countingWriter struct{ n int64 }

func (c *countingWriter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

// writeLayer writes a layer tar of the given entries, with the directories
// leading to each file.
// WriteFiles writes files, paths absolute, as a tar rooted at /.
func WriteFiles(w io.Writer, files []embed.File) error {
	entries := make([]layerEntry, len(files))
	for i, f := range files {
		entries[i] = layerEntry{Path: strings.TrimPrefix(f.Path, "/"), Mode: f.Mode, Content: f.Content, Link: f.Link}
	}
	return writeLayer(w, entries)
}

func writeLayer(w io.Writer, entries []layerEntry) error {
	tw := tar.NewWriter(w)
	seen := map[string]bool{}
	dir := func(p string) error {
		if p == "" || p == "." || seen[p] {
			return nil
		}
		seen[p] = true
		return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: p + "/", Mode: 0o755, ModTime: epoch})
	}
	for _, e := range entries {
		parts := strings.Split(e.Path, "/")
		for i := 1; i < len(parts); i++ {
			if err := dir(strings.Join(parts[:i], "/")); err != nil {
				return err
			}
		}
		if e.Dir {
			seen[e.Path] = true
			if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: e.Path + "/", Mode: e.Mode, ModTime: epoch}); err != nil {
				return err
			}
			continue
		}
		var err error
		switch {
		case e.Link != "":
			err = tw.WriteHeader(&tar.Header{Typeflag: tar.TypeSymlink, Name: e.Path, Linkname: e.Link, Mode: 0o777, ModTime: epoch})
		case e.From == "":
			if err = tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: e.Path, Mode: e.Mode, Size: int64(len(e.Content)), ModTime: epoch}); err == nil {
				_, err = tw.Write(e.Content)
			}
		default:
			err = addFile(tw, e.Path, e.Mode, e.From)
		}
		if err != nil {
			return err
		}
	}
	return tw.Close()
}

func addFile(tw *tar.Writer, name string, mode int64, from string) error {
	f, err := os.Open(from)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Size: st.Size(), ModTime: epoch}); err != nil {
		return err
	}
	_, err = io.Copy(tw, f)
	return err
}

// copyRootfsTar copies a root filesystem tar into a layer, leaving out
// device nodes, which a container runtime provides itself.
func copyRootfsTar(w io.Writer, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	tr := tar.NewReader(f)
	tw := tar.NewWriter(w)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("reading %s: %w", path, err)
		}
		if h.Typeflag == tar.TypeChar || h.Typeflag == tar.TypeBlock {
			continue
		}
		h.Name = strings.TrimPrefix(h.Name, "./")
		if h.Name == "" {
			continue
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if _, err := io.Copy(tw, tr); err != nil {
			return err
		}
	}
	return tw.Close()
}

// tarDir streams the folder dir as a tar, paths relative to it.
func tarDir(w io.Writer, dir string) error {
	tw := tar.NewWriter(w)
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil || rel == "." {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		h, err := tar.FileInfoHeader(info, "")
		if err != nil {
			return err
		}
		h.Name = filepath.ToSlash(rel)
		if d.IsDir() {
			h.Name += "/"
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if d.Type().IsRegular() {
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			defer f.Close()
			_, err = io.Copy(tw, f)
			return err
		}
		return nil
	})
	if err != nil {
		return err
	}
	return tw.Close()
}
