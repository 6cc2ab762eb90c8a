package kubeconfig

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"
)

// foreign is a user's kubeconfig with what a merge must keep: an exec
// plugin, extensions at every level, a proxy-url, preferences.
const foreign = `apiVersion: v1
kind: Config
preferences:
  colors: true
  extensions:
  - name: pref-ext
    extension:
      anything: [1, 2.5, "3"]
clusters:
- name: prod
  cluster:
    server: https://prod.example:6443
    certificate-authority: /etc/prod/ca.crt
    proxy-url: socks5://localhost:1080
    tls-server-name: api.prod
    extensions:
    - name: client.authentication.k8s.io/exec
      extension:
        audience: prod
users:
- name: prod-sso
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1
      command: kubelogin
      args: [get-token, --server-id, "12345"]
      env:
      - name: CACHE
        value: /tmp/cache
      interactiveMode: IfAvailable
      provideClusterInfo: true
contexts:
- name: prod
  context:
    cluster: prod
    user: prod-sso
    namespace: payments
    extensions:
    - name: ext
      extension: {color: red, count: 3}
current-context: prod
extensions:
- name: top
  extension:
    nested: {a: 1, b: [x, z]}
`

func testEntry(name string, port int) Entry {
	return Entry{
		Name:           name,
		Server:         fmt.Sprintf("https://127.0.0.1:%d", port),
		CAData:         []byte("-----BEGIN CERTIFICATE-----\nCA of " + name + "\n-----END CERTIFICATE-----\n"),
		ClientCertData: []byte("-----BEGIN CERTIFICATE-----\nadmin of " + name + "\n-----END CERTIFICATE-----\n"),
		ClientKeyData:  []byte(fmt.Sprintf("-----BEGIN EC PRIVATE KEY-----\nsecret key %d\n-----END EC PRIVATE KEY-----\n", port)),
	}
}

func writeFile(t *testing.T, path, content string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
}

