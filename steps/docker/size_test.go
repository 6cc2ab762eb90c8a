package docker

import "testing"

func TestDockerSizesAreRead(t *testing.T) {
	for in, want := range map[string]float64{
		"512KiB": 512 << 10, "1.5GiB": 1.5 * (1 << 30), "200MB": 200e6, "0B": 0, "97.3MiB": 97.3 * (1 << 20),
	} {
		got, err := parseSize(in)
		if err != nil || got != want {
			t.Errorf("parseSize(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "12", "x MiB", "1.2PB"} {
		if _, err := parseSize(bad); err == nil {
			t.Errorf("parseSize(%q) accepted", bad)
		}
	}
}
