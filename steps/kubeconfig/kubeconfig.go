// Package kubeconfig keeps dind-cluster's entries in the user's kubeconfig
// files, in-process, by kubectl's rules: which file of the KUBECONFIG list
// gets an entry and the current context, and the FILE.lock that kubectl
// takes before writing. Every other entry is written back with the meaning
// it had; a file is replaced whole by a rename, never truncated; a file
// that does not parse is refused, never overwritten. No key goes to a
// command line, and no error holds one.
package kubeconfig

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
)

// Entry is what dind-cluster keeps in a kubeconfig for one cluster: a
// context, a cluster and a user, all named Name.
type Entry struct {
	Name           string // e.g. dind, dind-cluster-9, dind-foo
	Server         string // https://127.0.0.1:PORT
	CAData         []byte // PEM
	ClientCertData []byte // PEM
	ClientKeyData  []byte // PEM
}

func (e Entry) check() error {
	for _, field := range []struct {
		name  string
		empty bool
	}{
		{"name", e.Name == ""},
		{"server", e.Server == ""},
		{"certificate-authority-data", len(e.CAData) == 0},
		{"client-certificate-data", len(e.ClientCertData) == 0},
		{"client-key-data", len(e.ClientKeyData) == 0},
	} {
		if field.empty {
			return fmt.Errorf("the kubeconfig entry %q has no %s", e.Name, field.name)
		}
	}
	return nil
}

// FromAdminConf reads kubeadm's admin.conf (its single cluster and user)
// into an Entry named name, with server replaced by server.
func FromAdminConf(data []byte, name, server string) (Entry, error) {
	doc, err := parseDocument(data)
	if err != nil {
		return Entry{}, fmt.Errorf("admin.conf does not parse: %s", withoutValues(err))
	}
	if len(doc.Clusters) != 1 || len(doc.Users) != 1 {
		return Entry{}, fmt.Errorf("admin.conf holds %d clusters and %d users, not one of each", len(doc.Clusters), len(doc.Users))
	}
	var cluster clusterFields
	if err := json.Unmarshal(doc.Clusters[0].Cluster, &cluster); err != nil {
		return Entry{}, fmt.Errorf("admin.conf's cluster: %v", err)
	}
	var user userFields
	if err := json.Unmarshal(doc.Users[0].User, &user); err != nil {
		return Entry{}, fmt.Errorf("admin.conf's user: %v", err)
	}
	e := Entry{Name: name, Server: server, CAData: cluster.CAData,
		ClientCertData: user.ClientCertData, ClientKeyData: user.ClientKeyData}
	if err := e.check(); err != nil {
		return Entry{}, fmt.Errorf("admin.conf: %w", err)
	}
	return e, nil
}

// Merge writes e into the files of paths (the KUBECONFIG list, already
// expanded; one element when KUBECONFIG is unset) and, with makeCurrent,
// makes it the current context. Every other entry is left as it was.
// Members of e's own entries that e does not set are kept too, as kubectl
// config set-cluster keeps them (a namespace on the context, say).
func Merge(paths []string, e Entry, makeCurrent bool) error {
	if err := e.check(); err != nil {
		return err
	}
	return modify(cleanPaths(paths), func(files fileList) error {
		return files.merge(e, makeCurrent)
	})
}

// Has tells whether paths already hold exactly e (and, with current, have
// it as current context): then Merge need not write.
func Has(paths []string, e Entry, current bool) (bool, error) {
	files, err := load(cleanPaths(paths))
	if err != nil {
		return false, err
	}
	if err := files.merge(e, current); err != nil {
		return false, err
	}
	return len(files.changed()) == 0, nil
}

// Remove deletes the context, cluster and user named name, but only when
// belongs says the cluster entry is this cluster's (it is given the
// entry's CA data and server); it also unsets current-context where it
// named name. It reports whether it removed anything, and why not when an
// entry of that name was left.
func Remove(paths []string, name string, belongs func(caData []byte, server string) bool) (removed bool, note string, err error) {
	paths = cleanPaths(paths)
	// A look without the lock first: with nothing to remove, nothing is
	// locked, and no folder is created for the lock.
	files, err := load(paths)
	if err != nil || !files.mentions(name) {
		return false, "", err
	}
	err = modify(paths, func(files fileList) error {
		removed, note = files.remove(name, belongs)
		return nil
	})
	return removed && err == nil, note, err
}