func readBytes(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// generic is a kubeconfig file read without our types, to compare meaning.
func generic(t *testing.T, data []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := yaml.Unmarshal(data, &m); err != nil {
		t.Fatalf("does not parse: %v\n%s", err, data)
	}
	return m
}

// withoutEntries is m less the entries named name in the three lists.
func withoutEntries(m map[string]any, name string) map[string]any {
	out := map[string]any{}
	for k, v := range m {
		list, ok := v.([]any)
		if !ok || (k != "clusters" && k != "users" && k != "contexts") {
			out[k] = v
			continue
		}
		kept := []any{}
		for _, item := range list {
			if item.(map[string]any)["name"] != name {
				kept = append(kept, item)
			}
		}
		out[k] = kept
	}
	return out
}

// assertEntry checks that path holds e's three entries as Merge writes them.
func assertEntry(t *testing.T, path string, e Entry) {
	t.Helper()
	f, err := readFile(path)
	if err != nil {
		t.Fatal(err)
	}
	caData, server := readCluster(f.doc, e.Name)
	if server != e.Server || !bytes.Equal(caData, e.CAData) {
		t.Errorf("cluster %s in %s: server %q, CA %q; want %q, %q", e.Name, path, server, caData, e.Server, e.CAData)
	}
	var user userFields
	object, _ := f.doc.find(users, e.Name)
	if err := yaml.Unmarshal(object, &user); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(user.ClientCertData, e.ClientCertData) || !bytes.Equal(user.ClientKeyData, e.ClientKeyData) {
		t.Errorf("user %s in %s holds other credentials", e.Name, path)
	}
	if ctx := readContext(f.doc, e.Name); ctx != (contextFields{Cluster: e.Name, User: e.Name}) {
		t.Errorf("context %s in %s is %+v", e.Name, path, ctx)
	}
}

func currentContext(t *testing.T, path string) string {
	t.Helper()
	f, err := readFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return f.doc.CurrentContext
}

// assertFolderHolds checks that nothing but names is left in dir: no lock,
// no temporary file.
func assertFolderHolds(t *testing.T, dir string, names ...string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	slices.Sort(got)
	slices.Sort(names)
	if !slices.Equal(got, names) {
		t.Errorf("%s holds %q, want %q", dir, got, names)
	}
}

func TestMergeIntoMissingFile(t *testing.T) {
	home := t.TempDir()
	path := filepath.Join(home, ".kube", "config")
	e := testEntry("dind", 32768)
	if err := Merge([]string{path}, e, true); err != nil {
		t.Fatal(err)
	}
	assertEntry(t, path, e)
	if got := currentContext(t, path); got != "dind" {
		t.Errorf("current-context %q, want dind", got)
	}
	m := generic(t, readBytes(t, path))
	if m["apiVersion"] != "v1" || m["kind"] != "Config" {
		t.Errorf("apiVersion %v, kind %v: some clients need v1 and Config", m["apiVersion"], m["kind"])
	}
	assertMode(t, path, 0o600)
	assertMode(t, filepath.Dir(path), 0o755|os.ModeDir)
	assertFolderHolds(t, filepath.Dir(path), "config")
}

func assertMode(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := info.Mode() & (os.ModePerm | os.ModeDir); got != want {
		t.Errorf("%s has mode %v, want %v", path, got, want)
	}
}

func TestMergeKeepsForeignEntries(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config")
	writeFile(t, path, foreign, 0o600)
	e := testEntry("dind", 32768)

	if err := Merge([]string{path}, e, false); err != nil {
		t.Fatal(err)
	}
	assertEntry(t, path, e)
	got := withoutEntries(generic(t, readBytes(t, path)), "dind")
	want := generic(t, []byte(foreign))
	if !reflect.DeepEqual(got, want) {
		t.Errorf("foreign entries changed:\n got %v\nwant %v", got, want)
	}

	if err := Merge([]string{path}, e, true); err != nil {
		t.Fatal(err)
	}
	got = withoutEntries(generic(t, readBytes(t, path)), "dind")
	if got["current-context"] != "dind" {
		t.Errorf("current-context %v, want dind", got["current-context"])
	}
	want["current-context"] = "dind"
	if !reflect.DeepEqual(got, want) {
		t.Errorf("making dind current changed more than current-context:\n got %v\nwant %v", got, want)
	}
}

func TestMergeUpdatesEntryInPlace(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config")
	old := `clusters:
- name: dind
  cluster:
    server: https://127.0.0.1:1111
    certificate-authority: /old/ca.crt
    proxy-url: http://proxy:3128
- name: prod
  cluster: {server: https://prod.example:6443}
users:
- name: dind
  user: {client-certificate: /old/admin.crt, client-key: /old/admin.key}
- name: prod
  user: {token: abc}
contexts:
- name: dind
  context: {cluster: dind, user: dind, namespace: kube-system}
- name: prod
  context: {cluster: prod, user: prod}
current-context: prod
`
	writeFile(t, path, old, 0o600)
	e := testEntry("dind", 2222)
	if err := Merge([]string{path}, e, false); err != nil {
		t.Fatal(err)
	}
	assertEntry(t, path, e)
	m := generic(t, readBytes(t, path))
	for _, list := range []string{"clusters", "users", "contexts"} {
		entries := m[list].([]any)
		if len(entries) != 2 || entries[0].(map[string]any)["name"] != "dind" {
			t.Errorf("%s: dind is no longer first of two: %v", list, entries)
		}
	}
	cluster := m["clusters"].([]any)[0].(map[string]any)["cluster"].(map[string]any)
	if cluster["proxy-url"] != "http://proxy:3128" {
		t.Errorf("the proxy-url of dind's cluster was lost: %v", cluster)
	}
	if _, ok := cluster["certificate-authority"]; ok {
		t.Errorf("certificate-authority left beside certificate-authority-data, which kubectl refuses: %v", cluster)
	}
	user := m["users"].([]any)[0].(map[string]any)["user"].(map[string]any)
	if _, ok := user["client-key"]; ok {
		t.Errorf("client-key left beside client-key-data, which kubectl refuses: %v", user)
	}
	ctx := m["contexts"].([]any)[0].(map[string]any)["context"].(map[string]any)
	if ctx["namespace"] != "kube-system" {
		t.Errorf("the namespace set on dind's context was lost: %v", ctx)
	}
	if m["current-context"] != "prod" {
		t.Errorf("current-context %v changed without makeCurrent", m["current-context"])
	}
}

func TestMergeAcrossFiles(t *testing.T) {
	e := testEntry("dind", 32768)
	const other = "clusters: [{name: a, cluster: {server: https://a}}]\n"

	t.Run("new entry goes to the first file that exists", func(t *testing.T) {
		dir := t.TempDir()
		first, second, third := filepath.Join(dir, "1"), filepath.Join(dir, "2"), filepath.Join(dir, "3")
		writeFile(t, second, other, 0o600)
		writeFile(t, third, other, 0o600)
		if err := Merge([]string{first, second, third}, e, true); err != nil {
			t.Fatal(err)
		}
		assertEntry(t, second, e)
		if got := currentContext(t, second); got != "dind" {
			t.Errorf("current-context in %s is %q, want dind: no file set one", second, got)
		}
		assertFolderHolds(t, dir, "2", "3")
		if got := string(readBytes(t, third)); got != other {
			t.Errorf("%s was rewritten: %s", third, got)
		}
	})

	t.Run("none exists: the last file", func(t *testing.T) {
		dir := t.TempDir()
		first, last := filepath.Join(dir, "1"), filepath.Join(dir, "sub", "2")
		if err := Merge([]string{first, last}, e, true); err != nil {
			t.Fatal(err)
		}
		assertEntry(t, last, e)
		assertFolderHolds(t, dir, "sub")
	})

	t.Run("existing entry is updated where it is; current-context where it is set", func(t *testing.T) {
		dir := t.TempDir()
		first, second := filepath.Join(dir, "1"), filepath.Join(dir, "2")
		writeFile(t, first, other+"current-context: a\n", 0o600)
		old := testEntry("dind", 1111)
		if err := Merge([]string{second}, old, true); err != nil {
			t.Fatal(err)
		}
		if err := Merge([]string{first, second}, e, true); err != nil {
			t.Fatal(err)
		}
		assertEntry(t, second, e)
		if f, _ := readFile(first); f.doc.CurrentContext != "dind" || len(f.doc.Clusters) != 1 {
			t.Errorf("%s: current-context %q and %d clusters, want dind and only a", first, f.doc.CurrentContext, len(f.doc.Clusters))
		}
	})

	t.Run("current-context goes to the file that sets it, not the default one", func(t *testing.T) {
		dir := t.TempDir()
		first, second := filepath.Join(dir, "1"), filepath.Join(dir, "2")
		writeFile(t, first, other, 0o600)
		writeFile(t, second, foreign, 0o600)
		if err := Merge([]string{first, second}, e, true); err != nil {
			t.Fatal(err)
		}
		assertEntry(t, first, e)
		if got := currentContext(t, first); got != "" {
			t.Errorf("current-context %q written into %s, which set none", got, first)
		}
		if got := currentContext(t, second); got != "dind" {
			t.Errorf("current-context in %s is %q, want dind", second, got)
		}
	})

	t.Run("empty and repeated paths", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "config")
		if err := Merge([]string{"", path, "", path}, e, true); err != nil {
			t.Fatal(err)
		}
		assertEntry(t, path, e)
		assertFolderHolds(t, dir, "config")
		if err := Merge([]string{"", ""}, e, true); err == nil {
			t.Error("Merge into no file at all did not fail")
		}
	})
}

