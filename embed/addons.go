package embed

import (
	"bytes"
	"embed"
	"fmt"
	"text/template"
)

//go:embed addons
var addonFiles embed.FS

// AddonValues are what the addons' manifests are rendered from.
type AddonValues struct {
	ProvisionerImage string // local-path-provisioner
	HelperImage      string // the shell its helper pods run
	StoragePath      string // where on a node the volumes' folders go
	MetricsImage     string // metrics-server

	// Where the addons reach the API server: its own address, not the
	// kubernetes Service, which works only once kube-proxy has written its
	// rules on the pod's node.
	APIServerHost string
	APIServerPort int
}

// Addon manifests, by name.
const (
	AddonStorage = "local-path"
	AddonMetrics = "metrics-server"
)

// AddonManifest renders the manifest of addon name.
func AddonManifest(name string, v AddonValues) ([]byte, error) {
	file := "addons/" + name + ".yaml.tmpl"
	content, err := addonFiles.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("no addon %s: %w", name, err)
	}
	t, err := template.New(name).Option("missingkey=error").Parse(string(content))
	if err != nil {
		return nil, fmt.Errorf("template %s: %w", file, err)
	}
	var b bytes.Buffer
	if err := t.Execute(&b, v); err != nil {
		return nil, fmt.Errorf("template %s: %w", file, err)
	}
	return b.Bytes(), nil
}
