package config

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/dind-cluster/dind-cluster/fixed"
)

func knobNames() []string {
	var names []string
	for _, k := range Knobs {
		names = append(names, k.Name)
	}
	return names
}

// The loader reads every knob of the table, and nothing else but HOME.
func TestKnobsAreWhatLoadReads(t *testing.T) {
	asked := map[string]bool{}
	lookup := func(key string) (string, bool) {
		asked[key] = true
		if key == "HOME" {
			return "/home/test", true
		}
		return "", false
	}
	if _, err := configFile(lookup); err != nil {
		t.Fatal(err)
	}
	// With nothing set, every knob is read: the DIND_SUBNET pair is only
	// read when MGMT_CIDRS is empty.
	if _, err := Load(lookup, ""); err != nil {
		t.Fatal(err)
	}
	delete(asked, "HOME")
	for _, name := range knobNames() {
		if !asked[name] {
			t.Errorf("Load does not read knob %s", name)
		}
		delete(asked, name)
	}
	for name := range asked {
		t.Errorf("Load reads %s, which is not in Knobs", name)
	}
}

func TestKnobTable(t *testing.T) {
	seen := map[string]bool{}
	for _, k := range Knobs {
		if seen[k.Name] || k.Meaning == "" || strings.Contains(k.Meaning, "\n") {
			t.Errorf("knob %s: repeated, or its meaning is not one line", k.Name)
		}
		seen[k.Name] = true
	}
	// Defaults that are values are the ones Load uses.
	c := mustLoad(t, nil)
	loaded := map[string]string{
		"DIND_K8S_VERSION": c.Versions.Kubernetes,
		"NUM_NODES":        "2",
		"CLUSTER_ID":       "0",
		"MGMT_CIDRS":       c.MgmtCIDR().String(),
		"SERVICE_CIDR":     c.ServiceCIDR().String(),
		"POD_NETWORK_CIDR": c.PodCIDR().String(),
		"CNI_PLUGIN":       c.CNIPlugin,
		"IP_MODE":          c.IPMode,
		"DIND_CACHE_DIR":   strings.Replace(c.CacheDir, "/home/test", "~", 1),
		"KUBECONFIG":       strings.Replace(c.Kubeconfig(), "/home/test", "~", 1),
	}
	for name, want := range loaded {
		if got := knobDefault(name); got != want {
			t.Errorf("Knobs says %s defaults to %q, Load uses %q", name, got, want)
		}
	}
}

// The README's configuration table lists the knobs, and the same defaults.
func TestREADMEListsKnobs(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, section, _ := strings.Cut(string(data), "\n## Configuration\n")
	section, _, _ = strings.Cut(section, "\n## ")
	name := regexp.MustCompile("`([A-Z][A-Z0-9_]*)`")
	var listed []string
	for _, line := range strings.Split(section, "\n") {
		cells := strings.Split(line, "|")
		if len(cells) < 4 || !strings.Contains(cells[1], "`") {
			continue
		}
		var names []string
		for _, m := range name.FindAllStringSubmatch(cells[1], -1) {
			names = append(names, m[1])
		}
		listed = append(listed, names...)
		if len(names) != 1 || !slices.Contains(knobNames(), names[0]) {
			continue
		}
		if got, want := strings.Trim(strings.TrimSpace(cells[2]), "`"), knobDefault(names[0]); got != want {
			t.Errorf("README.md: %s defaults to %q, Knobs says %q", names[0], got, want)
		}
	}
	for _, k := range Knobs {
		if !slices.Contains(listed, k.Name) {
			t.Errorf("README.md's configuration table does not list %s", k.Name)
		}
	}
	for _, n := range listed {
		if !slices.Contains(knobNames(), n) {
			t.Errorf("README.md's configuration table lists %s, which is not in Knobs", n)
		}
	}
}