func TestHas(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "config")
	e := testEntry("dind", 32768)
	has := func(e Entry, current bool) bool {
		t.Helper()
		ok, err := Has([]string{path}, e, current)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	if has(e, false) {
		t.Error("a missing file has the entry")
	}
	writeFile(t, path, foreign, 0o600)
	if has(e, false) {
		t.Error("a file without it has the entry")
	}
	if err := Merge([]string{path}, e, true); err != nil {
		t.Fatal(err)
	}
	if !has(e, true) || !has(e, false) {
		t.Error("the entry just merged is not there")
	}
	before, _ := os.Stat(path)
	if err := Merge([]string{path}, e, true); err != nil {
		t.Fatal(err)
	}
	if after, _ := os.Stat(path); !os.SameFile(before, after) {
		t.Error("Merge rewrote a file that already held the entry")
	}
	if has(testEntry("dind", 32769), false) {
		t.Error("an entry with another server and key is there")
	}
	key := e
	key.ClientKeyData = []byte("another key")
	if has(key, false) {
		t.Error("an entry with another key is there")
	}
	if err := Merge([]string{path}, testEntry("other", 1), true); err != nil {
		t.Fatal(err)
	}
	if has(e, true) || !has(e, false) {
		t.Error("with another current context, Has(current) must be false and Has(not current) true")
	}
}

