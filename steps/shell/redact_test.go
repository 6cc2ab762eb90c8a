package shell

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const (
	token  = "abcdef.0123456789abcdef"
	caHash = "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
	pem    = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAx\n-----END RSA PRIVATE KEY-----"
)

var keyData = strings.Repeat("LS0tLS1CRUdJTi", 20) // 280 base64 characters

var redactions = []struct{ args, want []string }{
	{
		[]string{"kubeadm", "join", "--token", token, "--discovery-token-ca-cert-hash", caHash},
		[]string{"kubeadm", "join", "--token", redacted, "--discovery-token-ca-cert-hash", caHash},
	},
	{[]string{"kubeadm", "join", "--token=" + token}, []string{"kubeadm", "join", "--token=" + redacted}},
	{[]string{"sh", "-c", "echo " + token + " >/tmp/t"}, []string{"sh", "-c", "echo " + redacted + " >/tmp/t"}},
	{
		[]string{"kubectl", "config", "set", "users.dind.client-key-data", "LS0t", "--embed"},
		[]string{"kubectl", "config", "set", "users.dind.client-key-data", redacted, "--embed"},
	},
	{[]string{"kubectl", "--client-key-data=LS0t"}, []string{"kubectl", "--client-key-data=" + redacted}},
	{[]string{"kubectl", "--client-key-data", "LS0t"}, []string{"kubectl", "--client-key-data", redacted}},
	{[]string{"sh", "-c", "printf '" + pem + "' >ca.key"}, []string{"sh", "-c", "printf '" + redacted + "' >ca.key"}},
	{[]string{"sh", "-c", "echo " + pem[:40]}, []string{"sh", "-c", "echo " + redacted}},
	{[]string{"curl", "--data", "key=" + keyData + "=="}, []string{"curl", "--data", redacted}},
	{[]string{"tool", "key=" + keyData + "=="}, []string{"tool", "key=" + redacted}},
	{
		[]string{"docker", "run", "--volume", "kube-etcd-data:/var/lib/etcd", "--name", "kube-master", "kindest/base:v1"},
		[]string{"docker", "run", "--volume", "kube-etcd-data:/var/lib/etcd", "--name", "kube-master", "kindest/base:v1"},
	},
	{[]string{"docker", "volume", "create", "etcd-data"}, []string{"docker", "volume", "create", "etcd-data"}},
	{
		[]string{"kubectl", "--output=jsonpath={.users[0].user.client-key-data}", "view"},
		[]string{"kubectl", "--output=jsonpath={.users[0].user.client-key-data}", "view"},
	},
}

func TestCommandLinesAreRedacted(t *testing.T) {
	for _, r := range redactions {
		got := Command(r.args[0], r.args[1:]...).String()
		if want := strings.Join(r.want, " "); got != want {
			t.Errorf("the command line of %q\n is %q\nwant %q", r.args, got, want)
		}
	}
}

// TestDebugLinesAndErrorsAreRedacted runs commands that fail, with Debug on,
// and looks for secrets in what they print and return.
func TestDebugLinesAndErrorsAreRedacted(t *testing.T) {
	log := captureStderr(t)
	Debug = true
	defer func() { Debug = false }()
	secrets := []string{token, "LS0t", keyData, "MIIEowIBAAKCAQEAx"}
	var errs []string
	for _, r := range redactions {
		err := Command("false", r.args...).Run(context.Background())
		if err == nil {
			t.Fatal("false succeeded")
		}
		errs = append(errs, err.Error())
	}
	printed := log()
	for _, s := range secrets {
		if strings.Contains(printed, s) {
			t.Errorf("the debug log shows the secret %q:\n%s", s, printed)
		}
		for _, e := range errs {
			if strings.Contains(e, s) {
				t.Errorf("an error shows the secret %q: %s", s, e)
			}
		}
	}
	for _, kept := range []string{"+ false kubeadm join --token REDACTED --discovery-token-ca-cert-hash " + caHash, "kube-etcd-data:/var/lib/etcd"} {
		if !strings.Contains(printed, kept) {
			t.Errorf("the debug log lacks %q:\n%s", kept, printed)
		}
	}
}

// captureStderr sends os.Stderr to a file until the test ends, and returns
// a function that reads what was written to it.
func captureStderr(t *testing.T) func() string {
	f, err := os.Create(filepath.Join(t.TempDir(), "stderr"))
	if err != nil {
		t.Fatal(err)
	}
	saved := os.Stderr
	os.Stderr = f
	t.Cleanup(func() { os.Stderr = saved; f.Close() })
	return func() string {
		b, _ := os.ReadFile(f.Name())
		return string(b)
	}
}
