package kubeconfig

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// file is one file of the KUBECONFIG list, as read.
type file struct {
	path   string
	exists bool
	doc    *document
	asRead string // the document's fingerprint when read
}

// fileList is the KUBECONFIG list in its order of precedence.
type fileList []*file

// cleanPaths drops empty elements and repeats, as kubectl does. Cleaning
// each first makes ./config and config one file, not two files whose
// second lock would wait for the first.
func cleanPaths(paths []string) []string {
	seen := map[string]bool{}
	var kept []string
	for _, p := range paths {
		if p == "" {
			continue
		}
		p = filepath.Clean(p)
		if !seen[p] {
			seen[p] = true
			kept = append(kept, p)
		}
	}
	return kept
}

// load reads every file of paths (already cleaned). A missing file is an
// empty one; one that does not parse stops everything, since a merged view
// without it would be wrong, and writing it would lose what it holds.
func load(paths []string) (fileList, error) {
	if len(paths) == 0 {
		return nil, errors.New("no kubeconfig file given: set KUBECONFIG or HOME")
	}
	var files fileList
	for _, path := range paths {
		f, err := readFile(path)
		if err != nil {
			return nil, err
		}
		files = append(files, f)
	}
	return files, nil
}

func readFile(path string) (*file, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		doc := &document{}
		return &file{path: path, doc: doc, asRead: doc.fingerprint()}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading kubeconfig %s: %w", path, err)
	}
	doc, err := parseDocument(data)
	if err != nil {
		return nil, fmt.Errorf("kubeconfig %s does not parse (%s): fix it or move it aside; it was left as it is", path, withoutValues(err))
	}
	return &file{path: path, exists: true, doc: doc, asRead: doc.fingerprint()}, nil
}

// withoutValues is a parse error less what the YAML parser and the
// conversion to JSON quote of a map key that is not a string, and of its
// value, which may be a key.
func withoutValues(err error) string {
	msg := err.Error()
	for _, quoteFollows := range []string{", key: ", "invalid map key: "} {
		if i := strings.Index(msg, quoteFollows); i >= 0 {
			msg = msg[:i+len(quoteFollows)-2]
		}
	}
	return msg
}

// holder is the file whose entry of section s named name is in effect:
// the first that defines it.
func (files fileList) holder(s section, name string) *file {
	for _, f := range files {
		if _, ok := f.doc.find(s, name); ok {
			return f
		}
	}
	return nil
}

// defaultFile is where a new entry goes: with one file, that file; with
// several, the first that exists, else the last.
func (files fileList) defaultFile() *file {
	if len(files) == 1 {
		return files[0]
	}
	for _, f := range files {
		if f.exists {
			return f
		}
	}
	return files[len(files)-1]
}

// currentContextFile is the file whose current-context is in effect, the
// first that sets one, or nil.
func (files fileList) currentContextFile() *file {
	for _, f := range files {
		if f.doc.CurrentContext != "" {
			return f
		}
	}
	return nil
}

// mentions tells whether any file has an entry named name.
func (files fileList) mentions(name string) bool {
	for _, s := range sections {
		if files.holder(s, name) != nil {
			return true
		}
	}
	return false
}

func (files fileList) changed() fileList {
	var changed fileList
	for _, f := range files {
		if f.doc.fingerprint() != f.asRead {
			changed = append(changed, f)
		}
	}
	return changed
}

func (f *file) save() error {
	data, err := f.doc.encode()
	if err != nil {
		return fmt.Errorf("encoding kubeconfig %s: %w", f.path, err)
	}
	return replaceFile(f.path, data, true)
}
