package bench

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/dind-cluster/dind-cluster/config"
	"github.com/dind-cluster/dind-cluster/steps/cluster"
)

// Network is one IP mode and pod network a networks bench creates.
type Network struct{ IPMode, CNI string }

// Networks are the IP mode and CNI pairs dind-cluster offers, bridge with
// IPv4 first: the figure the others are read against.
var Networks = []Network{
	{"ipv4", "bridge"}, {"ipv4", "ptp"}, {"ipv4", "flannel"}, {"ipv4", "kube-router"},
	{"dual-stack", "bridge"}, {"dual-stack", "ptp"}, {"dual-stack", "flannel"}, {"dual-stack", "kube-router"},
	{"ipv6", "bridge"}, {"ipv6", "ptp"}, {"ipv6", "flannel"}, {"ipv6", "kube-router"},
}

// RunNetworks creates, in turn, a cluster of each pair with the settings
// of the environment otherwise, times its up, and cleans it. What the
// add-ons are made of must be built before (go run mage.go testcni builds
// them all), or the first up of each times its build.
func RunNetworks(ctx context.Context, progress io.Writer) ([]Figure, error) {
	var figures []Figure
	steal := startStealClock()
	for _, n := range Networks {
		cfg, err := config.Load(func(k string) (string, bool) {
			switch k {
			case "IP_MODE":
				return n.IPMode, true
			case "CNI_PLUGIN":
				return n.CNI, true
			}
			return os.LookupEnv(k)
		}, "")
		if err != nil {
			return figures, err
		}
		c := cluster.New(cfg, progress)
		if err := c.Clean(ctx); err != nil {
			return figures, err
		}
		start := time.Now()
		if _, _, err := c.Up(ctx, cluster.RequestOf(cfg)); err != nil {
			return figures, fmt.Errorf("up with IP_MODE=%s CNI_PLUGIN=%s: %w", n.IPMode, n.CNI, err)
		}
		took := time.Since(start)
		if err := c.Clean(ctx); err != nil {
			return figures, err
		}
		figures = append(figures, Figure{Name: fmt.Sprintf("up (create) %s %s", n.IPMode, n.CNI), Value: seconds(took)})
		fmt.Fprintf(progress, "bench: %s = %s\n", figures[len(figures)-1].Name, seconds(took))
	}
	figures = append(figures, Figure{Name: "host steal time during the bench", Value: steal()})
	return figures, nil
}
