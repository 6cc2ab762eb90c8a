package cluster

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/dind-cluster/dind-cluster/steps/build"
)

type object struct {
	Kind     string
	Metadata struct {
		Name        string
		Annotations map[string]string
	}
	Spec struct {
		Template struct {
			Spec struct {
				Containers []struct{ Image string }
			}
		}
	}
	Data map[string]string
}

func objects(t *testing.T, manifests [][]byte) []object {
	t.Helper()
	var out []object
	for _, m := range manifests {
		for _, doc := range bytes.Split(m, []byte("\n---\n")) {
			var o object
			if err := yaml.Unmarshal(doc, &o); err != nil {
				t.Fatalf("%v in:\n%s", err, doc)
			}
			out = append(out, o)
		}
	}
	return out
}

// Each addon's manifest deploys the image the node image preloads, and
// storage makes the default StorageClass; off means no manifest at all.
func TestAddonManifests(t *testing.T) {
	values := build.AddonImages()
	values.APIServerHost, values.APIServerPort = "10.192.0.2", 6443
	none, err := addonManifests(false, false, values)
	if err != nil || len(none) != 0 {
		t.Fatalf("both off: %d manifests, %v", len(none), err)
	}
	all, err := addonManifests(true, true, values)
	if err != nil {
		t.Fatal(err)
	}
	names := build.AddonImages()
	var images []string
	defaultClass := false
	for _, o := range objects(t, all) {
		for _, c := range o.Spec.Template.Spec.Containers {
			images = append(images, c.Image)
		}
		if o.Kind == "StorageClass" && o.Metadata.Annotations["storageclass.kubernetes.io/is-default-class"] == "true" {
			defaultClass = true
		}
		if o.Kind == "ConfigMap" && !strings.Contains(o.Data["helperPod.yaml"], "image: "+names.HelperImage) {
			t.Errorf("the helper pod does not run %s:\n%s", names.HelperImage, o.Data["helperPod.yaml"])
		}
	}
	slices.Sort(images)
	if want := []string{names.ProvisionerImage, names.MetricsImage}; !slices.Equal(images, slices.Sorted(slices.Values(want))) {
		t.Errorf("deployments run %v, want %v", images, want)
	}
	if !defaultClass {
		t.Error("no default StorageClass")
	}
}