func TestRemove(t *testing.T) {
	e := testEntry("dind", 32768)
	setup := func(t *testing.T, makeCurrent bool) string {
		path := filepath.Join(t.TempDir(), "config")
		writeFile(t, path, foreign, 0o600)
		if err := Merge([]string{path}, e, makeCurrent); err != nil {
			t.Fatal(err)
		}
		return path
	}

	t.Run("this cluster's entries, and the current-context naming them", func(t *testing.T) {
		path := setup(t, true)
		var toldCA []byte
		var toldServer string
		removed, note, err := Remove([]string{path}, "dind", func(caData []byte, server string) bool {
			toldCA, toldServer = caData, server
			return true
		})
		if err != nil || !removed || note != "" {
			t.Fatalf("Remove: %v, %q, %v", removed, note, err)
		}
		if !bytes.Equal(toldCA, e.CAData) || toldServer != e.Server {
			t.Errorf("belongs was told %q, %q", toldCA, toldServer)
		}
		want := generic(t, []byte(foreign))
		want["current-context"] = ""
		if got := generic(t, readBytes(t, path)); !reflect.DeepEqual(got, want) {
			t.Errorf("after Remove:\n got %v\nwant %v", got, want)
		}
		assertFolderHolds(t, filepath.Dir(path), "config")
	})

	t.Run("current-context naming another is kept", func(t *testing.T) {
		path := setup(t, false)
		if removed, _, err := Remove([]string{path}, "dind", func([]byte, string) bool { return true }); err != nil || !removed {
			t.Fatalf("Remove: %v, %v", removed, err)
		}
		if got := generic(t, readBytes(t, path)); !reflect.DeepEqual(got, generic(t, []byte(foreign))) {
			t.Errorf("after Remove: %v", got)
		}
	})

	t.Run("another cluster's entries are left, with a note", func(t *testing.T) {
		path := setup(t, true)
		before := readBytes(t, path)
		removed, note, err := Remove([]string{path}, "dind", func([]byte, string) bool { return false })
		if err != nil || removed {
			t.Fatalf("Remove: %v, %v", removed, err)
		}
		if want := "cluster dind in " + path + " points at another cluster (" + e.Server + "); left alone"; note != want {
			t.Errorf("note %q, want %q", note, want)
		}
		if !bytes.Equal(readBytes(t, path), before) {
			t.Error("the file changed")
		}
	})

	t.Run("a context of that name on another cluster is left", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "config")
		writeFile(t, path, `clusters:
- name: dind
  cluster: {server: https://127.0.0.1:32768, certificate-authority-data: Q0E=}
- name: prod
  cluster: {server: https://prod.example:6443}
users:
- name: dind
  user: {client-key-data: a2V5}
contexts:
- name: dind
  context: {cluster: prod, user: prod-sso}
`, 0o600)
		removed, note, err := Remove([]string{path}, "dind", func([]byte, string) bool { return true })
		if err != nil || !removed {
			t.Fatalf("Remove: %v, %v", removed, err)
		}
		if want := `context dind in ` + path + ` points at cluster "prod", not dind; left alone`; note != want {
			t.Errorf("note %q, want %q", note, want)
		}
		f, _ := readFile(path)
		if _, ok := f.doc.find(contexts, "dind"); !ok {
			t.Error("the context on another cluster was removed")
		}
		if _, ok := f.doc.find(clusters, "dind"); ok {
			t.Error("the cluster entry was kept")
		}
	})

	t.Run("no cluster entry to tell whose the context is", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "config")
		writeFile(t, path, strings.Replace(foreign, "contexts:\n", "contexts:\n- name: dind\n  context: {cluster: dind, user: dind}\n", 1), 0o600)
		before := readBytes(t, path)
		removed, note, err := Remove([]string{path}, "dind", func([]byte, string) bool { return true })
		if err != nil || removed {
			t.Fatalf("Remove: %v, %v", removed, err)
		}
		if want := "context dind in " + path + " has no cluster dind to tell whose it is; left alone"; note != want {
			t.Errorf("note %q, want %q", note, want)
		}
		if !bytes.Equal(readBytes(t, path), before) {
			t.Error("the file changed")
		}
	})

	t.Run("nothing of that name: nothing written, nothing created", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "sub", "config")
		removed, note, err := Remove([]string{path}, "dind", func([]byte, string) bool { return true })
		if err != nil || removed || note != "" {
			t.Fatalf("Remove: %v, %q, %v", removed, note, err)
		}
		assertFolderHolds(t, dir)
	})

	t.Run("entries in another file of the list", func(t *testing.T) {
		dir := t.TempDir()
		first, second := filepath.Join(dir, "1"), filepath.Join(dir, "2")
		writeFile(t, first, foreign, 0o600)
		if err := Merge([]string{second}, e, true); err != nil {
			t.Fatal(err)
		}
		removed, _, err := Remove([]string{first, second}, "dind", func([]byte, string) bool { return true })
		if err != nil || !removed {
			t.Fatalf("Remove: %v, %v", removed, err)
		}
		if f, _ := readFile(second); len(f.doc.Clusters)+len(f.doc.Users)+len(f.doc.Contexts) != 0 || f.doc.CurrentContext != "" {
			t.Errorf("%s still holds %+v", second, f.doc)
		}
		if !bytes.Equal(readBytes(t, first), []byte(foreign)) {
			t.Errorf("%s was rewritten", first)
		}
	})
}

