package cluster

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"time"

	"github.com/dind-cluster/dind-cluster/embed"
	"github.com/dind-cluster/dind-cluster/steps"
	"github.com/dind-cluster/dind-cluster/steps/build"
)

// stepCNI applies the manifest of a pod network add-on that runs as a
// DaemonSet (flannel, kube-router); bridge and ptp need none.
const stepCNI = "cni"

func stepCNIImport(n Node) string { return "cni-import-" + n.Name }

// cniRoutes tells whether the cluster's add-on routes between nodes itself:
// then the controller-manager hands out the nodes' pod subnets, and
// dind-cluster neither routes them nor writes the nodes' CNI configuration.
func (r *run) cniRoutes() bool { return build.CNIRoutes(r.Cfg.CNIPlugin) }

// cniValues are what the add-on's manifest and the controller-manager's
// pod subnet allocation are rendered from.
func (r *run) cniValues() embed.CNIValues {
	if !r.cniRoutes() {
		return embed.CNIValues{}
	}
	v := embed.CNIValues{Image: build.CNIImage(r.Cfg.CNIPlugin), AllocateNodeCIDRs: true}
	subnets := r.Cfg.PodSubnets(0)
	for i, cidr := range r.Cfg.PodCIDRs() {
		if cidr.Addr().Is6() {
			v.IPv6CIDR, v.NodeMaskIPv6 = cidr.String(), subnets[i].Bits()
		} else {
			v.IPv4CIDR, v.NodeMaskIPv4 = cidr.String(), subnets[i].Bits()
		}
	}
	return v
}

// cniSteps import the add-on's image into every new node and apply its
// manifest once the control plane is up and every image is in: a
// DaemonSet pod never waits on a missing image. ready lists the steps
// readiness must wait for.
func (r *run) cniSteps(nodes []Node) (plan []steps.Step, ready []string) {
	if !r.cniRoutes() {
		return nil, nil
	}
	needs := []string{stepInit}
	for _, n := range nodes {
		plan = append(plan, r.cniImport(n))
		needs = append(needs, stepCNIImport(n))
	}
	plan = append(plan, steps.Step{Name: stepCNI, Needs: needs, Run: r.applyCNI})
	return plan, []string{stepCNI}
}

// cniImport is the step that imports the add-on's image into node n.
func (r *run) cniImport(n Node) steps.Step {
	return steps.Step{Name: stepCNIImport(n), Needs: []string{stepStart(n), build.StepCNIImage(r.Cfg.CNIPlugin)},
		Run: func(ctx context.Context) error {
			if err := steps.Poll(ctx, time.Minute, "containerd in "+n.Name, func() error {
				_, err := r.Docker.ExecOutput(ctx, n.Name, "ctr", "version")
				return err
			}); err != nil {
				return err
			}
			pr, pw := io.Pipe()
			go func() { pw.CloseWithError(r.builder.WriteCNIImage(pw)) }()
			err := r.Docker.Exec(ctx, n.Name, []string{"ctr", "-n", "k8s.io", "images", "import", "--local",
				"--discard-unpacked-layers", "-"}, pr, nil)
			pr.CloseWithError(io.ErrClosedPipe)
			if err != nil {
				return fmt.Errorf("importing the %s image into %s: %w", r.Cfg.CNIPlugin, n.Name, err)
			}
			return nil
		}}
}

// applyCNI applies the add-on's manifest with the master's admin
// credentials.
func (r *run) applyCNI(ctx context.Context) error {
	v := r.values(node(r.Cfg, 0))
	manifest, err := embed.Render("cni/"+r.Cfg.CNIPlugin+"/manifest.yaml.tmpl", v)
	if err != nil {
		return err
	}
	master := r.Cfg.MasterName()
	var out bytes.Buffer
	err = r.Docker.Exec(ctx, master, []string{"kubectl", "--kubeconfig=/etc/kubernetes/admin.conf", "apply",
		"--server-side", "--force-conflicts", "--filename=-"}, bytes.NewReader(manifest), &out)
	if err != nil {
		return fmt.Errorf("applying the %s manifest on %s: %w (%s)", r.Cfg.CNIPlugin, master, err, out.String())
	}
	return nil
}

// cniJoinSteps import the add-on's image into node n, which joins a
// running cluster, and cniJoinNeeds are what its join waits for.
func (r *run) cniJoinSteps(n Node) []steps.Step {
	if !r.cniRoutes() {
		return nil
	}
	return []steps.Step{r.cniImport(n)}
}

func (r *run) cniJoinNeeds(n Node) []string {
	if !r.cniRoutes() {
		return nil
	}
	return []string{stepCNIImport(n)}
}
