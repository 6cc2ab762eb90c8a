package cluster

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/dind-cluster/dind-cluster/embed"
	"github.com/dind-cluster/dind-cluster/steps"
	"github.com/dind-cluster/dind-cluster/steps/build"
)

const stepAddons = "addons"

// addonManifests are the manifests of the addons turned on, in the order
// they are applied.
func addonManifests(storage, metrics bool, v embed.AddonValues) ([][]byte, error) {
	var names []string
	if storage {
		names = append(names, embed.AddonStorage)
	}
	if metrics {
		names = append(names, embed.AddonMetrics)
	}
	var out [][]byte
	for _, n := range names {
		m, err := embed.AddonManifest(n, v)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}

// addonsStep deploys the addons into a new cluster once kubeadm init is
// done, from the master itself, so that it needs no route from this host
// to the API server. It does not wait for them to run: their images are
// preloaded, and they start while the workers join.
func (r *run) addonsStep() []steps.Step {
	v := build.AddonImages()
	v.APIServerHost, v.APIServerPort = node(r.Cfg, 0).IP, apiServerPort
	manifests, err := addonManifests(r.Cfg.Addons.Storage, r.Cfg.Addons.Metrics, v)
	if len(manifests) == 0 && err == nil {
		return nil
	}
	master := r.decision.Nodes[0].Name
	return []steps.Step{{Name: stepAddons, Needs: []string{stepInit}, Run: func(ctx context.Context) error {
		if err != nil {
			return err
		}
		apply := []string{"kubectl", "--kubeconfig=/etc/kubernetes/admin.conf", "apply", "--server-side", "--filename=-"}
		return steps.Poll(ctx, time.Minute, "the addons", func() error {
			var out bytes.Buffer
			if err := r.Docker.Exec(ctx, master, apply, bytes.NewReader(bytes.Join(manifests, []byte("\n---\n"))), &out); err != nil {
				return fmt.Errorf("deploying the addons (DIND_STORAGE, DIND_METRICS): %w\n%s", err, out.String())
			}
			return nil
		})
	}}}
}