func TestStaleLockFails(t *testing.T) {
	defer setLockWait(300 * time.Millisecond)()
	path := filepath.Join(t.TempDir(), "config")
	writeFile(t, path, foreign, 0o600)
	writeFile(t, path+".lock", "", 0o600)
	start := time.Now()
	err := Merge([]string{path}, testEntry("dind", 32768), true)
	if err == nil {
		t.Fatal("Merge went past a lock")
	}
	if waited := time.Since(start); waited < 300*time.Millisecond {
		t.Errorf("gave up after %s, before the retry time", waited)
	}
	if msg := err.Error(); !strings.Contains(msg, path+".lock") || !strings.Contains(msg, "remove "+path+".lock") {
		t.Errorf("the error does not name the lock to remove: %v", err)
	}
	if _, err := os.Stat(path + ".lock"); err != nil {
		t.Error("Merge removed a lock it did not take")
	}
	if !bytes.Equal(readBytes(t, path), []byte(foreign)) {
		t.Error("the file changed under another's lock")
	}
}

// A lock a killed dind-cluster left is taken over at once; the lock of one
// that runs is waited for, as a kubectl's.
func TestLockOfAKilledDindClusterIsTakenOver(t *testing.T) {
	defer setLockWait(300 * time.Millisecond)()
	path := filepath.Join(t.TempDir(), "config")
	writeFile(t, path, foreign, 0o600)
	writeFile(t, path+".lock", "dind-cluster pid 999999999 started 12345\n", 0o600)
	start := time.Now()
	e := testEntry("dind", 32768)
	if err := Merge([]string{path}, e, true); err != nil {
		t.Fatalf("Merge behind the lock of a process that is gone: %v", err)
	}
	if waited := time.Since(start); waited > 200*time.Millisecond {
		t.Errorf("waited %s for a lock whose holder is gone", waited)
	}
	assertEntry(t, path, e)
	if _, err := os.Stat(path + ".lock"); err == nil {
		t.Error("the lock is still there")
	}
	writeFile(t, path+".lock", lockHolder(os.Getppid()), 0o600)
	if err := Merge([]string{path}, testEntry("dind-other", 32769), true); err == nil {
		t.Error("Merge went past the lock of a process that runs")
	}
}