// Write writes a standalone kubeconfig holding only e (mode 0600), for
// dind-cluster's own kubectl calls.
func Write(path string, e Entry) error {
	if err := e.check(); err != nil {
		return err
	}
	if path == "" {
		return errors.New("no path to write the kubeconfig of " + e.Name + " to")
	}
	doc := &document{}
	if err := fileList([]*file{{path: path, doc: doc}}).merge(e, true); err != nil {
		return err
	}
	data, err := doc.encode()
	if err != nil {
		return err
	}
	unlock, err := lock(path)
	if err != nil {
		return err
	}
	defer unlock()
	return replaceFile(path, data, false)
}

// modify locks every file of paths, reads them, applies change and writes
// the files it changed.
func modify(paths []string, change func(fileList) error) error {
	if len(paths) == 0 {
		return errors.New("no kubeconfig file given: set KUBECONFIG or HOME")
	}
	unlock, err := lockAll(paths)
	if err != nil {
		return err
	}
	defer unlock()
	files, err := load(paths)
	if err != nil {
		return err
	}
	if err := change(files); err != nil {
		return err
	}
	for _, f := range files.changed() {
		if err := f.save(); err != nil {
			return err
		}
	}
	return nil
}

// merge sets e's three entries where kubectl would: in the file that
// holds each already, else in the default file.
func (files fileList) merge(e Entry, makeCurrent bool) error {
	for _, s := range sections {
		f := files.holder(s, e.Name)
		if f == nil {
			f = files.defaultFile()
		}
		existing, _ := f.doc.find(s, e.Name)
		object, err := overlay(existing, s, e.fields(s))
		if err != nil {
			return fmt.Errorf("%s %s in %s: %v; fix or remove it", s, e.Name, f.path, err)
		}
		f.doc.set(s, e.Name, object)
	}
	if makeCurrent {
		f := files.currentContextFile()
		if f == nil {
			f = files.defaultFile()
		}
		f.doc.CurrentContext = e.Name
	}
	return nil
}

// remove deletes the entries named name that are this cluster's, and says
// why it left any.
func (files fileList) remove(name string, belongs func(caData []byte, server string) bool) (removed bool, note string) {
	clusterFile := files.holder(clusters, name)
	contextFile := files.holder(contexts, name)
	userFile := files.holder(users, name)
	if clusterFile == nil && contextFile == nil && userFile == nil {
		return false, ""
	}
	if clusterFile == nil {
		s, f := contexts, contextFile
		if f == nil {
			s, f = users, userFile
		}
		return false, fmt.Sprintf("%s %s in %s has no cluster %s to tell whose it is; left alone", s, name, f.path, name)
	}
	caData, server := readCluster(clusterFile.doc, name)
	if !belongs(caData, server) {
		return false, fmt.Sprintf("cluster %s in %s points at another cluster (%s); left alone", name, clusterFile.path, server)
	}
	userInUse := false
	if contextFile != nil {
		ctx := readContext(contextFile.doc, name)
		if ctx.Cluster == name {
			removed = contextFile.doc.remove(contexts, name)
			files.unsetCurrentContext(name)
		} else {
			note = fmt.Sprintf("context %s in %s points at cluster %q, not %s; left alone", name, contextFile.path, ctx.Cluster, name)
			userInUse = ctx.User == name
		}
	}
	removed = clusterFile.doc.remove(clusters, name) || removed
	if userFile != nil && !userInUse {
		removed = userFile.doc.remove(users, name) || removed
	}
	return removed, note
}

// unsetCurrentContext clears current-context in every file where it names
// name, the shadowed ones too: each would otherwise name a context gone.
func (files fileList) unsetCurrentContext(name string) {
	for _, f := range files {
		if f.doc.CurrentContext == name {
			f.doc.CurrentContext = ""
		}
	}
}

// readCluster reads what belongs is told of the cluster entry named name;
// a CA that is not valid base64 is told as none.
func readCluster(doc *document, name string) (caData []byte, server string) {
	var cluster struct {
		Server string `json:"server"`
		CAData string `json:"certificate-authority-data"`
	}
	object, _ := doc.find(clusters, name)
	_ = json.Unmarshal(object, &cluster)
	caData, err := base64.StdEncoding.DecodeString(cluster.CAData)
	if err != nil {
		caData = nil
	}
	return caData, cluster.Server
}

func readContext(doc *document, name string) contextFields {
	var ctx contextFields
	object, _ := doc.find(contexts, name)
	_ = json.Unmarshal(object, &ctx)
	return ctx
}
