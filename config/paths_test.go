package config

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestExpandPath(t *testing.T) {
	cases := []struct {
		path, home, cwd string
		want, wantErr   string
	}{
		{"/abs/dir", "/h", "/w", "/abs/dir", ""},
		{"/abs//dir/", "/h", "/w", "/abs/dir", ""},
		{"~", "/h", "/w", "/h", ""},
		{"~/", "/h", "/w", "/h", ""},
		{"~/x/y", "/h", "/w", "/h/x/y", ""},
		{"rel", "/h", "/w", "/w/rel", ""},
		{"./rel/../other", "/h", "/w", "/w/other", ""},
		{"a~b", "/h", "/w", "/w/a~b", ""},
		{"~", "rel-home", "/w", "/w/rel-home", ""},
		{"~bob", "/h", "/w", "", "~bob: only ~ and ~/ are expanded, not ~user; write the home directory out, e.g. /home/bob"},
		{"~bob/x", "/h", "/w", "", "~bob: only ~ and ~/ are expanded, not ~user; write the home directory out, e.g. /home/bob/x"},
		{"~/x", "", "/w", "", "HOME is not set, so ~ cannot be expanded"},
		{"rel", "/h", "", "", "rel is relative and the working directory is unknown; write an absolute path"},
	}
	for _, tc := range cases {
		got, err := expandPath(tc.path, tc.home, tc.cwd)
		switch {
		case tc.wantErr == "" && (err != nil || got != tc.want):
			t.Errorf("expandPath(%q, %q, %q) = %q, %v; want %q", tc.path, tc.home, tc.cwd, got, err, tc.want)
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("expandPath(%q, %q, %q): error %v, want it to contain %q", tc.path, tc.home, tc.cwd, err, tc.wantErr)
		}
	}
}

// inTempDir makes a temporary directory the working directory and returns
// it, as the OS spells it.
func inTempDir(t *testing.T) string {
	t.Chdir(t.TempDir())
	cwd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	return cwd
}

func TestPathKnobs(t *testing.T) {
	cwd := inTempDir(t)
	if err := os.WriteFile("forward", []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	sep := string(filepath.ListSeparator)
	cases := []struct {
		vars map[string]string
		got  func(*Config) any
		want any
	}{
		{map[string]string{"DIND_CACHE_DIR": "~"}, func(c *Config) any { return c.CacheDir }, "/home/test"},
		{map[string]string{"DIND_CACHE_DIR": "~/cache"}, func(c *Config) any { return c.CacheDir }, "/home/test/cache"},
		{map[string]string{"DIND_CACHE_DIR": "cache"}, func(c *Config) any { return c.CacheDir }, filepath.Join(cwd, "cache")},
		{map[string]string{"DIND_CACHE_DIR": "../cache"}, func(c *Config) any { return c.CacheDir }, filepath.Join(filepath.Dir(cwd), "cache")},
		{map[string]string{"DIND_PORT_FORWARDER": "forward"}, func(c *Config) any { return c.PortForwarder }, filepath.Join(cwd, "forward")},
		{map[string]string{"DIND_PORT_FORWARDER": "./forward"}, func(c *Config) any { return c.PortForwarder }, filepath.Join(cwd, "forward")},
		{map[string]string{"HOME": cwd, "DIND_PORT_FORWARDER": "~/forward"}, func(c *Config) any { return c.PortForwarder }, filepath.Join(cwd, "forward")},
		{map[string]string{"KUBECONFIG": "~/.kube/a"}, func(c *Config) any { return c.Kubeconfigs }, []string{"/home/test/.kube/a"}},
		{map[string]string{"KUBECONFIG": "a" + sep + sep + "~/b" + sep + "./a" + sep + "/c/../d" + sep + "/home/test/b"},
			func(c *Config) any { return c.Kubeconfigs }, []string{filepath.Join(cwd, "a"), "/home/test/b", "/d"}},
		{map[string]string{"KUBECONFIG": sep}, func(c *Config) any { return c.Kubeconfigs }, []string{"/home/test/.kube/config"}},
		{map[string]string{"KUBECONFIG": "rel" + sep + "/abs"}, func(c *Config) any { return c.Kubeconfig() }, filepath.Join(cwd, "rel")},
	}
	for _, tc := range cases {
		c, err := load(tc.vars)
		if err != nil {
			t.Errorf("Load(%v): %v", tc.vars, err)
			continue
		}
		got := tc.got(c)
		if list, ok := got.([]string); ok {
			if !slices.Equal(list, tc.want.([]string)) {
				t.Errorf("Load(%v): got %q, want %q", tc.vars, list, tc.want)
			}
		} else if got != tc.want {
			t.Errorf("Load(%v): got %v, want %v", tc.vars, got, tc.want)
		}
	}
}

func TestPathKnobErrors(t *testing.T) {
	sep := string(filepath.ListSeparator)
	cases := []struct {
		vars    map[string]string
		wantErr string
	}{
		{map[string]string{"DIND_CACHE_DIR": "~bob/cache"}, "DIND_CACHE_DIR=~bob/cache: ~bob: only ~ and ~/ are expanded, not ~user; write the home directory out, e.g. /home/bob/cache"},
		{map[string]string{"KUBECONFIG": "/a" + sep + "~bob/k"}, "KUBECONFIG=/a" + sep + "~bob/k: ~bob: only ~ and ~/ are expanded"},
		{map[string]string{"DIND_PORT_FORWARDER": "~root/forward"}, "DIND_PORT_FORWARDER=~root/forward: ~root: only ~ and ~/ are expanded"},
		{map[string]string{"DIND_PORT_FORWARDER": "no-such-forwarder"}, "DIND_PORT_FORWARDER=no-such-forwarder: stat "},
		{map[string]string{"HOME": "", "KUBECONFIG": "/k", "DIND_CACHE_DIR": "~/cache"}, "DIND_CACHE_DIR=~/cache: HOME is not set, so ~ cannot be expanded"},
	}
	for _, tc := range cases {
		_, err := load(tc.vars)
		if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("Load(%v): error %v, want it to contain %q", tc.vars, err, tc.wantErr)
		}
	}
}

