package config

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
)

// expandPath makes path absolute as a shell and kubectl would see it: ~ and
// ~/... start at home, a relative path at the working directory cwd.
func expandPath(path, home, cwd string) (string, error) {
	if rest, ok := strings.CutPrefix(path, "~"); ok {
		user, _, _ := strings.Cut(rest, "/")
		switch {
		case user != "":
			return "", fmt.Errorf("~%s: only ~ and ~/ are expanded, not ~user; write the home directory out, e.g. /home/%s%s",
				user, user, strings.TrimPrefix(rest, user))
		case home == "":
			return "", errors.New("HOME is not set, so ~ cannot be expanded; set HOME or write the path out")
		}
		path = filepath.Join(home, rest)
	}
	if filepath.IsAbs(path) {
		return filepath.Clean(path), nil
	}
	if cwd == "" {
		return "", fmt.Errorf("%s is relative and the working directory is unknown; write an absolute path", path)
	}
	return filepath.Join(cwd, path), nil
}

// path reads a path knob, expanded, or its default under HOME.
func (l *loader) path(name string) string {
	value := l.get(name)
	if value == "" {
		return l.defaultPath(name)
	}
	path, err := expandPath(value, l.home, l.cwd)
	if err != nil {
		l.fail(name, value, "%v", err)
	}
	return path
}

// defaultPath is the knob's default, "" if it has none.
func (l *loader) defaultPath(name string) string {
	def := knobDefault(name)
	if def == "" {
		return ""
	}
	if l.home == "" {
		l.errs = append(l.errs, fmt.Errorf("HOME is not set, so %s has no default; set %s or HOME", name, name))
		return ""
	}
	path, _ := expandPath(def, l.home, l.cwd)
	return path
}

// kubeconfigs reads KUBECONFIG as kubectl does: a list of files separated by
// the OS's list separator, empty entries and repeats skipped.
func (l *loader) kubeconfigs() []string {
	value := l.get("KUBECONFIG")
	var paths []string
	for _, entry := range filepath.SplitList(value) {
		if entry == "" {
			continue
		}
		path, err := expandPath(entry, l.home, l.cwd)
		if err != nil {
			l.fail("KUBECONFIG", value, "%v", err)
			continue
		}
		if !slices.Contains(paths, path) {
			paths = append(paths, path)
		}
	}
	if len(paths) == 0 {
		if path := l.defaultPath("KUBECONFIG"); path != "" {
			paths = append(paths, path)
		}
	}
	return paths
}