func TestFileWarnings(t *testing.T) {
	cases := []struct {
		text string
		want []string
	}{
		{"NUM_NODES=3\nCLUSTER_ID=2\n", nil},
		{"# c\n\nNUM_NODE=3\n", []string{"config.sh:3: NUM_NODE is not a dind-cluster setting; did you mean NUM_NODES?"}},
		{"num_nodes=3\n", []string{"config.sh:1: num_nodes is not a dind-cluster setting; did you mean NUM_NODES?"}},
		{"CLUSTERID=3\nSERVICE_CDIR=10.96.0.0/12\n", []string{
			"config.sh:1: CLUSTERID is not a dind-cluster setting; did you mean CLUSTER_ID?",
			"config.sh:2: SERVICE_CDIR is not a dind-cluster setting; did you mean SERVICE_CIDR?"}},
		{"NAT64_V4_SUBNET_PREFX=10.1\n", []string{"config.sh:1: NAT64_V4_SUBNET_PREFX is not a dind-cluster setting; did you mean NAT64_V4_SUBNET_PREFIX?"}},
		{"DIND_SKIP_PULL=y\nKUBECTL_DIR=/x\n", []string{
			"config.sh:1: DIND_SKIP_PULL is not a dind-cluster setting and is ignored",
			"config.sh:2: KUBECTL_DIR is not a dind-cluster setting and is ignored"}},
		{"DIND_CONFIG=/other.sh\n", []string{"config.sh:1: DIND_CONFIG is only read from the environment; setting it in the config file has no effect"}},
		// A shell script may set what it likes.
		{"PATH=/bin\nMY_NODES=3\nEMBEDDED_CONFIG=y\nSKIP_SNAPSHOT=y\n", nil},
	}
	for _, tc := range cases {
		vars, err := parseFile("config.sh", tc.text)
		if err != nil {
			t.Fatal(err)
		}
		if got := fileWarnings("config.sh", vars); !slices.Equal(got, tc.want) {
			t.Errorf("%q: warnings %q, want %q", tc.text, got, tc.want)
		}
	}
}

func TestLoadWarns(t *testing.T) {
	file := filepath.Join(t.TempDir(), "config.sh")
	if err := os.WriteFile(file, []byte("NUM_NODES=1\nNUM_NODE=3\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := Load(lookupIn(map[string]string{"HOME": "/home/test"}), file)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{file + ":2: NUM_NODE is not a dind-cluster setting; did you mean NUM_NODES?"}
	if !slices.Equal(c.Warnings, want) {
		t.Errorf("Warnings = %q, want %q", c.Warnings, want)
	}
}

// The config file can set every knob but DIND_CONFIG, and what it sets
// counts as given.
func TestFileSetsKnobs(t *testing.T) {
	oldest := fixed.Sets[len(fixed.Sets)-1]
	text := strings.Join([]string{
		"DIND_APT_MIRROR=http://deb.example/debian",
		`DIND_KUBEADM_ARGS="--v=5 --ignore-preflight-errors=all"`,
		"DIND_DEBUG=1",
		"NUM_NODES=0",
		"DIND_K8S_VERSION=" + oldest.Kubernetes,
	}, "\n")
	file := filepath.Join(t.TempDir(), "config.sh")
	if err := os.WriteFile(file, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := Load(lookupIn(map[string]string{"HOME": "/home/test"}), file)
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		what      string
		got, want any
	}{
		{"AptMirror", c.AptMirror, "http://deb.example/debian"},
		{"KubeadmArgs", strings.Join(c.KubeadmArgs, "|"), "--v=5|--ignore-preflight-errors=all"},
		{"Debug", c.Debug, true},
		{"NumNodes", c.NumNodes, 0},
		{"NumNodesGiven", c.NumNodesGiven, true},
		{"Versions", c.Versions, oldest},
		{"VersionGiven", c.VersionGiven, true},
		{"Warnings", len(c.Warnings), 0},
	}
	for _, check := range checks {
		if check.got != check.want {
			t.Errorf("%s = %v, want %v", check.what, check.got, check.want)
		}
	}
}

func TestGiven(t *testing.T) {
	file := filepath.Join(t.TempDir(), "config.sh")
	if err := os.WriteFile(file, []byte("NUM_NODES=\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		env                     map[string]string
		file                    string
		numNodesGiven, verGiven bool
	}{
		{map[string]string{}, "", false, false},
		{map[string]string{"NUM_NODES": "", "DIND_K8S_VERSION": ""}, "", false, false},
		{map[string]string{"NUM_NODES": "2"}, "", true, false},
		{map[string]string{"DIND_K8S_VERSION": fixed.Default.Minor()}, "", false, true},
		{map[string]string{}, file, false, false}, // NUM_NODES= in the file
	}
	for _, tc := range cases {
		tc.env["HOME"] = "/home/test"
		c, err := Load(lookupIn(tc.env), tc.file)
		if err != nil {
			t.Fatal(err)
		}
		if c.NumNodesGiven != tc.numNodesGiven || c.VersionGiven != tc.verGiven {
			t.Errorf("%v %s: NumNodesGiven %v, VersionGiven %v; want %v, %v",
				tc.env, tc.file, c.NumNodesGiven, c.VersionGiven, tc.numNodesGiven, tc.verGiven)
		}
	}
}

func TestEditDistance(t *testing.T) {
	cases := []struct {
		a, b string
		want int
	}{
		{"", "", 0}, {"", "ab", 2}, {"NUM_NODE", "NUM_NODES", 1}, {"CIDR", "CDIR", 2}, {"kitten", "sitting", 3},
	}
	for _, tc := range cases {
		if got := editDistance(tc.a, tc.b); got != tc.want {
			t.Errorf("editDistance(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}