// Paths set in the config file are expanded as those of the environment.
func TestPathsFromFile(t *testing.T) {
	cwd := inTempDir(t)
	text := "DIND_CACHE_DIR=~/cache\nKUBECONFIG=\"k1:~/k2\"\n"
	if err := os.WriteFile("config.sh", []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := Load(lookupIn(map[string]string{"HOME": "/home/test"}), "config.sh")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{filepath.Join(cwd, "k1"), "/home/test/k2"}; c.CacheDir != "/home/test/cache" || !slices.Equal(c.Kubeconfigs, want) {
		t.Errorf("CacheDir %q, Kubeconfigs %q; want /home/test/cache, %q", c.CacheDir, c.Kubeconfigs, want)
	}
	if _, err := Load(lookupIn(map[string]string{"HOME": "/home/test"}), "missing.sh"); err == nil {
		t.Error("a missing file gave no error")
	}
}

func TestConfigFilePath(t *testing.T) {
	cwd := inTempDir(t)
	if err := os.WriteFile("my.sh", nil, 0o644); err != nil {
		t.Fatal(err)
	}
	want := filepath.Join(cwd, "my.sh")
	cases := []struct {
		home, dindConfig string
		want, wantErr    string
	}{
		{"/nowhere", "my.sh", want, ""},
		{"/nowhere", "./my.sh", want, ""},
		{cwd, "~/my.sh", want, ""},
		{"/nowhere", "~bob/my.sh", "", "DIND_CONFIG=~bob/my.sh: ~bob: only ~ and ~/ are expanded"},
		{"", "~/my.sh", "", "DIND_CONFIG=~/my.sh: HOME is not set"},
		{"/nowhere", "other.sh", "", "DIND_CONFIG=other.sh: stat " + filepath.Join(cwd, "other.sh") + ": "},
	}
	for _, tc := range cases {
		got, err := configFile(lookupIn(map[string]string{"HOME": tc.home, "DIND_CONFIG": tc.dindConfig}))
		switch {
		case tc.wantErr == "" && (err != nil || got != tc.want):
			t.Errorf("DIND_CONFIG=%s: got %q, %v; want %q", tc.dindConfig, got, err, tc.want)
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("DIND_CONFIG=%s: error %v, want it to contain %q", tc.dindConfig, err, tc.wantErr)
		}
	}
}
