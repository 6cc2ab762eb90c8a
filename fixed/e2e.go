package fixed

import "fmt"

// E2E is what the conformance suite of one Kubernetes release needs besides
// its e2e.test: the ginkgo CLI its go.mod pins, and the tags of the test
// images test/utils/image/manifest.go of that release names.
type E2E struct {
	Ginkgo          string // github.com/onsi/ginkgo/v2 version
	Agnhost         string
	AgnhostPrev     string
	BusyBox         string
	Nginx           string
	Nautilus        string
	Kitten          string // "" where the release has none
	Nonewprivs      string
	SampleAPIServer string
	GlibcDNSTesting string // "" where the release has none
	JessieDNSUtils  string // "" where the release has none
	BusyBoxUpstream string // the busybox source release the busybox image is built from
}

var e2eSets = map[string]E2E{
	"v1.37.2": {Ginkgo: "v2.32.0", Agnhost: "2.66.1", AgnhostPrev: "2.55", BusyBox: "1.37.0-2", Nginx: "1.27.0-2",
		Nautilus: "1.8", Kitten: "1.8", Nonewprivs: "1.4", SampleAPIServer: "1.29.2", GlibcDNSTesting: "2.1.1",
		BusyBoxUpstream: "1.37.0"},
	"v1.36.3": {Ginkgo: "v2.28.1", Agnhost: "2.63.0", AgnhostPrev: "2.55", BusyBox: "1.37.0-1", Nginx: "1.15-4",
		Nautilus: "1.8", Kitten: "1.8", Nonewprivs: "1.4", SampleAPIServer: "1.29.2", GlibcDNSTesting: "2.0.0",
		BusyBoxUpstream: "1.37.0"},
	"v1.35.4": {Ginkgo: "v2.27.2", Agnhost: "2.59", AgnhostPrev: "2.55", BusyBox: "1.37.0-1", Nginx: "1.14-4",
		Nautilus: "1.7", Nonewprivs: "1.3", SampleAPIServer: "1.29.2", JessieDNSUtils: "1.7",
		BusyBoxUpstream: "1.37.0"},
}

// E2E is the e2e pin set of the release.
func (s Set) E2E() (E2E, error) {
	e, ok := e2eSets[s.Kubernetes]
	if !ok {
		return E2E{}, fmt.Errorf("no e2e images are pinned for Kubernetes %s", s.Kubernetes)
	}
	return e, nil
}
