package build

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"

	"github.com/dind-cluster/dind-cluster/steps/shell"
)

// hostPackages are the Debian packages the supply chain runs on the host:
// mmdebstrap makes root filesystems, runc needs cgo with libseccomp.
var hostPackages = []struct{ pkg, check string }{
	{"mmdebstrap", "mmdebstrap"},
	{"gcc", "gcc"},
	{"pkg-config", "pkg-config"},
	{"libseccomp-dev", "libseccomp"},
	{"make", "make"},   // busybox of the e2e images
	{"bzip2", "bzip2"}, // its source tarball
}

// checkHostTools makes sure the host tools are there, installing the missing
// ones with apt-get when running as root on a Debian-like host.
func checkHostTools(ctx context.Context) error {
	missing := missingHostPackages()
	if len(missing) == 0 {
		return nil
	}
	_, aptErr := exec.LookPath("apt-get")
	if os.Geteuid() != 0 || aptErr != nil {
		return fmt.Errorf("dind-cluster builds node images with %s, which this host lacks: "+
			"install them (apt-get install %s) and run again", strings.Join(missing, ", "), strings.Join(missing, " "))
	}
	if err := installHostPackages(ctx, missing); err != nil {
		return err
	}
	if still := missingHostPackages(); len(still) > 0 {
		return fmt.Errorf("still missing after apt-get install: %s", strings.Join(still, ", "))
	}
	return nil
}

// installHostPackages runs apt-get to its end even when ctx is cancelled:
// dpkg killed half-way leaves the host's package database broken.
func installHostPackages(ctx context.Context, missing []string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "installing host packages: %s\n", strings.Join(missing, " "))
	defer context.AfterFunc(ctx, func() {
		fmt.Fprintln(os.Stderr, "finishing the installation of host packages before stopping")
	})()
	env := []string{"DEBIAN_FRONTEND=noninteractive"}
	if err := shell.Command("apt-get", "update", "-qq").WithEnv(env...).Uninterruptible().Run(ctx); err != nil {
		return fmt.Errorf("apt-get update (to install %s): %w", strings.Join(missing, " "), err)
	}
	args := append([]string{"install", "-y", "-qq", "--no-install-recommends"}, missing...)
	if err := shell.Command("apt-get", args...).WithEnv(env...).Uninterruptible().Run(ctx); err != nil {
		return fmt.Errorf("installing %s: %w", strings.Join(missing, " "), err)
	}
	return nil
}

func missingHostPackages() []string {
	var missing []string
	for _, p := range hostPackages {
		if p.check == "libseccomp" {
			if exec.Command("pkg-config", "--exists", "libseccomp").Run() != nil {
				missing = append(missing, p.pkg)
			}
			continue
		}
		if _, err := exec.LookPath(p.check); err != nil {
			missing = append(missing, p.pkg)
		}
	}
	return missing
}