func setLockWait(d time.Duration) (restore func()) {
	old := lockWait
	lockWait = d
	return func() { lockWait = old }
}

func TestWaitsForAnotherWriter(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config")
	writeFile(t, path, foreign, 0o600)
	writeFile(t, path+".lock", "", 0o600)
	const held = 300 * time.Millisecond
	go func() {
		time.Sleep(held)
		os.Remove(path + ".lock")
	}()
	start := time.Now()
	e := testEntry("dind", 32768)
	if err := Merge([]string{path}, e, true); err != nil {
		t.Fatal(err)
	}
	if waited := time.Since(start); waited < held {
		t.Errorf("wrote after %s, while the other writer held the lock for %s", waited, held)
	}
	assertEntry(t, path, e)
	assertFolderHolds(t, filepath.Dir(path), "config")
}

func TestModeKept(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config")
	writeFile(t, path, foreign, 0o640)
	if err := os.Chmod(path, 0o640); err != nil {
		t.Fatal(err)
	}
	if err := Merge([]string{path}, testEntry("dind", 32768), true); err != nil {
		t.Fatal(err)
	}
	assertMode(t, path, 0o640)
}

func TestUnreadableFileIsRefused(t *testing.T) {
	for name, content := range map[string]string{
		"not YAML":       "clusters:\n- name: a\n  cluster: {server: [\n",
		"not a config":   "- just\n- a list\n",
		"duplicate name": "clusters:\n- name: a\n  cluster: {}\n- name: a\n  cluster: {}\n",
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "config")
			writeFile(t, path, content, 0o600)
			e := testEntry("dind", 32768)
			err := Merge([]string{path}, e, true)
			if err == nil || !strings.Contains(err.Error(), path) {
				t.Fatalf("Merge: %v, want an error naming %s", err, path)
			}
			if _, _, err := Remove([]string{path}, "a", func([]byte, string) bool { return true }); err == nil {
				t.Error("Remove read it")
			}
			if _, err := Has([]string{path}, e, true); err == nil {
				t.Error("Has read it")
			}
			if got := string(readBytes(t, path)); got != content {
				t.Errorf("the file was changed to %q", got)
			}
			assertFolderHolds(t, dir, "config")
		})
	}
}

func TestSymbolicLinkIsFollowed(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "dotfiles", "kubeconfig")
	writeFile(t, target, foreign, 0o600)
	link := filepath.Join(dir, "config")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	e := testEntry("dind", 32768)
	if err := Merge([]string{link}, e, true); err != nil {
		t.Fatal(err)
	}
	if info, err := os.Lstat(link); err != nil || info.Mode()&os.ModeSymlink == 0 {
		t.Fatal("the link was replaced by a file")
	}
	assertEntry(t, target, e)
	assertFolderHolds(t, filepath.Dir(target), "kubeconfig")
}

