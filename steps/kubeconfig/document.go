package kubeconfig

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"

	"sigs.k8s.io/yaml"
)

// document is one kubeconfig file, laid out as kubeconfig v1. Only the
// names of entries are read; their inner objects are kept as they came, so
// that what we do not change is written back with the same meaning (exec
// plugins, extensions, proxy-url, fields newer than this code).
type document struct {
	APIVersion     string          `json:"apiVersion,omitempty"`
	Kind           string          `json:"kind,omitempty"`
	Preferences    json.RawMessage `json:"preferences,omitempty"`
	Clusters       []named         `json:"clusters"`
	Users          []named         `json:"users"`
	Contexts       []named         `json:"contexts"`
	CurrentContext string          `json:"current-context"`
	Extensions     json.RawMessage `json:"extensions,omitempty"`
}

// named is one element of the clusters, users or contexts list. Each
// element uses only the key of its list; holding all three keeps the code
// over the lists the same, and an element that is odd passes through.
type named struct {
	Name    string          `json:"name"`
	Cluster json.RawMessage `json:"cluster,omitempty"`
	User    json.RawMessage `json:"user,omitempty"`
	Context json.RawMessage `json:"context,omitempty"`
}

// section names one of the three lists of a kubeconfig.
type section string

const (
	clusters section = "cluster"
	users    section = "user"
	contexts section = "context"
)

var sections = []section{clusters, users, contexts}

func (d *document) list(s section) *[]named {
	switch s {
	case clusters:
		return &d.Clusters
	case users:
		return &d.Users
	default:
		return &d.Contexts
	}
}

func (n *named) object(s section) *json.RawMessage {
	switch s {
	case clusters:
		return &n.Cluster
	case users:
		return &n.User
	default:
		return &n.Context
	}
}

// find returns the inner object of the entry of section s named name.
func (d *document) find(s section, name string) (json.RawMessage, bool) {
	for _, n := range *d.list(s) {
		if n.Name == name {
			return *n.object(s), true
		}
	}
	return nil, false
}

// set replaces the inner object of the entry named name where it stands,
// or appends the entry. An object of the same value is left as it was.
func (d *document) set(s section, name string, object json.RawMessage) {
	list := d.list(s)
	for i := range *list {
		if (*list)[i].Name == name {
			if existing := (*list)[i].object(s); !sameJSON(*existing, object) {
				*existing = object
			}
			return
		}
	}
	entry := named{Name: name}
	*entry.object(s) = object
	*list = append(*list, entry)
}

// remove deletes every entry of section s named name, and tells whether
// there was one.
func (d *document) remove(s section, name string) bool {
	list := d.list(s)
	kept := (*list)[:0]
	for _, n := range *list {
		if n.Name != name {
			kept = append(kept, n)
		}
	}
	removed := len(kept) < len(*list)
	*list = kept
	return removed
}

func parseDocument(data []byte) (*document, error) {
	d := &document{}
	if len(bytes.TrimSpace(data)) == 0 {
		return d, nil
	}
	if err := yaml.Unmarshal(data, d); err != nil {
		return nil, err
	}
	if err := d.checkNamesUnique(); err != nil {
		return nil, err
	}
	return d, nil
}

// checkNamesUnique refuses what kubectl refuses to load: two entries of
// one list with the same name.
func (d *document) checkNamesUnique() error {
	for _, s := range sections {
		seen := map[string]bool{}
		for _, n := range *d.list(s) {
			if seen[n.Name] {
				return fmt.Errorf("two %ss are named %q: kubectl cannot load it either; remove one", s, n.Name)
			}
			seen[n.Name] = true
		}
	}
	return nil
}

// encode lays d out as kubectl does: apiVersion and kind filled in when the
// file had none (some clients need them), empty lists rather than nulls.
func (d document) encode() ([]byte, error) {
	if d.APIVersion == "" {
		d.APIVersion = "v1"
	}
	if d.Kind == "" {
		d.Kind = "Config"
	}
	if d.Preferences == nil {
		d.Preferences = json.RawMessage("{}")
	}
	for _, s := range sections {
		if *d.list(s) == nil {
			*d.list(s) = []named{}
		}
	}
	return yaml.Marshal(d)
}

// fingerprint is d's content, to tell whether a change left it as it was.
func (d *document) fingerprint() string {
	data, err := json.Marshal(d)
	if err != nil {
		// Only raw messages that are not JSON fail, and they all came
		// from a parser that produces JSON.
		panic(err)
	}
	return string(data)
}

// The members of each inner object that dind-cluster writes.
type (
	clusterFields struct {
		Server string `json:"server"`
		CAData []byte `json:"certificate-authority-data"`
	}
	userFields struct {
		ClientCertData []byte `json:"client-certificate-data"`
		ClientKeyData  []byte `json:"client-key-data"`
	}
	contextFields struct {
		Cluster string `json:"cluster"`
		User    string `json:"user"`
	}
)

// conflicting are the members that would contradict ours: client-go refuses
// a file path beside the data, and skipping TLS checks beside a CA.
var conflicting = map[section][]string{
	clusters: {"certificate-authority", "insecure-skip-tls-verify"},
	users:    {"client-certificate", "client-key"},
}

func (e Entry) fields(s section) any {
	switch s {
	case clusters:
		return clusterFields{Server: e.Server, CAData: e.CAData}
	case users:
		return userFields{ClientCertData: e.ClientCertData, ClientKeyData: e.ClientKeyData}
	default:
		return contextFields{Cluster: e.Name, User: e.Name}
	}
}

// overlay sets ours onto the inner object existing, keeping its other
// members (a namespace on the context, a proxy-url on the cluster, as
// `kubectl config set-cluster` would) and dropping those that conflict.
func overlay(existing json.RawMessage, s section, ours any) (json.RawMessage, error) {
	members := map[string]json.RawMessage{}
	if len(existing) > 0 && string(existing) != "null" {
		if err := json.Unmarshal(existing, &members); err != nil {
			return nil, fmt.Errorf("the %s entry is not an object", s)
		}
	}
	for _, key := range conflicting[s] {
		delete(members, key)
	}
	data, err := json.Marshal(ours)
	if err != nil {
		return nil, err
	}
	var set map[string]json.RawMessage
	if err := json.Unmarshal(data, &set); err != nil {
		return nil, err
	}
	for key, value := range set {
		members[key] = value
	}
	return json.Marshal(members)
}

// sameJSON tells whether a and b hold the same value, whatever their layout.
func sameJSON(a, b json.RawMessage) bool {
	var va, vb any
	if json.Unmarshal(a, &va) != nil || json.Unmarshal(b, &vb) != nil {
		return false
	}
	return reflect.DeepEqual(va, vb)
}
