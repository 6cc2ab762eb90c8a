package build

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// Space a build step needs free before it starts, in GiB: Kubernetes fills
// the Go build cache with about 4 GiB; the others need far less.
var spaceNeeded = map[string]uint64{"kubernetes": 6}

const defaultSpaceNeeded = 1

// checkFree refuses to start filling the cache entry of step when the file
// system under dir lacks the space it needs: a build that fills the disk
// half-way leaves an engine and a Go cache in a sorry state.
func checkFree(step, dir string) error {
	need := spaceNeeded[step]
	if need == 0 {
		need = defaultSpaceNeeded
	}
	for !exists(dir) && filepath.Dir(dir) != dir {
		dir = filepath.Dir(dir)
	}
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return nil // unknown: let the build tell
	}
	free := st.Bavail * uint64(st.Bsize) >> 30
	if free < need {
		return fmt.Errorf("%s needs about %d GiB free on the file system of %s, which has %d GiB: "+
			"free some space (docker system prune, go clean -cache) or set DIND_CACHE_DIR and GOCACHE to a larger disk",
			step, need, dir, free)
	}
	return nil
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