func TestWriteStandalone(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "kubeconfig")
	writeFile(t, path, foreign, 0o644)
	e := testEntry("dind", 32768)
	if err := Write(path, e); err != nil {
		t.Fatal(err)
	}
	assertEntry(t, path, e)
	assertMode(t, path, 0o600)
	f, _ := readFile(path)
	if len(f.doc.Clusters) != 1 || len(f.doc.Users) != 1 || len(f.doc.Contexts) != 1 || f.doc.CurrentContext != "dind" {
		t.Errorf("holds more than dind, or does not make it current: %+v", f.doc)
	}
	assertFolderHolds(t, dir, "kubeconfig")
}

// adminConf is laid out as kubeadm writes it.
const adminConf = `apiVersion: v1
clusters:
- cluster:
    certificate-authority-data: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCkNBCi0tLS0tRU5EIENFUlRJRklDQVRFLS0tLS0K
    server: https://dind-cluster-master:6443
  name: kubernetes
contexts:
- context:
    cluster: kubernetes
    user: kubernetes-admin
  name: kubernetes-admin@kubernetes
current-context: kubernetes-admin@kubernetes
kind: Config
preferences: {}
users:
- name: kubernetes-admin
  user:
    client-certificate-data: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCmFkbWluCi0tLS0tRU5EIENFUlRJRklDQVRFLS0tLS0K
    client-key-data: LS0tLS1CRUdJTiBFQyBQUklWQVRFIEtFWS0tLS0tCmtleQotLS0tLUVORCBFQyBQUklWQVRFIEtFWS0tLS0tCg==
`

func TestFromAdminConf(t *testing.T) {
	e, err := FromAdminConf([]byte(adminConf), "dind", "https://127.0.0.1:32768")
	if err != nil {
		t.Fatal(err)
	}
	want := Entry{
		Name:           "dind",
		Server:         "https://127.0.0.1:32768",
		CAData:         []byte("-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n"),
		ClientCertData: []byte("-----BEGIN CERTIFICATE-----\nadmin\n-----END CERTIFICATE-----\n"),
		ClientKeyData:  []byte("-----BEGIN EC PRIVATE KEY-----\nkey\n-----END EC PRIVATE KEY-----\n"),
	}
	if !reflect.DeepEqual(e, want) {
		t.Errorf("got %+v, want %+v", e, want)
	}

	noKey := strings.Replace(adminConf, "    client-key-data:", "    other:", 1)
	if _, err := FromAdminConf([]byte(noKey), "dind", "https://127.0.0.1:1"); err == nil || !strings.Contains(err.Error(), "client-key-data") {
		t.Errorf("without a key: %v", err)
	}
	const secret = "c2VjcmV0IGtleSBtYXRlcmlhbA"
	badKey := strings.Replace(adminConf, "LS0tLS1CRUdJTiBFQyBQUklWQVRFIEtFWS0tLS0tCmtleQotLS0tLUVORCBFQyBQUklWQVRFIEtFWS0tLS0tCg==", secret+"!!", 1)
	_, err = FromAdminConf([]byte(badKey), "dind", "https://127.0.0.1:1")
	if err == nil || strings.Contains(err.Error(), secret) {
		t.Errorf("with a key that is not base64: %v (it must fail without quoting the key)", err)
	}
}

func TestParseErrorsQuoteNoValue(t *testing.T) {
	for _, content := range []string{
		"users:\n- name: a\n  user:\n    null: SECRET\n",
		"users:\n- name: a\n  user:\n    ? [SECRET, x]\n    : y\n",
	} {
		path := filepath.Join(t.TempDir(), "config")
		writeFile(t, path, content, 0o600)
		err := Merge([]string{path}, testEntry("dind", 32768), true)
		if err == nil || strings.Contains(err.Error(), "SECRET") {
			t.Errorf("%q: %v", content, err)
		}
	}
}
